-- rollup_task_usage_daily_window(p_from timestamptz, p_to timestamptz) -> bigint
--
-- Version 2. What changed from v1 and why (measured by benchmarks/, notes in benchmarks/README.md):
--   * A dirty bucket's whole (day, provider, model) slice is recomputed, every bucket of it, not
--     only the buckets named by the keys: its rows are read anyway, so the other buckets cost an
--     upsert probe each and no extra read. It lets the backfill queue one key per slice instead of
--     joining every row of history to its task and agent a second time to name every bucket.
--   * The slice's rows are aggregated by task agent first and joined to agent afterwards: one
--     agent lookup per (agent, runtime) group instead of one per usage row.
--
-- Purpose: bring every dirty bucket up to date and return how many rollup rows changed. Dirty
-- buckets are those of the usage rows with p_from <= updated_at < p_to, plus every bucket in the
-- task_usage_daily_dirty queue (which is drained whole); with each, every other bucket of its
-- (day, provider, model) slice. Each is recomputed from the raw rows and replaced, or deleted when
-- no row is left; nothing is ever added as a delta, so any call may overlap or repeat another, and
-- recomputing a bucket that was not dirty changes nothing. Does not move the watermark
-- (rollup_task_usage_daily() does).
--
-- Cost: O(rows of the dirty buckets' (day, provider, model) slices), reached through
-- task_usage_day_model_idx; never a runtime's whole history.
--
-- Locks: pg_advisory_xact_lock(1970434924, 1), waited for, held to the end of the transaction:
-- every writer of task_usage_daily is serialised, so a recompute from an older snapshot never
-- overwrites a newer one. Requires READ COMMITTED, where each statement below takes its snapshot
-- after that lock: it sees everything the previous holder committed.
--
-- Why the queue needs no timestamps: queue rows are only ever inserted, in the transaction of the
-- change they stand for. The drain deletes the rows its snapshot sees, whose changes therefore
-- committed before it and are seen by the recompute's later snapshot; rows of transactions still
-- open are invisible to the drain and stay for the next call.
CREATE OR REPLACE FUNCTION rollup_task_usage_daily_window(p_from timestamptz, p_to timestamptz)
RETURNS bigint
LANGUAGE plpgsql
-- A backfill's month of slices sorts and hashes a few hundred thousand rows: keep it in memory.
SET work_mem = '64MB'
AS $$
DECLARE
    v_rows bigint;
    v_first_day date;
    v_last_day date;
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

    PERFORM pg_advisory_xact_lock(1970434924, 1);

    IF to_regclass('pg_temp.task_usage_daily_window_keys') IS NULL THEN
        CREATE TEMPORARY TABLE task_usage_daily_window_keys (
            bucket_date date NOT NULL,
            workspace_id uuid NOT NULL,
            runtime_id uuid NOT NULL,
            provider text NOT NULL,
            model text NOT NULL
        ) ON COMMIT DELETE ROWS;
    END IF;
    TRUNCATE task_usage_daily_window_keys;

    -- The changed rows are read first, in a MATERIALIZED step that sees only task_usage: its
    -- way in is the updated_at index, whatever the statistics of the other tables say.
    WITH drained AS (
        DELETE FROM task_usage_daily_dirty
        RETURNING bucket_date, workspace_id, runtime_id, provider, model
    ),
    changed AS MATERIALIZED (
        SELECT task_id, created_at, provider, model
          FROM task_usage
         WHERE updated_at >= p_from
           AND updated_at < p_to
    )
    INSERT INTO task_usage_daily_window_keys
    SELECT bucket_date, workspace_id, runtime_id, provider, model FROM drained
    UNION
    SELECT task_usage_utc_day(c.created_at), a.workspace_id, t.runtime_id, c.provider, c.model
      FROM changed c
      JOIN agent_task_queue t ON t.id = c.task_id
      JOIN agent a ON a.id = t.agent_id
     WHERE t.runtime_id IS NOT NULL;

    -- Statistics for the recompute's plan: how many slices it loops over, and how to join back.
    ANALYZE task_usage_daily_window_keys;
    SELECT min(bucket_date), max(bucket_date) INTO v_first_day, v_last_day
      FROM task_usage_daily_window_keys;

    -- The rows of every dirty (day, provider, model) slice are read first, in a MATERIALIZED
    -- step that sees nothing but the slices and task_usage: its only way in is the day index (a
    -- lookup per slice, or one range scan of the dirty days, bounded by v_first_day and
    -- v_last_day, for a backfill's month of slices). Only then are tasks joined and each slice
    -- aggregated by agent and runtime, then by workspace (an agent lookup per group, not per
    -- row). So the planner cannot pick a plan whose cost grows with history, such as the seed's
    -- (every task the runtime ever ran, then its usage) or every task probed through the (task,
    -- provider, model) index.
    WITH slices AS (
        SELECT DISTINCT bucket_date, provider, model FROM task_usage_daily_window_keys
    ),
    slice_rows AS MATERIALIZED (
        SELECT s.bucket_date, s.provider, s.model, tu.task_id, tu.input_tokens,
               tu.output_tokens, tu.cache_read_tokens, tu.cache_write_tokens
          FROM slices s
          JOIN task_usage tu
            ON task_usage_utc_day(tu.created_at) = s.bucket_date
           AND tu.provider = s.provider
           AND tu.model = s.model
         WHERE task_usage_utc_day(tu.created_at) BETWEEN v_first_day AND v_last_day
    ),
    by_agent AS (
        SELECT r.bucket_date, r.provider, r.model, t.agent_id, t.runtime_id,
               sum(r.input_tokens) AS input_tokens,
               sum(r.output_tokens) AS output_tokens,
               sum(r.cache_read_tokens) AS cache_read_tokens,
               sum(r.cache_write_tokens) AS cache_write_tokens,
               count(*) AS event_count
          FROM slice_rows r
          JOIN agent_task_queue t ON t.id = r.task_id
         WHERE t.runtime_id IS NOT NULL
         GROUP BY r.bucket_date, r.provider, r.model, t.agent_id, t.runtime_id
    ),
    recomputed AS (
        SELECT g.bucket_date, a.workspace_id, g.runtime_id, g.provider, g.model,
               sum(g.input_tokens)::bigint AS input_tokens,
               sum(g.output_tokens)::bigint AS output_tokens,
               sum(g.cache_read_tokens)::bigint AS cache_read_tokens,
               sum(g.cache_write_tokens)::bigint AS cache_write_tokens,
               sum(g.event_count)::bigint AS event_count
          FROM by_agent g
          JOIN agent a ON a.id = g.agent_id
         GROUP BY g.bucket_date, a.workspace_id, g.runtime_id, g.provider, g.model
    ),
    replaced AS (
        INSERT INTO task_usage_daily AS d (
            bucket_date, workspace_id, runtime_id, provider, model,
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, event_count,
            updated_at
        )
        SELECT bucket_date, workspace_id, runtime_id, provider, model,
               input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, event_count,
               now()
          FROM recomputed
        ON CONFLICT (bucket_date, workspace_id, runtime_id, provider, model) DO UPDATE
           SET input_tokens = excluded.input_tokens,
               output_tokens = excluded.output_tokens,
               cache_read_tokens = excluded.cache_read_tokens,
               cache_write_tokens = excluded.cache_write_tokens,
               event_count = excluded.event_count,
               updated_at = excluded.updated_at
         WHERE (d.input_tokens, d.output_tokens, d.cache_read_tokens, d.cache_write_tokens,
                d.event_count)
               IS DISTINCT FROM
               (excluded.input_tokens, excluded.output_tokens, excluded.cache_read_tokens,
                excluded.cache_write_tokens, excluded.event_count)
        RETURNING 1
    ),
    -- A bucket of a dirty slice with no rows left. The slices' rollup rows are reached by the
    -- bucket key's index, within the dirty days; the recomputed buckets are looked up in a hash
    -- (NOT IN of non-null columns), never probed once per rollup row.
    emptied AS (
        DELETE FROM task_usage_daily d
         USING slices s
         WHERE d.bucket_date = s.bucket_date
           AND d.provider = s.provider
           AND d.model = s.model
           AND d.bucket_date BETWEEN v_first_day AND v_last_day
           AND (d.bucket_date, d.workspace_id, d.runtime_id, d.provider, d.model) NOT IN (
                   SELECT bucket_date, workspace_id, runtime_id, provider, model
                     FROM recomputed)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM replaced) + (SELECT count(*) FROM emptied) INTO v_rows;

    RETURN v_rows;
END;
$$;
