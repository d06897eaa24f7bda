-- task_usage_daily_slices_reset() -> void
--
-- Purpose: an empty pg_temp.task_usage_daily_slices, the (day, provider, model) slices that
-- task_usage_daily_recompute_slices() brings up to date. Its callers (the window and the
-- backfill's slice) fill it, then call the recompute, in one transaction (ON COMMIT DELETE ROWS).
-- Locks: none (the table is this session's own).
CREATE OR REPLACE FUNCTION task_usage_daily_slices_reset()
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF to_regclass('pg_temp.task_usage_daily_slices') IS NULL THEN
        CREATE TEMPORARY TABLE task_usage_daily_slices (
            bucket_date date NOT NULL,
            provider text NOT NULL,
            model text NOT NULL
        ) ON COMMIT DELETE ROWS;
    END IF;
    TRUNCATE pg_temp.task_usage_daily_slices;
END;
$$;
