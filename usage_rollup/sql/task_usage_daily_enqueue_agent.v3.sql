-- task_usage_daily_enqueue_agent(p_agent uuid, p_workspaces uuid[]) -> void
--
-- Purpose: queue every bucket of agent p_agent's usage under each of p_workspaces (its old and new
-- workspace when it moves, its workspace when it is deleted).
--
-- Version 3: locks the agent row FOR UPDATE before it reads the agent's tasks. A move's UPDATE
-- holds only FOR NO KEY UPDATE, which does not conflict with the FOR KEY SHARE that a transaction
-- creating a task for this agent holds through its foreign-key check; so version 2 read the
-- agent's tasks without that new task, the task's usage could commit and be rolled up under the
-- old workspace while the move was still open, and nothing queued that bucket again (the
-- interleaving "start a task with usage then move its agent"). FOR UPDATE waits for such
-- transactions, and one that starts after it waits for the move: either way the task's usage
-- is read here or is found by updated_at after the move committed. A deferred foreign-key check
-- takes the same FOR KEY SHARE before its commit becomes visible, so it is covered as well.
--
-- Locks: the agent FOR UPDATE (the caller's UPDATE or DELETE already holds the row); then all of
-- the agent's tasks FOR UPDATE, in id order, which waits out in-flight usage writers and
-- reassignments of them (protocol in task_usage_daily_enqueue_usage_rows.v2.sql). Costs O(the
-- agent's usage), like the cascade that follows an agent delete.
CREATE OR REPLACE FUNCTION task_usage_daily_enqueue_agent(p_agent uuid, p_workspaces uuid[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM 1 FROM agent WHERE id = p_agent FOR UPDATE;
    PERFORM 1 FROM agent_task_queue WHERE agent_id = p_agent ORDER BY id FOR UPDATE;

    PERFORM task_usage_daily_enqueue(ARRAY(
        SELECT DISTINCT ROW(task_usage_utc_day(tu.created_at), w.workspace_id, t.runtime_id,
                            tu.provider, tu.model)::task_usage_bucket_key
          FROM agent_task_queue t
          JOIN task_usage tu ON tu.task_id = t.id
         CROSS JOIN unnest(p_workspaces) AS w(workspace_id)
         WHERE t.agent_id = p_agent
           AND t.runtime_id IS NOT NULL));
END;
$$;
