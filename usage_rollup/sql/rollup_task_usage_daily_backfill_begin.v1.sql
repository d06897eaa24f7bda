-- rollup_task_usage_daily_backfill_begin(p_owner uuid, p_slices integer, p_lease interval)
--     -> void
--
-- Purpose: start backfill p_owner of p_slices slices: take the lease in the state row (ticks
-- skip until it ends or runs out) and reset the progress the status reports. A backfill is the
-- state row's, not a session's: no lock outlives a transaction, so a pooler in transaction mode
-- (PgBouncer) is safe, and a client that dies leaves a lease that runs out, never a lock on some
-- pooled connection.
-- Refuses (lock_not_available) while another backfill holds a live lease.
-- Locks: the state row FOR UPDATE, for this short transaction.
CREATE OR REPLACE FUNCTION rollup_task_usage_daily_backfill_begin(
    p_owner uuid, p_slices integer, p_lease interval
)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_state task_usage_rollup_state;
    v_pass integer;
BEGIN
    INSERT INTO task_usage_rollup_state (id) VALUES (1) ON CONFLICT (id) DO NOTHING;
    -- Read first without a lock: a slice of the running backfill holds the row until it ends,
    -- and the answer must come at once. Then again under the lock, for two that start together.
    FOR v_pass IN 1..2 LOOP
        IF v_pass = 1 THEN
            SELECT * INTO v_state FROM task_usage_rollup_state WHERE id = 1;
        ELSE
            SELECT * INTO v_state FROM task_usage_rollup_state WHERE id = 1 FOR UPDATE;
        END IF;
        IF v_state.backfill_lease_until > clock_timestamp()
           AND v_state.backfill_owner IS DISTINCT FROM p_owner THEN
            RAISE EXCEPTION 'another backfill is running: started %, % of % slices done, '
                            'last seen %', v_state.backfill_started_at,
                            v_state.backfill_slices_done, v_state.backfill_slices_total,
                            v_state.backfill_heartbeat_at
                  USING ERRCODE = 'lock_not_available';
        END IF;
    END LOOP;
    UPDATE task_usage_rollup_state
       SET backfill_owner = p_owner,
           backfill_started_at = clock_timestamp(),
           backfill_heartbeat_at = clock_timestamp(),
           backfill_lease_until = clock_timestamp() + p_lease,
           backfill_finished_at = NULL,
           backfill_slices_total = p_slices,
           backfill_slices_done = 0
     WHERE id = 1;
END;
$$;
