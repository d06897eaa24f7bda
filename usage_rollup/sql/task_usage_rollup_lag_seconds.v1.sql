-- task_usage_rollup_lag_seconds() -> double precision
--
-- Purpose: seconds between the database clock and the watermark: how stale the rollup may be.
-- 'Infinity' before the first tick, so a rollup that nobody schedules alarms instead of looking
-- fresh. Locks: none.
CREATE OR REPLACE FUNCTION task_usage_rollup_lag_seconds()
RETURNS double precision
LANGUAGE sql
VOLATILE
AS $$
    SELECT coalesce(extract(epoch FROM clock_timestamp() - max(watermark_at))::double precision,
                    'Infinity'::double precision)
      FROM task_usage_rollup_state
$$;
