-- task_usage_rollup_backfill_running() -> boolean
--
-- Purpose: whether a backfill holds its lease now (ticks skip meanwhile). A backfill renews the
-- lease with every slice; one that died stops renewing it, and ticks resume when it runs out.
-- Locks: none.
CREATE OR REPLACE FUNCTION task_usage_rollup_backfill_running()
RETURNS boolean
LANGUAGE sql
VOLATILE
AS $$
    SELECT coalesce((SELECT backfill_lease_until > clock_timestamp()
                       FROM task_usage_rollup_state
                      WHERE id = 1), false)
$$;
