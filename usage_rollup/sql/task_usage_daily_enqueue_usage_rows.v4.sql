-- task_usage_daily_enqueue_usage_rows(task_usage[]) -> void
--
-- Purpose: queue the buckets that the given usage rows (deleted, or the old version of a row
-- whose bucket key changed) counted in. Rows of tasks without a runtime have no bucket.
--
-- Version 4: no step joins two sets whose sizes the planner must guess. Version 3 joined the
-- rows' keys with their owners, among them the owners recorded in task_usage_daily_deleted_tasks,
-- whose statistics (kept by autovacuum on a table that is empty between transactions) say it
-- is empty: a nested loop then compared each of a cascade's 10,000 rows with each of its 10,000
-- recorded tasks, 5.7 s for a delete that takes 150 ms without the triggers (measured at 10M in
-- the benchmark). Now the recorded owners are read by index into arrays, the other tasks' owners
-- appended, and the keys joined with them; every plan is made for the call's own arrays
-- (plan_cache_mode = force_custom_plan: a generic plan, which PL/pgSQL may switch to after five
-- calls, guesses ten elements for every array).
--
-- Version 3: a row whose task this transaction deleted (or whose id it changed) is named through
-- task_usage_daily_deleted_tasks, where the task's statement-level trigger left the owner it had.
-- A delete of a task with its usage (ON DELETE CASCADE) fires the task's trigger first and this
-- one after; a row whose task is found neither in the table nor there (the other order, as in
-- one statement that deletes both through a WITH clause) is left in
-- task_usage_daily_deleted_usage for the task's trigger (task_usage_daily_deleted_rows.v1.sql).
-- A cascade's rows find their tasks recorded and do not probe the task table; other rows' tasks
-- are found once, when they are locked.
--
-- Version 2: adds through task_usage_daily_enqueue() (deduplicated), and is SECURITY DEFINER, so
-- a role that deletes usage needs no privileges on the rollup's tables nor UPDATE (for the
-- FOR SHARE locks) on the tasks and agents.
--
-- Locks: the visible tasks and their agents FOR SHARE, as the protocol below says. The owner of
-- a deleted task was read under its agent's FOR SHARE lock, held to the end of this transaction.
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
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_xact xid8 := pg_current_xact_id();
    v_row_tasks uuid[];
    v_tasks uuid[];
    v_visible uuid[];
    v_owner_tasks uuid[];
    v_owner_runtimes uuid[];
    v_owner_workspaces uuid[];
    v_buckets task_usage_bucket_key[];
BEGIN
    v_row_tasks := ARRAY(SELECT DISTINCT r.task_id FROM unnest(p_rows) AS r);
    -- The owners this transaction recorded when it deleted the rows' tasks, by index: a
    -- cascade's rows find every task here and probe the task table not at all.
    SELECT coalesce(array_agg(d.task_id), '{}'), coalesce(array_agg(d.runtime_id), '{}'),
           coalesce(array_agg(d.workspace_id), '{}')
      INTO v_owner_tasks, v_owner_runtimes, v_owner_workspaces
      FROM task_usage_daily_deleted_tasks d
     WHERE d.xact = v_xact
       AND d.task_id = ANY (v_row_tasks);
    -- The other tasks, found once, when they are locked; then their agents; then their owners.
    v_tasks := ARRAY(SELECT unnest(v_row_tasks) EXCEPT SELECT unnest(v_owner_tasks));
    SELECT coalesce(array_agg(locked.id), '{}')
      INTO v_visible
      FROM (SELECT t.id
              FROM agent_task_queue t
             WHERE t.id = ANY (v_tasks)
             ORDER BY t.id
               FOR SHARE) AS locked;
    IF cardinality(v_visible) > 0 THEN
        PERFORM 1
          FROM agent a
         WHERE a.id IN (SELECT t.agent_id FROM agent_task_queue t WHERE t.id = ANY (v_visible))
         ORDER BY a.id
           FOR SHARE;
        SELECT v_owner_tasks || array_agg(t.id), v_owner_runtimes || array_agg(t.runtime_id),
               v_owner_workspaces || array_agg(a.workspace_id)
          INTO v_owner_tasks, v_owner_runtimes, v_owner_workspaces
          FROM agent_task_queue t
          LEFT JOIN agent a ON a.id = t.agent_id
         WHERE t.id = ANY (v_visible);
    END IF;

    WITH usage_keys AS MATERIALIZED (
        SELECT DISTINCT task_usage_utc_day(r.created_at) AS bucket_date, r.task_id, r.provider,
                        r.model
          FROM unnest(p_rows) AS r
    ),
    owners AS MATERIALIZED (
        SELECT o.task_id, o.runtime_id, o.workspace_id
          FROM unnest(v_owner_tasks, v_owner_runtimes, v_owner_workspaces)
               AS o(task_id, runtime_id, workspace_id)
    ),
    unowned AS (
        INSERT INTO task_usage_daily_deleted_usage (xact, task_id, bucket_date, provider, model)
        SELECT v_xact, k.task_id, k.bucket_date, k.provider, k.model
          FROM usage_keys k
         WHERE NOT EXISTS (SELECT FROM owners o WHERE o.task_id = k.task_id)
    )
    -- DISTINCT over the plain columns, a hash; over the composite it would sort records.
    SELECT array_agg(ROW(b.bucket_date, b.workspace_id, b.runtime_id, b.provider,
                         b.model)::task_usage_bucket_key)
      INTO v_buckets
      FROM (SELECT DISTINCT k.bucket_date, o.workspace_id, o.runtime_id, k.provider, k.model
              FROM usage_keys k
              JOIN owners o ON o.task_id = k.task_id
             WHERE o.runtime_id IS NOT NULL
               AND o.workspace_id IS NOT NULL) AS b;

    IF v_buckets IS NOT NULL THEN
        PERFORM task_usage_daily_enqueue(v_buckets);
    END IF;
END;
$$;
