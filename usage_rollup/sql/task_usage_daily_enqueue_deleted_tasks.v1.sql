-- task_usage_daily_enqueue_deleted_tasks(p_tasks task_usage_task_owner[]) -> void
--
-- Purpose: the buckets of tasks a statement deleted (or whose id it changed), for the tasks'
-- statement-level trigger: one call for all of the statement's tasks, where the row-level
-- trigger it replaces made one call per task (the 10,000 tasks of an issue cost 10,000 calls).
-- A task's usage is deleted with it, or must be deleted before the transaction commits (the
-- foreign key is checked at commit at the latest): the usage's own trigger names those buckets,
-- through the owner this records in task_usage_daily_deleted_tasks, or directly while the task
-- is still visible. Usage this transaction deleted before this ran, with the task already out of
-- sight, waits in task_usage_daily_deleted_usage and is queued here
-- (task_usage_daily_deleted_rows.v1.sql says when each happens).
-- Every task is recorded, a task without a runtime too (its usage has no bucket), so that its
-- usage finds it here. A task whose agent this transaction deleted earlier is recorded without a
-- workspace: the agent's trigger queued all of its buckets while it existed.
--
-- Locks: the tasks' agents FOR SHARE, in id order (protocol in
-- task_usage_daily_enqueue_usage_rows.v3.sql): an agent's move waits for this transaction, so the
-- workspace recorded stays the one the buckets are under. The delete itself holds each task's row
-- lock, which waited for the task's in-flight usage writers. SECURITY DEFINER, so the roles that
-- delete tasks need no privileges on the rollup's tables.
CREATE OR REPLACE FUNCTION task_usage_daily_enqueue_deleted_tasks(p_tasks task_usage_task_owner[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
DECLARE
    v_xact xid8 := pg_current_xact_id();
BEGIN
    PERFORM 1
      FROM agent a
     WHERE a.id IN (SELECT t.agent_id FROM unnest(p_tasks) AS t WHERE t.runtime_id IS NOT NULL)
     ORDER BY a.id
       FOR SHARE;

    INSERT INTO task_usage_daily_deleted_tasks (xact, task_id, runtime_id, workspace_id)
    SELECT v_xact, t.task_id, t.runtime_id, a.workspace_id
      FROM unnest(p_tasks) AS t
      LEFT JOIN agent a ON a.id = t.agent_id;

    IF EXISTS (SELECT FROM task_usage_daily_deleted_usage u WHERE u.xact = v_xact) THEN
        PERFORM task_usage_daily_enqueue(ARRAY(
            SELECT DISTINCT ROW(u.bucket_date, a.workspace_id, t.runtime_id, u.provider,
                                u.model)::task_usage_bucket_key
              FROM unnest(p_tasks) AS t
              JOIN agent a ON a.id = t.agent_id
              JOIN task_usage_daily_deleted_usage u
                ON u.xact = v_xact AND u.task_id = t.task_id
             WHERE t.runtime_id IS NOT NULL));
    END IF;
END;
$$;
