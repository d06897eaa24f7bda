-- task_usage_daily_deleted_tasks, task_usage_daily_deleted_usage, task_usage_task_owner
--
-- Purpose: what a transaction's deletes leave for its own later triggers. A task's buckets are
-- named by its usage rows (day, provider, model) and by the task itself (runtime, and its agent's
-- workspace). When a task is deleted with its usage (ON DELETE CASCADE), the statement-level
-- triggers of the two deletes fire after both are done: the task's trigger no longer sees the
-- usage, the usage's trigger no longer sees the task. So each leaves its half here, keyed by the
-- transaction, and whichever fires second joins the two (task_usage_daily_enqueue_deleted_tasks,
-- task_usage_daily_enqueue_usage_rows.v3):
--   * task_usage_daily_deleted_tasks: the tasks this transaction deleted (or whose id it
--     changed), with the owner they had: runtime, and workspace (NULL when the agent was gone
--     already: its own trigger queued its buckets while it existed);
--   * task_usage_daily_deleted_usage: usage rows this transaction deleted or moved whose task it
--     could no longer see, and no deleted task named.
-- Rows of a transaction are read only by that transaction (xact = pg_current_xact_id()); once it
-- has ended they are garbage, which the tick deletes through task_usage_daily_forget_deletes()
-- (rollup_task_usage_daily_window.v5.sql calls it).
--
-- Indexed by (xact, task_id): a lookup of one task is one probe whatever the plan, where an
-- index on the transaction alone made a nested loop of a cached generic plan read every row of
-- the transaction for each task (deleting an issue of 10,000 tasks took 6.5 s instead of 0.26 s
-- on the 10M benchmark history).
--
-- UNLOGGED: a crash ends every transaction that could read a row, so nothing here needs to
-- survive one, and a bulk delete writes no WAL for it. A table rather than a temporary one, so
-- that a writer's transaction creates no catalog rows (a temporary table per session, and per
-- connection for a client that connects per request) and can still be PREPAREd (two-phase
-- commit refuses a transaction that touched a temporary table).
--
-- Locks: none; no two transactions touch the same rows (the tick deletes only rows of
-- transactions that have committed, the only ones it can see).
CREATE TYPE task_usage_task_owner AS (
    task_id uuid,
    runtime_id uuid,
    agent_id uuid
);

CREATE UNLOGGED TABLE task_usage_daily_deleted_tasks (
    xact xid8 NOT NULL,
    task_id uuid NOT NULL,
    runtime_id uuid,
    workspace_id uuid
);
CREATE INDEX task_usage_daily_deleted_tasks_idx
    ON task_usage_daily_deleted_tasks (xact, task_id);

CREATE UNLOGGED TABLE task_usage_daily_deleted_usage (
    xact xid8 NOT NULL,
    task_id uuid NOT NULL,
    bucket_date date NOT NULL,
    provider text NOT NULL,
    model text NOT NULL
);
CREATE INDEX task_usage_daily_deleted_usage_idx
    ON task_usage_daily_deleted_usage (xact, task_id);

-- task_usage_daily_forget_deletes() -> void: delete the rows of transactions that have ended.
-- Those are all the rows another transaction can see: a row becomes visible when its transaction
-- commits, and only that transaction ever reads it. The caller's own rows stay: a transaction
-- may tick between its deletes. SECURITY DEFINER, so the ticking role needs no privileges on
-- these tables.
CREATE FUNCTION task_usage_daily_forget_deletes()
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
    DELETE FROM task_usage_daily_deleted_tasks
     WHERE xact IS DISTINCT FROM pg_current_xact_id_if_assigned();
    DELETE FROM task_usage_daily_deleted_usage
     WHERE xact IS DISTINCT FROM pg_current_xact_id_if_assigned();
$$;
