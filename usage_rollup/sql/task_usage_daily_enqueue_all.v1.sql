-- task_usage_daily_enqueue_all() -> void
--
-- Purpose: queue every bucket the rollup holds (after TRUNCATE task_usage, which leaves no rows
-- to name them by); the next ticks delete them, a bounded number per tick.
-- Locks: none beyond task_usage_daily_enqueue()'s. SECURITY DEFINER, like the other enqueue
-- functions, so the truncating role needs no privileges on the rollup's tables.
CREATE OR REPLACE FUNCTION task_usage_daily_enqueue_all()
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM task_usage_daily_enqueue(ARRAY(
        SELECT ROW(bucket_date, workspace_id, runtime_id, provider, model)::task_usage_bucket_key
          FROM task_usage_daily));
END;
$$;
