-- task_usage_daily_enqueue_task(p_task uuid, p_runtime uuid, p_agent uuid) -> void
--
-- Purpose: queue every bucket that task p_task's usage counts in when the task runs on p_runtime
-- for agent p_agent (the triggers call it with the task's old and new values).
-- Version 2: through task_usage_daily_enqueue() (deduplicated); SECURITY DEFINER (see
-- task_usage_daily_enqueue_usage_rows.v2.sql).
-- Locks: the caller holds the task row FOR UPDATE or its delete lock, which waits out in-flight
-- usage writers of the task; this locks the agent FOR SHARE (protocol in
-- task_usage_daily_enqueue_usage_rows.v2.sql). An agent deleted earlier in this transaction is not
-- found: its own delete trigger has queued the buckets already.
CREATE OR REPLACE FUNCTION task_usage_daily_enqueue_task(p_task uuid, p_runtime uuid, p_agent uuid)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
BEGIN
    IF p_runtime IS NULL THEN
        RETURN;
    END IF;
    PERFORM 1 FROM agent WHERE id = p_agent FOR SHARE;

    PERFORM task_usage_daily_enqueue(ARRAY(
        SELECT DISTINCT ROW(task_usage_utc_day(tu.created_at), a.workspace_id, p_runtime,
                            tu.provider, tu.model)::task_usage_bucket_key
          FROM task_usage tu
          JOIN agent a ON a.id = p_agent
         WHERE tu.task_id = p_task));
END;
$$;
