-- rollup_task_usage_daily_window(p_from timestamptz, p_to timestamptz) -> bigint
--
-- Purpose: bring dirty buckets up to date and return how many rollup rows changed. Dirty buckets
-- are those of the usage rows with p_from <= updated_at < p_to, the queued ones, and the ones set
-- aside earlier (retried every time). task_usage_daily_recompute_slices() recomputes them. Does
-- not move the watermark (rollup_task_usage_daily() does).
--
-- Version 6: the changed rows are grouped by task before their tasks are looked up, so no step
-- joins two others whose sizes the planner guesses (version 5's join of the changed rows with
-- their tasks ran as a nested loop, quadratic in the changed rows: 200 ms after 1,000 new rows
-- at 10M); each task is looked up by primary key alone and the agents joined after (version 5
-- joined the agent inside the per-task lookup, a hash of the agent table built once per task).
-- Paths are chosen by task_usage_daily_choose_paths.v2.sql, with tiers.
--
-- Version 5: also deletes what ended transactions left in task_usage_daily_deleted_tasks and
-- task_usage_daily_deleted_usage (task_usage_daily_deleted_rows.v1.sql), for the triggers that
-- became statement-level in migration 0007.
--
-- Version 4: a tick costs the rows of its runtimes, not everyone's day. Version 3 recomputed each
-- dirty bucket's whole (day, provider, model) slice, every tenant's rows of that day and model,
-- so a small tenant's change cost the day's volume of all of them. Now each runtime with dirty
-- buckets takes the cheaper of two exact paths: its own tasks and their usage (the buckets are
-- listed singly), or the slices of its dirty buckets (listed whole), whichever reads fewer rows
-- (task_usage_daily_choose_paths.v1.sql).
-- The changed rows' buckets are named through their task and agent (a primary-key lookup each).
--
-- Version 3: a bounded drain. At most usage_rollup.tick_max_buckets queue rows (a custom setting,
-- default 10000) are taken per call, so a flooded queue drains over several short calls instead
-- of one statement that a statement_timeout cancels forever. Rows are taken FOR UPDATE SKIP
-- LOCKED: a row that a writer still open relies on (task_usage_daily_enqueue.v1.sql holds it FOR
-- SHARE) is left for a later call, and the drain never waits for a writer.
--
-- Locks: pg_advisory_xact_lock(1970434924, 1), waited for, held to the end of the transaction:
-- every writer of task_usage_daily is serialised, so a recompute from an older snapshot never
-- overwrites a newer one. Requires READ COMMITTED, where each statement below takes its snapshot
-- after that lock: it sees everything the previous holder committed.
--
-- Why draining first is safe: a queue row is added, or locked, in the transaction of the change
-- it stands for. The drain takes only committed rows nobody holds, whose changes therefore
-- committed before it; the recompute's later snapshot sees them. Rows of transactions still
-- open are invisible or locked, and stay for the next call.
CREATE OR REPLACE FUNCTION rollup_task_usage_daily_window(p_from timestamptz, p_to timestamptz)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_max_buckets bigint;
BEGIN
    IF p_from IS NULL OR p_to IS NULL THEN
        RAISE EXCEPTION 'rollup window bounds must not be null'
              USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_from > p_to THEN
        RAISE EXCEPTION 'rollup window starts at % after it ends at %', p_from, p_to
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'the rollup must run at READ COMMITTED, not %',
                        current_setting('transaction_isolation')
              USING ERRCODE = 'invalid_transaction_state',
                    HINT = 'Each of its statements must see what committed while it waited.';
    END IF;
    v_max_buckets := coalesce(nullif(current_setting('usage_rollup.tick_max_buckets', true), ''),
                              '10000')::bigint;
    IF v_max_buckets < 1 THEN
        RAISE EXCEPTION 'usage_rollup.tick_max_buckets must be at least 1, not %', v_max_buckets
              USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM pg_advisory_xact_lock(1970434924, 1);
    PERFORM task_usage_daily_slices_reset();
    PERFORM task_usage_daily_forget_deletes();

    -- The changed rows are read in a MATERIALIZED step that sees only task_usage: its way in is
    -- the updated_at index, whatever the statistics of the other tables say. They are grouped by
    -- task, each task's buckets carried along in arrays, so that no later step joins two of these
    -- steps: the planner guesses their sizes (a range past the updated_at histogram reads as one
    -- row), and a nested loop over two of them compares every changed row with every task (1.2
    -- million comparisons, 200 ms, after 1,000 new rows at 10M, measured in version 5). Then each
    -- task is looked up by primary key (OFFSET 0 keeps the lookup per task), and its agent after,
    -- in a step of its own, not inside that loop. Rows of a task without a runtime have none.
    -- The taken ids go in as an array, so the delete finds them by primary key whatever the
    -- queue's statistics say (right after a flood they still say empty).
    WITH drained AS (
        DELETE FROM task_usage_daily_dirty
         WHERE id = ANY (ARRAY(SELECT id
                                 FROM task_usage_daily_dirty
                                ORDER BY id
                                LIMIT v_max_buckets
                                  FOR UPDATE SKIP LOCKED))
        RETURNING bucket_date, workspace_id, runtime_id, provider, model
    ),
    changed AS MATERIALIZED (
        SELECT task_id, array_agg(task_usage_utc_day(created_at)) AS bucket_dates,
               array_agg(provider) AS providers, array_agg(model) AS models
          FROM task_usage
         WHERE updated_at >= p_from
           AND updated_at < p_to
         GROUP BY task_id
    ),
    changed_tasks AS MATERIALIZED (
        SELECT c.bucket_dates, c.providers, c.models, k.agent_id, k.runtime_id
          FROM changed c
          CROSS JOIN LATERAL (
                SELECT t.agent_id, t.runtime_id
                  FROM agent_task_queue t
                 WHERE t.id = c.task_id
                   AND t.runtime_id IS NOT NULL
                OFFSET 0) AS k
    )
    INSERT INTO pg_temp.task_usage_daily_buckets
           (bucket_date, workspace_id, runtime_id, provider, model)
    SELECT bucket_date, workspace_id, runtime_id, provider, model FROM drained
    UNION
    SELECT b.bucket_date, a.workspace_id, ct.runtime_id, b.provider, b.model
      FROM changed_tasks ct
      JOIN agent a ON a.id = ct.agent_id
     CROSS JOIN LATERAL unnest(ct.bucket_dates, ct.providers, ct.models)
                        AS b(bucket_date, provider, model)
    UNION
    SELECT bucket_date, workspace_id, runtime_id, provider, model
      FROM task_usage_daily_set_aside;

    PERFORM task_usage_daily_choose_paths();

    RETURN task_usage_daily_recompute_slices();
END;
$$;
