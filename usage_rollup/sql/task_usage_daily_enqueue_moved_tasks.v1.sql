-- task_usage_daily_enqueue_moved_tasks(p_before task_usage_task_owner[],
--                                      p_after task_usage_task_owner[]) -> void
--
-- Purpose: the buckets of tasks an UPDATE gave another runtime or agent, for the tasks'
-- statement-level trigger: p_before has each moved task's owner before the statement, p_after
-- after it (same task ids). The task's usage counts under both; its rows are found once and
-- queued under each. One call for all of the statement's tasks, where the row-level trigger it
-- replaces made two calls per task (moving 10,000 tasks cost 20,000 calls).
--
-- Locks: the tasks FOR UPDATE, in id order, first: the UPDATE holds them FOR NO KEY UPDATE, which
-- does not conflict with the FOR KEY SHARE of a transaction still inserting usage into the task
-- (its foreign-key check); FOR UPDATE waits for every such writer, so the next statement reads
-- all of the task's usage (protocol in task_usage_daily_enqueue_usage_rows.v3.sql). Then the
-- agents of both owners FOR SHARE, in id order. SECURITY DEFINER, so the roles that move tasks
-- need no privileges on the rollup's tables.
CREATE OR REPLACE FUNCTION task_usage_daily_enqueue_moved_tasks(
    p_before task_usage_task_owner[],
    p_after task_usage_task_owner[]
)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM 1
      FROM agent_task_queue t
     WHERE t.id IN (SELECT o.task_id FROM unnest(p_after) AS o)
     ORDER BY t.id
       FOR UPDATE;
    PERFORM 1
      FROM agent a
     WHERE a.id IN (SELECT o.agent_id FROM unnest(p_before) AS o WHERE o.runtime_id IS NOT NULL
                    UNION
                    SELECT o.agent_id FROM unnest(p_after) AS o WHERE o.runtime_id IS NOT NULL)
     ORDER BY a.id
       FOR SHARE;

    PERFORM task_usage_daily_enqueue(ARRAY(
        WITH usage_keys AS MATERIALIZED (
            SELECT DISTINCT tu.task_id, task_usage_utc_day(tu.created_at) AS bucket_date,
                            tu.provider, tu.model
              FROM task_usage tu
             WHERE tu.task_id IN (SELECT o.task_id FROM unnest(p_after) AS o)
        ),
        owners AS (
            SELECT * FROM unnest(p_before)
            UNION
            SELECT * FROM unnest(p_after)
        )
        -- DISTINCT over the plain columns, a hash; over the composite it would sort records.
        SELECT ROW(b.bucket_date, b.workspace_id, b.runtime_id, b.provider,
                   b.model)::task_usage_bucket_key
          FROM (SELECT DISTINCT k.bucket_date, a.workspace_id, o.runtime_id, k.provider, k.model
                  FROM owners o
                  JOIN agent a ON a.id = o.agent_id
                  JOIN usage_keys k ON k.task_id = o.task_id
                 WHERE o.runtime_id IS NOT NULL) AS b));
END;
$$;
