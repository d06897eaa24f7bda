"""The invalidation triggers, declared for django-pgtrigger (the models' Meta list them).

The rollup finds most changes by `task_usage.updated_at`; these triggers queue the buckets that a
change empties or moves without touching that column (SPEC section 3). Each one resolves a bucket's
key through the `task_usage_daily_enqueue_*` functions in `sql/`, which first lock the rows that
name the key, so that two concurrent changes to a usage row, its task and its agent serialise and
the second one reads what the first committed (the locking protocol is in those files' headers).

New usage is found by updated_at alone. The one trigger on INSERT only stamps updated_at with
the database clock when a client sent a value of its own; its WHEN clause is false for every row
that takes the column's default, so such inserts call no function at all.
"""

import pgtrigger

usage_updated = pgtrigger.Trigger(
    name="task_usage_updated",
    level=pgtrigger.Row,
    when=pgtrigger.Before,
    operation=pgtrigger.Update,
    func="""
        -- The database's clock, never the client's: the watermark reasons about it.
        NEW.updated_at := now();
        -- The row's new bucket is found by updated_at; its old one only from here.
        IF (task_usage_utc_day(OLD.created_at), OLD.provider, OLD.model, OLD.task_id)
           IS DISTINCT FROM
           (task_usage_utc_day(NEW.created_at), NEW.provider, NEW.model, NEW.task_id) THEN
            PERFORM task_usage_daily_enqueue_usage_rows(ARRAY[OLD]);
        END IF;
        RETURN NEW;
    """,
)

usage_inserted = pgtrigger.Trigger(
    name="task_usage_inserted",
    level=pgtrigger.Row,
    when=pgtrigger.Before,
    operation=pgtrigger.Insert,
    # An ORM of another language stamps updated_at from the application's clock: a value behind
    # the watermark would never be rolled up, one in 2100 would stay pending until then.
    condition=pgtrigger.Condition('NEW."updated_at" IS DISTINCT FROM now()'),
    func="""
        NEW.updated_at := now();
        RETURN NEW;
    """,
)

usage_deleted = pgtrigger.Trigger(
    name="task_usage_deleted",
    level=pgtrigger.Statement,
    when=pgtrigger.After,
    operation=pgtrigger.Delete,
    referencing=pgtrigger.Referencing(old="deleted_usage"),
    func="""
        -- When the delete cascades from a task, the task row is already gone and this finds
        -- nothing: the task's own trigger queued those buckets before the cascade.
        PERFORM task_usage_daily_enqueue_usage_rows(
            ARRAY(SELECT d::task_usage FROM deleted_usage AS d)
        );
        RETURN NULL;
    """,
)

usage_truncated = pgtrigger.Trigger(
    name="task_usage_truncated",
    level=pgtrigger.Statement,
    when=pgtrigger.After,
    operation=pgtrigger.Truncate,
    func="""
        PERFORM task_usage_daily_enqueue_all();
        RETURN NULL;
    """,
)

task_reassigned = pgtrigger.Trigger(
    name="task_reassigned",
    level=pgtrigger.Row,
    when=pgtrigger.Before,
    operation=pgtrigger.Update,
    condition=pgtrigger.AnyChange("runtime", "agent"),
    func="""
        -- Upgrade our row lock to FOR UPDATE: it waits for every transaction still writing usage
        -- of this task (their foreign-key check holds FOR KEY SHARE), so we read all of it.
        PERFORM 1 FROM agent_task_queue WHERE id = OLD.id FOR UPDATE;
        PERFORM task_usage_daily_enqueue_task(OLD.id, OLD.runtime_id, OLD.agent_id);
        PERFORM task_usage_daily_enqueue_task(NEW.id, NEW.runtime_id, NEW.agent_id);
        RETURN NEW;
    """,
)

task_deleted = pgtrigger.Trigger(
    name="task_deleted",
    level=pgtrigger.Row,
    when=pgtrigger.Before,
    operation=pgtrigger.Delete,
    func="""
        -- BEFORE: the task's usage rows, which the cascade removes next, are still here. Our
        -- delete lock already waits out the task's in-flight usage writers.
        PERFORM task_usage_daily_enqueue_task(OLD.id, OLD.runtime_id, OLD.agent_id);
        RETURN OLD;
    """,
)

agent_moved = pgtrigger.Trigger(
    name="agent_moved",
    level=pgtrigger.Row,
    when=pgtrigger.Before,
    operation=pgtrigger.Update,
    condition=pgtrigger.AnyChange("workspace"),
    func="""
        PERFORM task_usage_daily_enqueue_agent(OLD.id, ARRAY[OLD.workspace_id, NEW.workspace_id]);
        RETURN NEW;
    """,
)

agent_deleted = pgtrigger.Trigger(
    name="agent_deleted",
    level=pgtrigger.Row,
    when=pgtrigger.Before,
    operation=pgtrigger.Delete,
    func="""
        -- The cascade deletes the agent's tasks after this row, when their triggers can no longer
        -- find the agent's workspace: queue all of the agent's buckets here, while it exists.
        PERFORM task_usage_daily_enqueue_agent(OLD.id, ARRAY[OLD.workspace_id]);
        RETURN OLD;
    """,
)
