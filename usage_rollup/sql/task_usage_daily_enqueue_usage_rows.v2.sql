-- task_usage_daily_enqueue_usage_rows(task_usage[]) -> void
--
-- Purpose: queue the buckets that the given usage rows (deleted, or the old version of a row
-- whose bucket key changed) counted in. Rows of tasks without a runtime have no bucket.
--
-- Version 2: adds through task_usage_daily_enqueue() (deduplicated), and is SECURITY DEFINER, so
-- a role that deletes usage needs no privileges on the rollup's tables nor UPDATE (for the
-- FOR SHARE locks) on the tasks and agents.
--
-- Locks: the tasks and agents of the rows FOR SHARE, as the protocol below says.
--
-- Locking protocol of the invalidation triggers (all the task_usage_daily_enqueue_* functions).
-- A bucket key is read from three rows: the usage row (day, provider, model, task), its task
-- (runtime, agent) and the task's agent (workspace). A trigger that resolves a key from rows it is
-- not changing first locks them in a mode that conflicts with whoever may change them:
--   * reading a task or an agent: FOR SHARE, which waits for an UPDATE of runtime_id, agent_id or
--     workspace_id (they take FOR NO KEY UPDATE) and makes such an UPDATE wait for us;
--   * reading a task's usage: FOR UPDATE on the task, which waits for every transaction still
--     inserting or moving usage into it (its foreign-key check holds FOR KEY SHARE on the task).
-- After the lock, the next statement takes a fresh READ COMMITTED snapshot and reads what the
-- other transaction committed. So of two concurrent changes, the later one always queues the
-- buckets that the pair produced, and no bucket changes without being queued or found by
-- updated_at. Locks are taken in id order; a rare deadlock between such changes aborts one of
-- them, which changes nothing. At REPEATABLE READ the same conflict raises a serialization error.
CREATE OR REPLACE FUNCTION task_usage_daily_enqueue_usage_rows(p_rows task_usage[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM 1
      FROM agent_task_queue t
     WHERE t.id IN (SELECT r.task_id FROM unnest(p_rows) AS r)
     ORDER BY t.id
       FOR SHARE;
    PERFORM 1
      FROM agent a
     WHERE a.id IN (SELECT t.agent_id
                      FROM agent_task_queue t
                     WHERE t.id IN (SELECT r.task_id FROM unnest(p_rows) AS r))
     ORDER BY a.id
       FOR SHARE;

    PERFORM task_usage_daily_enqueue(ARRAY(
        SELECT ROW(task_usage_utc_day(r.created_at), a.workspace_id, t.runtime_id, r.provider,
                   r.model)::task_usage_bucket_key
          FROM unnest(p_rows) AS r
          JOIN agent_task_queue t ON t.id = r.task_id
          JOIN agent a ON a.id = t.agent_id
         WHERE t.runtime_id IS NOT NULL));
END;
$$;
