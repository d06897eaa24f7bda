-- task_usage_daily_choose_paths() -> void
--
-- Purpose: for each runtime with buckets in pg_temp.task_usage_daily_buckets (the window fills
-- it), choose how task_usage_daily_recompute_slices() computes them: by the runtime's own tasks
-- and their usage, where it has fewer tasks than the buckets' (day, provider, model) slices have
-- rows (the buckets stay listed singly), or else by those slices, every tenant's rows of them
-- (the buckets' slices move to pg_temp.task_usage_daily_slices). Both paths are exact; this
-- only picks the one that reads less, so that a small tenant's tick costs its own rows and a
-- large runtime's costs its slices, not its whole history.
--
-- Cost: two statements over all the runtimes at once (a queue flood names thousands). The tasks
-- of each runtime are counted first, up to usage_rollup.runtime_path_max_tasks (a custom setting,
-- default 20000; a runtime with more takes its slices), then its slices' rows, only up to one more
-- than its tasks: so deciding reads about as many index entries as the runtime's path would, and
-- never a whole busy day. A runtime with no tasks left (deleted) takes its path at no cost: its
-- buckets have no rows. Sequential scans are off here: each count must stop early on its index
-- (a count under LIMIT can look cheaper to scan for, and then reads the table); JIT is off with
-- them (below).
--
-- Locks: none beyond reading; the caller (the window) holds the rollup's lock.
CREATE OR REPLACE FUNCTION task_usage_daily_choose_paths()
RETURNS void
LANGUAGE plpgsql
SET enable_seqscan = off
-- Before PostgreSQL 16, a disabled scan costs 1e10 (this function's scans of its own temporary
-- tables are unavoidable), which would set off JIT compilation of every statement: 100 ms a tick.
SET jit = off
AS $$
DECLARE
    v_max_tasks bigint;
BEGIN
    v_max_tasks := coalesce(nullif(current_setting('usage_rollup.runtime_path_max_tasks', true),
                                   ''), '20000')::bigint;
    ANALYZE pg_temp.task_usage_daily_buckets;

    INSERT INTO pg_temp.task_usage_daily_runtime_paths (runtime_id, tasks)
    SELECT r.runtime_id,
           (SELECT count(*)
              FROM (SELECT 1 FROM agent_task_queue q
                     WHERE q.runtime_id = r.runtime_id
                     LIMIT v_max_tasks + 1) AS t)
      FROM (SELECT DISTINCT runtime_id FROM pg_temp.task_usage_daily_buckets) AS r;

    UPDATE pg_temp.task_usage_daily_runtime_paths p
       SET slice_rows = (
               SELECT count(*)
                 FROM (SELECT 1
                         FROM (SELECT DISTINCT b.bucket_date, b.provider, b.model
                                 FROM pg_temp.task_usage_daily_buckets b
                                WHERE b.runtime_id = p.runtime_id) AS s
                         JOIN task_usage tu
                           ON task_usage_utc_day(tu.created_at) = s.bucket_date
                          AND tu.provider = s.provider
                          AND tu.model = s.model
                        LIMIT p.tasks + 1) AS r)
     WHERE p.tasks BETWEEN 1 AND v_max_tasks;

    WITH moved AS (
        DELETE FROM pg_temp.task_usage_daily_buckets b
         USING pg_temp.task_usage_daily_runtime_paths p
         WHERE b.runtime_id = p.runtime_id
           AND (p.tasks > v_max_tasks OR p.slice_rows <= p.tasks)
        RETURNING b.bucket_date, b.provider, b.model
    )
    INSERT INTO pg_temp.task_usage_daily_slices (bucket_date, provider, model)
    SELECT DISTINCT bucket_date, provider, model FROM moved;
END;
$$;
