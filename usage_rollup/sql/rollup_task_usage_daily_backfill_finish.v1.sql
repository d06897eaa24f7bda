-- rollup_task_usage_daily_backfill_finish(p_owner uuid, p_stamp timestamptz) -> timestamptz
--
-- Purpose: end backfill p_owner: move the watermark up to p_stamp (the database clock when the
-- backfill planned its slices, held back by the transactions open then), never down and never
-- past the clock; mark the backfill finished and give up the lease. Returns the watermark.
-- Locks: the state row FOR UPDATE, for this short transaction.
CREATE OR REPLACE FUNCTION rollup_task_usage_daily_backfill_finish(
    p_owner uuid, p_stamp timestamptz
)
RETURNS timestamptz
LANGUAGE plpgsql
AS $$
DECLARE
    v_watermark timestamptz;
BEGIN
    UPDATE task_usage_rollup_state
       SET watermark_at = CASE WHEN watermark_at IS NULL OR watermark_at < p_stamp
                               THEN least(p_stamp, clock_timestamp())
                               ELSE watermark_at END,
           backfill_finished_at = clock_timestamp(),
           backfill_heartbeat_at = clock_timestamp(),
           backfill_lease_until = NULL
     WHERE id = 1 AND backfill_owner = p_owner
    RETURNING watermark_at INTO v_watermark;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'this backfill no longer holds its lease: another backfill took over'
              USING ERRCODE = 'lock_not_available';
    END IF;
    RETURN v_watermark;
END;
$$;
