-- rollup_task_usage_daily_backfill_abandon(p_owner uuid) -> void
--
-- Purpose: a backfill that stops early (interrupted, or a slice failed) gives up its lease, so
-- ticks resume at once; it stays unfinished in the state row, and the status says so until a
-- backfill completes.
-- Locks: the state row, for this short transaction.
CREATE OR REPLACE FUNCTION rollup_task_usage_daily_backfill_abandon(p_owner uuid)
RETURNS void
LANGUAGE sql
AS $$
    UPDATE task_usage_rollup_state
       SET backfill_lease_until = NULL
     WHERE id = 1 AND backfill_owner = p_owner
$$;
