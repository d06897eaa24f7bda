-- rollup_task_usage_daily(p_lag interval DEFAULT '5 minutes') -> bigint
--
-- Purpose: the scheduler's entry point (pg_cron or `manage.py rollup_usage`). One tick: roll up
-- the rows changed since the watermark and a bounded batch of queued buckets, move the
-- watermark, record the run in task_usage_rollup_state. Returns the rollup rows changed, 0 when
-- another tick holds the lock or a backfill holds its lease, and NULL when the tick failed (the
-- error is then in last_error; a WARNING says it too). A wrong argument is raised to the caller
-- and recorded nowhere: it is a wrong call, not a failed tick.
--
-- Watermark: every row with updated_at below it is rolled up. The tick moves it towards
-- now() - p_lag but never past task_usage_rollup_horizon(), the start of the oldest transaction
-- still open, which may yet commit rows stamped before now(). So no committed row is missed
-- whatever p_lag is; the lag only batches work. Each tick also re-reads one second below the
-- watermark: a transaction takes its timestamp a moment before pg_stat_activity shows it, and
-- the recompute is idempotent, so re-reading costs little and closes that gap.
--
-- Version 3: on a hot standby it refuses by name (the check comes first: a standby can write
-- nothing, not even the record of a failure), instead of failing its first write with
-- PostgreSQL's generic read-only error and a NULL.
--
-- Version 2, for production:
-- * The watermark never passes now(): a lag is refused when now() - p_lag lies after now() (an
--   interval such as '-1 mon +30 days' is not below zero, yet moves the clock forward).
-- * A watermark found ahead of the clock means it stepped back (an NTP correction): rows
--   stamped since then lie behind it. The tick queues the buckets of every row written by a
--   transaction that was still running, or not yet begun, when the last good tick began
--   (watermark_xmin: xids do not step back), moves the watermark back to its target, and
--   records when and by how much (watermark_ahead_at, watermark_ahead_seconds, clock_steps_back).
--   Finding those rows reads task_usage once; it happens once per step of the clock.
-- * Bounded on both inputs: usage_rollup.tick_max_rows changed rows (default 100000; rows
--   sharing one timestamp are never split) and usage_rollup.tick_max_buckets queue rows (see the
--   window).
-- * Errors are kept even when the tick is cancelled before its work begins (a 1 ms
--   statement_timeout), and keeping them never waits: the state row is locked before the work,
--   and recorded with NOWAIT after a failure (task_usage_rollup_record_failure.v1.sql).
--
-- Locks: pg_try_advisory_xact_lock(1970434924, 1): a concurrent call returns 0 at once and writes
-- nothing. The lock is transaction-scoped, so a cancelled or killed tick cannot leak it. Then the
-- state row FOR UPDATE, waited for under the caller's lock_timeout and statement_timeout.
CREATE OR REPLACE FUNCTION rollup_task_usage_daily(p_lag interval DEFAULT interval '5 minutes')
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    c_overlap CONSTANT interval := interval '1 second';
    v_started timestamptz := clock_timestamp();
    v_target timestamptz;
    v_max_rows bigint;
    v_state task_usage_rollup_state;
    v_xmin bigint;
    v_from timestamptz;
    v_to timestamptz;
    v_step_end timestamptz;
    v_rows bigint;
    v_sqlstate text;
    v_message text;
    v_context text;
BEGIN
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'this server is a hot standby, which cannot write: run the rollup''s tick '
                        'on the primary'
              USING ERRCODE = 'read_only_sql_transaction',
                    HINT = 'Point the scheduler at the primary; after a failover, at the '
                           'promoted standby.';
    END IF;
    -- One protected block from here on, so that even a cancel that lands while the arguments are
    -- checked is recorded.
    BEGIN
        IF p_lag IS NULL THEN
            RAISE EXCEPTION 'the rollup lag must be an interval, not NULL'
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        BEGIN
            v_target := now() - p_lag;
        EXCEPTION WHEN datetime_field_overflow THEN
            RAISE EXCEPTION 'the rollup lag % reaches outside the calendar', p_lag
                  USING ERRCODE = 'invalid_parameter_value';
        END;
        IF v_target > now() THEN
            RAISE EXCEPTION 'the rollup lag % would put the watermark ahead of the clock', p_lag
                  USING ERRCODE = 'invalid_parameter_value',
                        HINT = 'Give a lag of zero or more, such as interval ''5 minutes''.';
        END IF;
        v_max_rows := coalesce(nullif(current_setting('usage_rollup.tick_max_rows', true), ''),
                               '100000')::bigint;
        IF v_max_rows < 1 THEN
            RAISE EXCEPTION 'usage_rollup.tick_max_rows must be at least 1, not %', v_max_rows
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;

        IF NOT pg_try_advisory_xact_lock(1970434924, 1) OR task_usage_rollup_backfill_running()
        THEN
            RETURN 0;
        END IF;

        INSERT INTO task_usage_rollup_state (id) VALUES (1) ON CONFLICT (id) DO NOTHING;
        SELECT * INTO v_state FROM task_usage_rollup_state WHERE id = 1 FOR UPDATE;

        -- Before the horizon is read: every transaction older than this had ended by then.
        v_xmin := pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
        v_to := least(v_target, task_usage_rollup_horizon());

        -- Against the clock, not now(): a backfill's stamp may lie between this transaction's
        -- start and the clock without any step of the clock.
        IF v_state.watermark_at > clock_timestamp() THEN
            IF v_state.watermark_xmin IS NULL THEN
                -- No record of the transactions since the last tick: read all rows again.
                v_from := least(v_to, (SELECT min(updated_at) FROM task_usage));
            ELSE
                PERFORM task_usage_daily_enqueue(ARRAY(
                    SELECT DISTINCT ROW(task_usage_utc_day(tu.created_at), a.workspace_id,
                                        t.runtime_id, tu.provider, tu.model)
                                        ::task_usage_bucket_key
                      FROM task_usage tu
                      JOIN agent_task_queue t ON t.id = tu.task_id
                      JOIN agent a ON a.id = t.agent_id
                     WHERE t.runtime_id IS NOT NULL
                       AND age(tu.xmin) <= age((v_state.watermark_xmin % 4294967296)::text::xid)));
                v_from := v_to;
            END IF;
            UPDATE task_usage_rollup_state
               SET watermark_ahead_at = clock_timestamp(),
                   watermark_ahead_seconds =
                       extract(epoch FROM v_state.watermark_at - clock_timestamp()),
                   clock_steps_back = clock_steps_back + 1
             WHERE id = 1;
        ELSE
            -- The first tick starts at the oldest row (a backfill is faster for a long history).
            v_from := coalesce(v_state.watermark_at,
                               least(v_to, (SELECT min(updated_at) FROM task_usage)));
        END IF;
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
               watermark_xmin = v_xmin,
               last_run_started_at = v_started,
               last_run_finished_at = clock_timestamp(),
               last_run_rows = v_rows,
               last_error = NULL
         WHERE id = 1;
        RETURN v_rows;
    EXCEPTION
        WHEN invalid_parameter_value THEN
            RAISE;
        WHEN OTHERS OR query_canceled THEN
            -- Everything the tick did is rolled back to here; record why, and keep the record.
            GET STACKED DIAGNOSTICS v_sqlstate = RETURNED_SQLSTATE,
                                    v_message = MESSAGE_TEXT,
                                    v_context = PG_EXCEPTION_CONTEXT;
            IF NOT task_usage_rollup_record_failure(
                       v_started,
                       format('%s (SQLSTATE %s) at %s', v_message, v_sqlstate,
                              split_part(v_context, E'\n', 1))) THEN
                v_context := 'not recorded: another session holds the rollup state row. '
                             || v_context;
            END IF;
            RAISE WARNING 'task_usage_daily rollup tick failed: % (SQLSTATE %)',
                          v_message, v_sqlstate
                  USING DETAIL = v_context;
            RETURN NULL;
    END;
END;
$$;
