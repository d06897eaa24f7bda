-- rollup_task_usage_daily_backfill_slice(p_owner uuid, p_start date, p_end date,
--                                        p_lease interval) -> bigint
--
-- Purpose: one slice of backfill p_owner: recompute every bucket of the bucket days
-- [p_start, p_end), as the raw rows make them and as the rollup has them (a bucket whose rows
-- are gone is deleted), count the slice done and renew the lease. Returns rollup rows changed.
-- Refuses (lock_not_available) when p_owner no longer holds the lease: its lease ran out and
-- another backfill took over.
-- Locks: pg_advisory_xact_lock(1970434924, 1) (waits out a tick under way; the caller bounds the
-- wait with lock_timeout), then the state row, both to the end of this transaction.
CREATE OR REPLACE FUNCTION rollup_task_usage_daily_backfill_slice(
    p_owner uuid, p_start date, p_end date, p_lease interval
)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_rows bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1970434924, 1);
    PERFORM 1 FROM task_usage_rollup_state WHERE id = 1 AND backfill_owner = p_owner FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'this backfill no longer holds its lease: another backfill took over'
              USING ERRCODE = 'lock_not_available';
    END IF;

    PERFORM task_usage_daily_slices_reset();
    INSERT INTO pg_temp.task_usage_daily_slices (bucket_date, provider, model)
    SELECT DISTINCT task_usage_utc_day(created_at), provider, model
      FROM task_usage
     WHERE task_usage_utc_day(created_at) >= p_start
       AND task_usage_utc_day(created_at) < p_end
    UNION
    SELECT DISTINCT bucket_date, provider, model
      FROM task_usage_daily
     WHERE bucket_date >= p_start AND bucket_date < p_end;
    v_rows := task_usage_daily_recompute_slices();

    UPDATE task_usage_rollup_state
       SET backfill_slices_done = backfill_slices_done + 1,
           backfill_heartbeat_at = clock_timestamp(),
           backfill_lease_until = clock_timestamp() + p_lease
     WHERE id = 1;
    RETURN v_rows;
END;
$$;
