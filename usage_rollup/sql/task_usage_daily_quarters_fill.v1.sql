-- The first fill of task_usage_daily_quarters, run once by migration 0012 on a database that
-- already has a rollup: every slice the rollup holds is recomputed by the one recompute
-- (task_usage_daily_recompute_slices.v4.sql), a month of days at a time, as a backfill does.
--
-- Purpose: the quarter-hour rollup is exact from the moment it exists, without a second
-- backfill, and written by the one code that writes the rollup's tables. A recomputed bucket's
-- daily row stays what it was unless the bucket was pending (the recompute replaces it with its
-- raw rows, as the next tick would); a bucket whose running sums span more than bigint is set
-- aside, as any tick would.
--
-- Why this is exact although the rollup may be behind the raw rows: every bucket the rollup
-- holds is in one of the slices recomputed here, so it gets its quarters from the same snapshot
-- as its day. A bucket of a slice the rollup does not hold yet is pending (queued, or with a row
-- at or above the watermark less a second): the next tick recomputes it, with its quarters, and
-- until then the realtime read takes it from its raw rows. The lock below waits for a tick or a
-- backfill slice under way, so this transaction's statements see what it committed, and no tick
-- writes until this transaction commits (a tick does not wait: it returns 0).
--
-- Cost: a backfill's: each month's slices, every tenant's rows of them, once. A month at a time
-- keeps each recompute's sets in memory (the deletes' hashed NOT IN among them).
-- Locks: pg_advisory_xact_lock(1970434924, 1), to the end of the migration's transaction.
DO $$
DECLARE
    v_month date;
BEGIN
    PERFORM pg_advisory_xact_lock(1970434924, 1);
    FOR v_month IN
        SELECT DISTINCT date_trunc('month', bucket_date)::date FROM task_usage_daily ORDER BY 1
    LOOP
        PERFORM task_usage_daily_slices_reset();
        INSERT INTO pg_temp.task_usage_daily_slices (bucket_date, provider, model)
        SELECT DISTINCT bucket_date, provider, model
          FROM task_usage_daily
         WHERE bucket_date >= v_month
           AND bucket_date < (v_month + interval '1 month')::date;
        PERFORM task_usage_daily_recompute_slices();
    END LOOP;
END;
$$;
