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
-- Version 2: tiers, and slices counted once. Version 1 counted each runtime's tasks up to
-- usage_rollup.runtime_path_max_tasks before anything else, and each runtime's slices on their
-- own: after 1,000 new rows over 12 runtimes of a 100,000-row history it read about 50,000 index
-- entries (19 ms) to learn that the 6 slices they shared held 3,000 rows. Now:
-- 1. each runtime's tasks are counted up to 1,000 (or the setting, if lower): a small runtime is
--    known at once, a large one costs at most 1,001 entries;
-- 2. the slices of all the large runtimes are counted together, each slice once, up to 1,000
--    rows per large runtime: if they hold no more, reading them all is cheaper than the large
--    runtimes' tasks alone, and the large runtimes take their slices;
-- 3. otherwise each large runtime is weighed on its own, as version 1 did: its tasks up to the
--    setting, then its slices' rows up to one more than its tasks;
-- 4. each small runtime's slices are counted up to one more than its tasks.
-- So deciding reads about as many index entries as the cheaper path would (at most 2,002 per
-- runtime at steps 1 and 2), and never a whole busy day. A runtime with no tasks left (deleted)
-- takes its path at no cost: its buckets have no rows. Sequential and bitmap scans are off here:
-- each count must stop early on its index (a count under LIMIT can look cheaper to scan for, and
-- then reads the table; a bitmap index scan reads every entry of the runtime before the LIMIT
-- applies, as version 1's counts could: all 4,800 tasks of a runtime, measured, for a count that
-- stopped at 1,001); JIT is off with them (below).
--
-- Locks: none beyond reading; the caller (the window) holds the rollup's lock.
CREATE OR REPLACE FUNCTION task_usage_daily_choose_paths()
RETURNS void
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_bitmapscan = off
-- Before PostgreSQL 16, a disabled scan costs 1e10 (this function's scans of its own temporary
-- tables are unavoidable), which would set off JIT compilation of every statement: 100 ms a tick.
SET jit = off
AS $$
DECLARE
    v_max_tasks bigint;
    v_small_tasks bigint;
    v_large_runtimes bigint;
    v_large_take_slices boolean := false;
BEGIN
    v_max_tasks := coalesce(nullif(current_setting('usage_rollup.runtime_path_max_tasks', true),
                                   ''), '20000')::bigint;
    v_small_tasks := least(1000, v_max_tasks);
    ANALYZE pg_temp.task_usage_daily_buckets;

    -- 1. Every runtime's tasks, up to one more than a small runtime has.
    INSERT INTO pg_temp.task_usage_daily_runtime_paths (runtime_id, tasks)
    SELECT r.runtime_id,
           (SELECT count(*)
              FROM (SELECT 1 FROM agent_task_queue q
                     WHERE q.runtime_id = r.runtime_id
                     LIMIT v_small_tasks + 1) AS t)
      FROM (SELECT DISTINCT runtime_id FROM pg_temp.task_usage_daily_buckets) AS r;

    SELECT count(*) INTO v_large_runtimes
      FROM pg_temp.task_usage_daily_runtime_paths
     WHERE tasks > v_small_tasks;

    IF v_large_runtimes > 0 AND v_small_tasks < v_max_tasks THEN
        -- 2. The large runtimes' slices, all together, each once.
        SELECT count(*) <= v_large_runtimes * v_small_tasks INTO v_large_take_slices
          FROM (SELECT 1
                  FROM (SELECT DISTINCT b.bucket_date, b.provider, b.model
                          FROM pg_temp.task_usage_daily_buckets b
                          JOIN pg_temp.task_usage_daily_runtime_paths p
                            ON p.runtime_id = b.runtime_id
                         WHERE p.tasks > v_small_tasks) AS s
                  JOIN task_usage tu
                    ON task_usage_utc_day(tu.created_at) = s.bucket_date
                   AND tu.provider = s.provider
                   AND tu.model = s.model
                 LIMIT v_large_runtimes * v_small_tasks + 1) AS r;

        -- 3. Otherwise each large runtime's tasks, up to the setting.
        IF NOT v_large_take_slices THEN
            UPDATE pg_temp.task_usage_daily_runtime_paths p
               SET tasks = (SELECT count(*)
                              FROM (SELECT 1 FROM agent_task_queue q
                                     WHERE q.runtime_id = p.runtime_id
                                     LIMIT v_max_tasks + 1) AS t)
             WHERE p.tasks > v_small_tasks;
        END IF;
    END IF;

    -- 3 and 4. A runtime's own slices, up to one more row than it has tasks.
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
     WHERE p.tasks BETWEEN 1 AND v_max_tasks
       AND NOT (v_large_take_slices AND p.tasks > v_small_tasks);

    WITH moved AS (
        DELETE FROM pg_temp.task_usage_daily_buckets b
         USING pg_temp.task_usage_daily_runtime_paths p
         WHERE b.runtime_id = p.runtime_id
           AND (p.tasks > v_max_tasks
                OR p.slice_rows <= p.tasks
                OR (v_large_take_slices AND p.tasks > v_small_tasks))
        RETURNING b.bucket_date, b.provider, b.model
    )
    INSERT INTO pg_temp.task_usage_daily_slices (bucket_date, provider, model)
    SELECT DISTINCT bucket_date, provider, model FROM moved;
END;
$$;
