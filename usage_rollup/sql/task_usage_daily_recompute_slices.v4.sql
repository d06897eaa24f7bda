-- task_usage_daily_recompute_slices() -> bigint
--
-- Purpose: recompute from the raw rows, and replace, every bucket of the (day, provider, model)
-- slices listed in pg_temp.task_usage_daily_slices and every single bucket listed in
-- pg_temp.task_usage_daily_buckets, in task_usage_daily and, with its running sums by quarter
-- hour, in task_usage_daily_quarters; delete those that have no rows left; return how many
-- task_usage_daily rows changed. Nothing is added as a delta, so any call may overlap or repeat
-- another. The one code that writes task_usage_daily and task_usage_daily_quarters.
--
-- Version 4: quarter hours instead of hours (issue 13). v3 wrote a row per UTC hour of each
-- bucket into task_usage_hourly: about 7.5 rows per daily row, each into three indexes, so a
-- backfill cost 2.35-3.24x the daily-only one, and a local day of a zone offset by 30 or 45
-- minutes needed the raw rows of its edge hours. Here each daily bucket has one row in
-- task_usage_daily_quarters, keyed as task_usage_daily: the quarters of its UTC day that have
-- usage (task_usage_utc_quarter.v1.sql), ascending, and the bucket's running sums at the end of
-- each. Any run of quarters, and so any part of a local day, is a difference of two of them
-- (queries.py). The rows are grouped by quarter, then the quarters by day: still one read of the
-- raw rows. A bucket is set aside when its running sums (the last is its total) and zero span
-- more than bigint's range, so that the difference of any two fits; then neither table holds it.
--
-- Version 3: the hourly rollup (task_usage_hourly), written with its daily bucket in the same
-- statement: a daily bucket stays the unit of invalidation, so the finer grain has the daily
-- rollup's queue, watermark, bounds, lock and guarantees. The count returned is still that of
-- task_usage_daily rows (the entry point's last_run_rows).
--
-- Version 2: single buckets, by the runtime's path. A slice holds every tenant's rows of a day
-- and model, so recomputing a small tenant's bucket through its slice cost the whole day's volume
-- of everyone (issue 12 of the tracker). A single bucket is computed from its runtime's tasks
-- (agent_task_queue's runtime index), then their usage (task_usage's task index): the rows of
-- that runtime alone. The window lists a bucket here only when its runtime has fewer tasks than
-- its slices have rows (rollup_task_usage_daily_window.v4.sql), and as a whole slice otherwise.
-- A listed bucket whose slice is listed too is left to the slice, which computes it from the
-- same snapshot.
--
-- A bucket that cannot be computed (a sum out of bigint's range) is set aside: its rollup row is
-- deleted, it is named with the reason in task_usage_daily_set_aside, and every other bucket is
-- written as usual. A set-aside bucket that computes again (its rows were corrected) leaves the
-- table. The window retries every set-aside bucket on each tick.
--
-- Cost: O(rows of the slices) through task_usage_day_model_idx, plus O(tasks and rows of the
-- single buckets' runtimes); never a runtime's whole history for a slice's sake (why, below).
--
-- Locks: the caller holds pg_advisory_xact_lock(1970434924, 1), which serialises every writer of
-- task_usage_daily, and runs at READ COMMITTED: the statement below takes its snapshot after
-- that lock and sees everything the previous holder committed.
CREATE OR REPLACE FUNCTION task_usage_daily_recompute_slices()
RETURNS bigint
LANGUAGE plpgsql
-- A backfill's month of slices sorts and hashes a few hundred thousand rows: keep it in memory.
SET work_mem = '64MB'
-- Planned for each call's days: from a session's sixth call on, PL/pgSQL may reuse a generic plan,
-- which cannot know how few days v_first_day and v_last_day span, and scans for them (measured:
-- the sixth month of a backfill at 1M rows took 45.7 s instead of 2.8 s).
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_rows bigint;
    v_first_day date;
    v_last_day date;
BEGIN
    -- Statistics for the plan: how many slices and buckets it loops over.
    ANALYZE pg_temp.task_usage_daily_slices;
    ANALYZE pg_temp.task_usage_daily_buckets;
    SELECT min(bucket_date), max(bucket_date) INTO v_first_day, v_last_day
      FROM pg_temp.task_usage_daily_slices;
    IF v_first_day IS NULL AND NOT EXISTS (SELECT FROM pg_temp.task_usage_daily_buckets) THEN
        RETURN 0;
    END IF;

    -- The rows of every slice are read first, in a MATERIALIZED step that sees nothing but the
    -- slices and task_usage: its only way in is the day index (a lookup per slice, or one range
    -- scan of the days, bounded by v_first_day and v_last_day, for a backfill's month). Only then
    -- are tasks joined and each slice aggregated by agent and runtime, then by workspace (an
    -- agent lookup per group, not per row). So the planner cannot pick a plan whose cost grows
    -- with history, such as every task the runtime ever ran, then its usage.
    WITH slices AS (
        SELECT DISTINCT bucket_date, provider, model FROM pg_temp.task_usage_daily_slices
    ),
    buckets AS MATERIALIZED (
        SELECT DISTINCT b.bucket_date, b.workspace_id, b.runtime_id, b.provider, b.model
          FROM pg_temp.task_usage_daily_buckets b
         WHERE NOT EXISTS (SELECT FROM slices s
                            WHERE s.bucket_date = b.bucket_date
                              AND s.provider = b.provider
                              AND s.model = b.model)
    ),
    slice_rows AS MATERIALIZED (
        SELECT s.bucket_date, task_usage_utc_quarter(tu.created_at) AS quarter, s.provider,
               s.model, tu.task_id, tu.input_tokens, tu.output_tokens, tu.cache_read_tokens,
               tu.cache_write_tokens
          FROM slices s
          JOIN task_usage tu
            ON task_usage_utc_day(tu.created_at) = s.bucket_date
           AND tu.provider = s.provider
           AND tu.model = s.model
         WHERE task_usage_utc_day(tu.created_at) BETWEEN v_first_day AND v_last_day
    ),
    by_agent AS (
        SELECT r.bucket_date, r.quarter, r.provider, r.model, t.agent_id, t.runtime_id,
               sum(r.input_tokens) AS input_tokens,
               sum(r.output_tokens) AS output_tokens,
               sum(r.cache_read_tokens) AS cache_read_tokens,
               sum(r.cache_write_tokens) AS cache_write_tokens,
               count(*) AS event_count
          FROM slice_rows r
          JOIN agent_task_queue t ON t.id = r.task_id
         WHERE t.runtime_id IS NOT NULL
         GROUP BY r.bucket_date, r.quarter, r.provider, r.model, t.agent_id, t.runtime_id
    ),
    -- Sums stay numeric (sum(bigint) is numeric) until they are known to fit.
    slice_quarters AS (
        SELECT g.bucket_date, a.workspace_id, g.runtime_id, g.provider, g.model, g.quarter,
               sum(g.input_tokens) AS input_tokens,
               sum(g.output_tokens) AS output_tokens,
               sum(g.cache_read_tokens) AS cache_read_tokens,
               sum(g.cache_write_tokens) AS cache_write_tokens,
               sum(g.event_count) AS event_count
          FROM by_agent g
          JOIN agent a ON a.id = g.agent_id
         GROUP BY g.bucket_date, a.workspace_id, g.runtime_id, g.provider, g.model,
                  g.quarter
    ),
    -- The runtime's path: its tasks through the runtime index, each task's usage through the
    -- task index (OFFSET 0 keeps each lookup per runtime and per task: the planner cannot turn
    -- them into scans of agent_task_queue or task_usage), then only the listed buckets are kept.
    runtime_tasks AS MATERIALIZED (
        SELECT t.id, r.runtime_id, a.workspace_id
          FROM (SELECT DISTINCT runtime_id FROM buckets) r
          CROSS JOIN LATERAL (
                SELECT q.id, q.agent_id
                  FROM agent_task_queue q
                 WHERE q.runtime_id = r.runtime_id
                OFFSET 0) AS t
          JOIN agent a ON a.id = t.agent_id
    ),
    runtime_rows AS MATERIALIZED (
        SELECT task_usage_utc_day(u.created_at) AS bucket_date,
               task_usage_utc_quarter(u.created_at) AS quarter, rt.workspace_id, rt.runtime_id,
               u.provider, u.model, u.input_tokens, u.output_tokens, u.cache_read_tokens,
               u.cache_write_tokens
          FROM runtime_tasks rt
          CROSS JOIN LATERAL (
                SELECT tu.created_at, tu.provider, tu.model, tu.input_tokens, tu.output_tokens,
                       tu.cache_read_tokens, tu.cache_write_tokens
                  FROM task_usage tu
                 WHERE tu.task_id = rt.id
                OFFSET 0) AS u
    ),
    bucket_quarters AS (
        SELECT k.bucket_date, k.workspace_id, k.runtime_id, k.provider, k.model, r.quarter,
               sum(r.input_tokens) AS input_tokens,
               sum(r.output_tokens) AS output_tokens,
               sum(r.cache_read_tokens) AS cache_read_tokens,
               sum(r.cache_write_tokens) AS cache_write_tokens,
               count(*) AS event_count
          FROM runtime_rows r
          JOIN buckets k
            ON (k.bucket_date, k.workspace_id, k.runtime_id, k.provider, k.model)
             = (r.bucket_date, r.workspace_id, r.runtime_id, r.provider, r.model)
         GROUP BY k.bucket_date, k.workspace_id, k.runtime_id, k.provider, k.model,
                  r.quarter
    ),
    -- Each bucket's running sums, quarter by quarter: the usage of its quarters up to and
    -- including each (numeric until they are known to fit).
    running AS (
        SELECT q.bucket_date, q.workspace_id, q.runtime_id, q.provider, q.model, q.quarter,
               sum(q.input_tokens) OVER bucket AS input_tokens,
               sum(q.output_tokens) OVER bucket AS output_tokens,
               sum(q.cache_read_tokens) OVER bucket AS cache_read_tokens,
               sum(q.cache_write_tokens) OVER bucket AS cache_write_tokens,
               sum(q.event_count) OVER bucket AS event_count
          FROM (SELECT * FROM slice_quarters UNION ALL SELECT * FROM bucket_quarters) AS q
        WINDOW bucket AS (PARTITION BY q.bucket_date, q.workspace_id, q.runtime_id, q.provider,
                                       q.model
                          ORDER BY q.quarter)
    ),
    -- A bucket's total is its last running sum.
    judged AS MATERIALIZED (
        SELECT b.*,
               b.running_input_tokens[cardinality(b.quarters)] AS input_tokens,
               b.running_output_tokens[cardinality(b.quarters)] AS output_tokens,
               b.running_cache_read_tokens[cardinality(b.quarters)] AS cache_read_tokens,
               b.running_cache_write_tokens[cardinality(b.quarters)] AS cache_write_tokens,
               b.running_event_count[cardinality(b.quarters)] AS event_count
          FROM (SELECT bucket_date, workspace_id, runtime_id, provider, model,
                       array_agg(quarter ORDER BY quarter) AS quarters,
                       array_agg(input_tokens ORDER BY quarter) AS running_input_tokens,
                       array_agg(output_tokens ORDER BY quarter) AS running_output_tokens,
                       array_agg(cache_read_tokens ORDER BY quarter) AS running_cache_read_tokens,
                       array_agg(cache_write_tokens ORDER BY quarter)
                       AS running_cache_write_tokens,
                       array_agg(event_count ORDER BY quarter) AS running_event_count,
                       -- Every running sum, and every difference of two (the usage of any run of
                       -- quarters the zoned reads take), within bigint's range: the running sums
                       -- and zero span no more.
                       greatest(max(input_tokens), 0) - least(min(input_tokens), 0)
                           <= 9223372036854775807
                       AND greatest(max(output_tokens), 0) - least(min(output_tokens), 0)
                           <= 9223372036854775807
                       AND greatest(max(cache_read_tokens), 0) - least(min(cache_read_tokens), 0)
                           <= 9223372036854775807
                       AND greatest(max(cache_write_tokens), 0) - least(min(cache_write_tokens), 0)
                           <= 9223372036854775807 AS fits
                  FROM running
                 GROUP BY bucket_date, workspace_id, runtime_id, provider, model) AS b
    ),
    replaced AS (
        INSERT INTO task_usage_daily AS d (
            bucket_date, workspace_id, runtime_id, provider, model,
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, event_count,
            updated_at
        )
        SELECT bucket_date, workspace_id, runtime_id, provider, model,
               input_tokens::bigint, output_tokens::bigint, cache_read_tokens::bigint,
               cache_write_tokens::bigint, event_count::bigint, now()
          FROM judged
         WHERE fits
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
    replaced_quarters AS (
        INSERT INTO task_usage_daily_quarters AS d (
            bucket_date, workspace_id, runtime_id, provider, model, quarters,
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, event_count,
            updated_at
        )
        SELECT bucket_date, workspace_id, runtime_id, provider, model, quarters,
               running_input_tokens::bigint[], running_output_tokens::bigint[],
               running_cache_read_tokens::bigint[], running_cache_write_tokens::bigint[],
               running_event_count::bigint[], now()
          FROM judged
         WHERE fits
        ON CONFLICT (bucket_date, workspace_id, runtime_id, provider, model) DO UPDATE
           SET quarters = excluded.quarters,
               input_tokens = excluded.input_tokens,
               output_tokens = excluded.output_tokens,
               cache_read_tokens = excluded.cache_read_tokens,
               cache_write_tokens = excluded.cache_write_tokens,
               event_count = excluded.event_count,
               updated_at = excluded.updated_at
         WHERE (d.quarters, d.input_tokens, d.output_tokens, d.cache_read_tokens,
                d.cache_write_tokens, d.event_count)
               IS DISTINCT FROM
               (excluded.quarters, excluded.input_tokens, excluded.output_tokens,
                excluded.cache_read_tokens, excluded.cache_write_tokens, excluded.event_count)
        RETURNING 1
    ),
    -- A bucket of a slice with no rows left, or set aside. The slices' rollup rows are reached by
    -- the bucket key's index, within the days; the fitting buckets are looked up in a hash (NOT
    -- IN of non-null columns), never probed once per rollup row.
    emptied AS (
        DELETE FROM task_usage_daily d
         USING slices s
         WHERE d.bucket_date = s.bucket_date
           AND d.provider = s.provider
           AND d.model = s.model
           AND d.bucket_date BETWEEN v_first_day AND v_last_day
           AND (d.bucket_date, d.workspace_id, d.runtime_id, d.provider, d.model) NOT IN (
                   SELECT bucket_date, workspace_id, runtime_id, provider, model
                     FROM judged
                    WHERE fits)
        RETURNING 1
    ),
    emptied_buckets AS (
        DELETE FROM task_usage_daily d
         USING buckets k
         WHERE (d.bucket_date, d.workspace_id, d.runtime_id, d.provider, d.model)
             = (k.bucket_date, k.workspace_id, k.runtime_id, k.provider, k.model)
           AND (d.bucket_date, d.workspace_id, d.runtime_id, d.provider, d.model) NOT IN (
                   SELECT bucket_date, workspace_id, runtime_id, provider, model
                     FROM judged
                    WHERE fits)
        RETURNING 1
    ),
    -- The same buckets' rows of task_usage_daily_quarters, which has task_usage_daily's key.
    emptied_quarters AS (
        DELETE FROM task_usage_daily_quarters d
         USING slices s
         WHERE d.bucket_date = s.bucket_date
           AND d.provider = s.provider
           AND d.model = s.model
           AND d.bucket_date BETWEEN v_first_day AND v_last_day
           AND (d.bucket_date, d.workspace_id, d.runtime_id, d.provider, d.model) NOT IN (
                   SELECT bucket_date, workspace_id, runtime_id, provider, model
                     FROM judged
                    WHERE fits)
        RETURNING 1
    ),
    emptied_bucket_quarters AS (
        DELETE FROM task_usage_daily_quarters d
         USING buckets k
         WHERE (d.bucket_date, d.workspace_id, d.runtime_id, d.provider, d.model)
             = (k.bucket_date, k.workspace_id, k.runtime_id, k.provider, k.model)
           AND (d.bucket_date, d.workspace_id, d.runtime_id, d.provider, d.model) NOT IN (
                   SELECT bucket_date, workspace_id, runtime_id, provider, model
                     FROM judged
                    WHERE fits)
        RETURNING 1
    ),
    set_aside AS (
        INSERT INTO task_usage_daily_set_aside AS x (
            bucket_date, workspace_id, runtime_id, provider, model, error
        )
        SELECT bucket_date, workspace_id, runtime_id, provider, model,
               CASE WHEN greatest(input_tokens, output_tokens, cache_read_tokens,
                                  cache_write_tokens) <= 9223372036854775807
                         AND least(input_tokens, output_tokens, cache_read_tokens,
                                   cache_write_tokens) >= -9223372036854775808
                    THEN format('its running token sums within the day span more than bigint '
                                'range (the day: input %s, output %s, cache read %s, cache '
                                'write %s over %s rows)', input_tokens, output_tokens,
                                cache_read_tokens, cache_write_tokens, event_count)
                    ELSE format('a token sum is out of bigint range (input %s, output %s, '
                                'cache read %s, cache write %s over %s rows)', input_tokens,
                                output_tokens, cache_read_tokens, cache_write_tokens,
                                event_count)
               END
          FROM judged
         WHERE NOT fits
        ON CONFLICT (bucket_date, workspace_id, runtime_id, provider, model) DO UPDATE
           SET error = excluded.error,
               last_failed_at = now(),
               attempts = x.attempts + 1
        RETURNING 1
    ),
    computed_again AS (
        DELETE FROM task_usage_daily_set_aside x
         USING slices s
         WHERE x.bucket_date = s.bucket_date
           AND x.provider = s.provider
           AND x.model = s.model
           AND (x.bucket_date, x.workspace_id, x.runtime_id, x.provider, x.model) NOT IN (
                   SELECT bucket_date, workspace_id, runtime_id, provider, model
                     FROM judged
                    WHERE NOT fits)
        RETURNING 1
    ),
    computed_again_buckets AS (
        DELETE FROM task_usage_daily_set_aside x
         USING buckets k
         WHERE (x.bucket_date, x.workspace_id, x.runtime_id, x.provider, x.model)
             = (k.bucket_date, k.workspace_id, k.runtime_id, k.provider, k.model)
           AND (x.bucket_date, x.workspace_id, x.runtime_id, x.provider, x.model) NOT IN (
                   SELECT bucket_date, workspace_id, runtime_id, provider, model
                     FROM judged
                    WHERE NOT fits)
        RETURNING 1
    )
    -- set_aside, computed_again(_buckets) and the quarters' writes run to completion although
    -- nothing reads them.
    SELECT (SELECT count(*) FROM replaced) + (SELECT count(*) FROM emptied)
           + (SELECT count(*) FROM emptied_buckets)
      INTO v_rows;

    RETURN v_rows;
END;
$$;
