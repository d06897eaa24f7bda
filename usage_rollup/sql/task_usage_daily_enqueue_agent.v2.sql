-- task_usage_daily_enqueue_agent(p_agent uuid, p_workspaces uuid[]) -> void
--
-- Purpose: queue every bucket of agent p_agent's usage under each of p_workspaces (its old and new
-- workspace when it moves, its workspace when it is deleted).
-- Version 2: through task_usage_daily_enqueue() (deduplicated: an agent moved sixty times queues
-- its buckets once); SECURITY DEFINER (see task_usage_daily_enqueue_usage_rows.v2.sql).
-- Locks: the caller's UPDATE or DELETE holds the agent row; this locks all of the agent's tasks
-- FOR UPDATE, in id order, which waits out in-flight usage writers and reassignments of them
-- (protocol in task_usage_daily_enqueue_usage_rows.v2.sql). Costs O(the agent's usage), like the
-- cascade that follows an agent delete.
CREATE OR REPLACE FUNCTION task_usage_daily_enqueue_agent(p_agent uuid, p_workspaces uuid[])
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
BEGIN
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
