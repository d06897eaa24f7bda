-- task_usage_daily_slices_reset() -> void
--
-- Purpose: empty the two lists that task_usage_daily_recompute_slices() brings up to date, this
-- session's own: pg_temp.task_usage_daily_slices, whole (day, provider, model) slices, and
-- pg_temp.task_usage_daily_buckets, single buckets, and pg_temp.task_usage_daily_runtime_paths,
-- where the window weighs each runtime's two paths. Its callers (the window and the backfill's
-- slice) fill them, then call the recompute, in one transaction (ON COMMIT DELETE ROWS).
--
-- Version 3: DELETE, not TRUNCATE. TRUNCATE of a table created in an earlier transaction gives
-- it and each of its indexes a new file and a new pg_class row: five files created and unlinked,
-- five catalog rows left dead, on every tick (4 ms of a tick, measured). ON COMMIT DELETE ROWS has
-- already emptied the tables at the last commit, so the DELETEs find at most what an earlier call
-- in the same transaction left.
--
-- Version 2: adds the list of single buckets (the window's runtime path,
-- rollup_task_usage_daily_window.v4.sql) and pg_temp.task_usage_daily_runtime_paths.
--
-- Locks: none (the tables are this session's own).
CREATE OR REPLACE FUNCTION task_usage_daily_slices_reset()
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF to_regclass('pg_temp.task_usage_daily_slices') IS NULL THEN
        CREATE TEMPORARY TABLE task_usage_daily_slices (
            bucket_date date NOT NULL,
            provider text NOT NULL,
            model text NOT NULL
        ) ON COMMIT DELETE ROWS;
    END IF;
    IF to_regclass('pg_temp.task_usage_daily_buckets') IS NULL THEN
        CREATE TEMPORARY TABLE task_usage_daily_buckets (
            bucket_date date NOT NULL,
            workspace_id uuid NOT NULL,
            runtime_id uuid NOT NULL,
            provider text NOT NULL,
            model text NOT NULL
        ) ON COMMIT DELETE ROWS;
        CREATE INDEX ON pg_temp.task_usage_daily_buckets (runtime_id);
        -- Each runtime's path and what chose it (task_usage_daily_choose_paths.v2.sql).
        CREATE TEMPORARY TABLE task_usage_daily_runtime_paths (
            runtime_id uuid PRIMARY KEY,
            tasks bigint NOT NULL,
            slice_rows bigint
        ) ON COMMIT DELETE ROWS;
    END IF;
    DELETE FROM pg_temp.task_usage_daily_slices;
    DELETE FROM pg_temp.task_usage_daily_buckets;
    DELETE FROM pg_temp.task_usage_daily_runtime_paths;
END;
$$;
