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
        -- When the delete cascades from a task, the task row is already gone: the task's own
        -- trigger recorded its owner for this one (sql/task_usage_daily_deleted_rows.v1.sql).
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
    # Statement level, over the transition tables: one call for all the tasks a statement moves.
    # PostgreSQL allows no column list on a trigger with transition tables, so this fires for
    # every UPDATE of the task table and finds the moved tasks itself.
    level=pgtrigger.Statement,
    when=pgtrigger.After,
    operation=pgtrigger.Update,
    referencing=pgtrigger.Referencing(old="old_tasks", new="new_tasks"),
    declare=[
        ("moved_from", "task_usage_task_owner[]"),
        ("moved_to", "task_usage_task_owner[]"),
        ("kept_ids", "bigint"),
    ],
    func="""
        SELECT array_agg(ROW(o.id, o.runtime_id, o.agent_id)::task_usage_task_owner)
                   FILTER (WHERE (o.runtime_id, o.agent_id)
                                 IS DISTINCT FROM (n.runtime_id, n.agent_id)),
               array_agg(ROW(n.id, n.runtime_id, n.agent_id)::task_usage_task_owner)
                   FILTER (WHERE (o.runtime_id, o.agent_id)
                                 IS DISTINCT FROM (n.runtime_id, n.agent_id)),
               count(*)
          INTO moved_from, moved_to, kept_ids
          FROM old_tasks AS o
          JOIN new_tasks AS n ON n.id = o.id;
        IF moved_from IS NOT NULL THEN
            PERFORM task_usage_daily_enqueue_moved_tasks(moved_from, moved_to);
        END IF;
        -- A task whose id changed is, for the rollup, deleted: its usage follows the new id (ON
        -- UPDATE CASCADE), and the usage's trigger finds the old owner recorded here.
        IF kept_ids < (SELECT count(*) FROM old_tasks) THEN
            PERFORM task_usage_daily_enqueue_deleted_tasks(ARRAY(
                SELECT ROW(o.id, o.runtime_id, o.agent_id)::task_usage_task_owner
                  FROM old_tasks AS o
                 WHERE NOT EXISTS (SELECT FROM new_tasks AS n WHERE n.id = o.id)));
        END IF;
        RETURN NULL;
    """,
)

task_deleted = pgtrigger.Trigger(
    name="task_deleted",
    # Statement level: one call for all the tasks a statement deletes, a cascade's too.
    level=pgtrigger.Statement,
    when=pgtrigger.After,
    operation=pgtrigger.Delete,
    referencing=pgtrigger.Referencing(old="deleted_tasks"),
    func="""
        PERFORM task_usage_daily_enqueue_deleted_tasks(
            ARRAY(SELECT ROW(d.id, d.runtime_id, d.agent_id)::task_usage_task_owner
                    FROM deleted_tasks AS d)
        );
        RETURN NULL;
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
