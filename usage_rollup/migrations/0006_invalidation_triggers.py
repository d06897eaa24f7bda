"""The invalidation triggers declared in usage_rollup/triggers.py (rendered by django-pgtrigger)."""

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0005_rollup_functions")]

    operations = [
        pgtrigger.migrations.AddTrigger(
            model_name="agent",
            trigger=pgtrigger.compiler.Trigger(
                name="agent_moved",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition='WHEN (OLD."workspace_id" IS DISTINCT FROM (NEW."workspace_id"))',
                    func="\n        PERFORM task_usage_daily_enqueue_agent(OLD.id, ARRAY[OLD.workspace_id, NEW.workspace_id]);\n        RETURN NEW;\n    ",
                    hash="7b283d9731ba032e87d55d89b3ecd002aa92c146",
                    operation="UPDATE",
                    pgid="pgtrigger_agent_moved_8b7a8",
                    table="agent",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="agent",
            trigger=pgtrigger.compiler.Trigger(
                name="agent_deleted",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n        -- The cascade deletes the agent's tasks after this row, when their triggers can no longer\n        -- find the agent's workspace: queue all of the agent's buckets here, while it exists.\n        PERFORM task_usage_daily_enqueue_agent(OLD.id, ARRAY[OLD.workspace_id]);\n        RETURN OLD;\n    ",
                    hash="5f21afa0b806a7828a4a34d7b9086764b8533fd3",
                    operation="DELETE",
                    pgid="pgtrigger_agent_deleted_b0228",
                    table="agent",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="agenttaskqueue",
            trigger=pgtrigger.compiler.Trigger(
                name="task_reassigned",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition='WHEN (OLD."agent_id" IS DISTINCT FROM (NEW."agent_id") OR OLD."runtime_id" IS DISTINCT FROM (NEW."runtime_id"))',
                    func="\n        -- Upgrade our row lock to FOR UPDATE: it waits for every transaction still writing usage\n        -- of this task (their foreign-key check holds FOR KEY SHARE), so we read all of it.\n        PERFORM 1 FROM agent_task_queue WHERE id = OLD.id FOR UPDATE;\n        PERFORM task_usage_daily_enqueue_task(OLD.id, OLD.runtime_id, OLD.agent_id);\n        PERFORM task_usage_daily_enqueue_task(NEW.id, NEW.runtime_id, NEW.agent_id);\n        RETURN NEW;\n    ",
                    hash="4e9376b3779290bbf140329d6488ce923bfd72bb",
                    operation="UPDATE",
                    pgid="pgtrigger_task_reassigned_2c38b",
                    table="agent_task_queue",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="agenttaskqueue",
            trigger=pgtrigger.compiler.Trigger(
                name="task_deleted",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n        -- BEFORE: the task's usage rows, which the cascade removes next, are still here. Our\n        -- delete lock already waits out the task's in-flight usage writers.\n        PERFORM task_usage_daily_enqueue_task(OLD.id, OLD.runtime_id, OLD.agent_id);\n        RETURN OLD;\n    ",
                    hash="33ed50bb700d229b8f3d0c3fce95cbebe8c8ce10",
                    operation="DELETE",
                    pgid="pgtrigger_task_deleted_d5c2f",
                    table="agent_task_queue",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="taskusage",
            trigger=pgtrigger.compiler.Trigger(
                name="task_usage_updated",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n        -- The database's clock, never the client's: the watermark reasons about it.\n        NEW.updated_at := now();\n        -- The row's new bucket is found by updated_at; its old one only from here.\n        IF (task_usage_utc_day(OLD.created_at), OLD.provider, OLD.model, OLD.task_id)\n           IS DISTINCT FROM\n           (task_usage_utc_day(NEW.created_at), NEW.provider, NEW.model, NEW.task_id) THEN\n            PERFORM task_usage_daily_enqueue_usage_rows(ARRAY[OLD]);\n        END IF;\n        RETURN NEW;\n    ",
                    hash="4f4c3bc3f5f48ae911a89af07b37a21acf458319",
                    operation="UPDATE",
                    pgid="pgtrigger_task_usage_updated_f6ad9",
                    table="task_usage",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="taskusage",
            trigger=pgtrigger.compiler.Trigger(
                name="task_usage_deleted",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n        -- When the delete cascades from a task, the task row is already gone and this finds\n        -- nothing: the task's own trigger queued those buckets before the cascade.\n        PERFORM task_usage_daily_enqueue_usage_rows(\n            ARRAY(SELECT d::task_usage FROM deleted_usage AS d)\n        );\n        RETURN NULL;\n    ",
                    hash="fda54271fda4bfad846473f423f527ceb6229cda",
                    level="STATEMENT",
                    operation="DELETE",
                    pgid="pgtrigger_task_usage_deleted_8ce21",
                    referencing="REFERENCING OLD TABLE AS deleted_usage ",
                    table="task_usage",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="taskusage",
            trigger=pgtrigger.compiler.Trigger(
                name="task_usage_truncated",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n        INSERT INTO task_usage_daily_dirty (bucket_date, workspace_id, runtime_id, provider, model)\n        SELECT bucket_date, workspace_id, runtime_id, provider, model FROM task_usage_daily;\n        RETURN NULL;\n    ",
                    hash="1c168e37c4585fd234a45a734b39e1740e79e56f",
                    level="STATEMENT",
                    operation="TRUNCATE",
                    pgid="pgtrigger_task_usage_truncated_26a79",
                    table="task_usage",
                    when="AFTER",
                ),
            ),
        ),
    ]
