-- task_usage_rollup_record_failure(p_started timestamptz, p_error text) -> boolean
--
-- Purpose: keep a failed tick's error in the state row (last_error, last_error_at, failed_runs)
-- and return true; false when the row cannot be had at once.
-- Locks: the state row, FOR UPDATE NOWAIT. The tick calls this from its error handler, where the
-- statement_timeout that cancelled it has already fired: a wait here would have no end (another
-- session holding the row would hold the tick, and the rollup's lock, for as long as it likes).
CREATE OR REPLACE FUNCTION task_usage_rollup_record_failure(p_started timestamptz, p_error text)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    -- The tick's own insert of the row, if it made it, was rolled back with its work.
    INSERT INTO task_usage_rollup_state (id) VALUES (1) ON CONFLICT (id) DO NOTHING;
    UPDATE task_usage_rollup_state
       SET last_run_started_at = p_started,
           last_run_finished_at = clock_timestamp(),
           last_run_rows = NULL,
           last_error = p_error,
           last_error_at = clock_timestamp(),
           failed_runs = failed_runs + 1
     WHERE id = (SELECT id FROM task_usage_rollup_state WHERE id = 1 FOR UPDATE NOWAIT);
    RETURN FOUND;
EXCEPTION WHEN lock_not_available THEN
    RETURN false;
END;
$$;
