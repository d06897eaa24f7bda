-- rollup_task_usage_daily(p_lag interval DEFAULT '5 minutes') -> bigint
--
-- Purpose: the scheduler's entry point (pg_cron or `manage.py rollup_usage`). One tick: roll up
-- the rows changed since the watermark and the queued buckets, move the watermark, record the run
-- in task_usage_rollup_state. Returns the rollup rows changed, 0 when another tick holds the lock,
-- and NULL when the tick failed (the error is then in last_error; a WARNING says it too).
--
-- Watermark: every row with updated_at below it is rolled up. The tick moves it towards
-- now() - p_lag but never past task_usage_rollup_horizon(), the start of the oldest transaction
-- still open, which may yet commit rows stamped before now(). So no committed row is missed
-- whatever p_lag is; the lag only batches work. Each tick also re-reads one second below the
-- watermark: a transaction takes its timestamp a moment before pg_stat_activity shows it, and
-- the recompute is idempotent, so re-reading costs little and closes that gap.
--
-- Bounded: a tick reads at most usage_rollup.tick_max_rows changed rows (a custom setting,
-- default 100000; rows sharing one timestamp are never split), so a long gap is caught up over
-- several ticks, each a short transaction.
--
-- Locks: pg_try_advisory_xact_lock(1970434924, 1): a concurrent call returns 0 at once and writes
-- nothing. The lock is transaction-scoped, so a cancelled or killed tick cannot leak it. Errors,
-- cancellations and statement timeouts inside the tick are caught: its work is rolled back, the
-- watermark stays, and the error is kept in the state row (a re-raise would roll that back too).
CREATE OR REPLACE FUNCTION rollup_task_usage_daily(p_lag interval DEFAULT interval '5 minutes')
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    c_overlap CONSTANT interval := interval '1 second';
    v_started timestamptz := clock_timestamp();
    v_max_rows bigint;
    v_watermark timestamptz;
    v_from timestamptz;
    v_to timestamptz;
    v_step_end timestamptz;
    v_rows bigint;
    v_sqlstate text;
    v_message text;
    v_context text;
BEGIN
    IF p_lag IS NULL OR p_lag < interval '0' THEN
        RAISE EXCEPTION 'the rollup lag must be a non-negative interval, not %', p_lag
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_max_rows := coalesce(nullif(current_setting('usage_rollup.tick_max_rows', true), ''),
                           '100000')::bigint;
    IF v_max_rows < 1 THEN
        RAISE EXCEPTION 'usage_rollup.tick_max_rows must be at least 1, not %', v_max_rows
              USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF NOT pg_try_advisory_xact_lock(1970434924, 1) THEN
        RETURN 0;
    END IF;

    INSERT INTO task_usage_rollup_state (id) VALUES (1) ON CONFLICT (id) DO NOTHING;
    SELECT watermark_at INTO v_watermark FROM task_usage_rollup_state WHERE id = 1;

    BEGIN
        v_to := least(now() - p_lag, task_usage_rollup_horizon());
        -- The first tick starts at the oldest row (a backfill is faster for a long history).
        v_from := coalesce(v_watermark, least(v_to, (SELECT min(updated_at) FROM task_usage)));
        v_to := greatest(v_from, v_to);

        SELECT updated_at INTO v_step_end
          FROM task_usage
         WHERE updated_at >= v_from AND updated_at < v_to
         ORDER BY updated_at
        OFFSET v_max_rows
         LIMIT 1;
        IF FOUND THEN
            v_to := CASE WHEN v_step_end > v_from THEN v_step_end
                         ELSE v_step_end + interval '1 microsecond' END;
        END IF;

        v_rows := rollup_task_usage_daily_window(v_from - c_overlap, v_to);

        UPDATE task_usage_rollup_state
           SET watermark_at = v_to,
               last_run_started_at = v_started,
               last_run_finished_at = clock_timestamp(),
               last_run_rows = v_rows,
               last_error = NULL
         WHERE id = 1;
        RETURN v_rows;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        -- Everything the tick did is rolled back to here; record why, and keep the record.
        GET STACKED DIAGNOSTICS v_sqlstate = RETURNED_SQLSTATE,
                                v_message = MESSAGE_TEXT,
                                v_context = PG_EXCEPTION_CONTEXT;
        UPDATE task_usage_rollup_state
           SET last_run_started_at = v_started,
               last_run_finished_at = clock_timestamp(),
               last_run_rows = NULL,
               last_error = format('%s (SQLSTATE %s) at %s', v_message, v_sqlstate,
                                   split_part(v_context, E'\n', 1)),
               last_error_at = clock_timestamp(),
               failed_runs = failed_runs + 1
         WHERE id = 1;
        RAISE WARNING 'task_usage_daily rollup tick failed: % (SQLSTATE %)', v_message, v_sqlstate
              USING DETAIL = v_context;
        RETURN NULL;
    END;
END;
$$;
