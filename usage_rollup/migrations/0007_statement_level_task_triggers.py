"""The tasks' triggers become statement-level: deleting or moving 10,000 tasks makes one call
over the statement's transition tables instead of one or two per task (the SQL files' headers say
how a cascade's task and usage triggers meet through task_usage_daily_deleted_tasks)."""

import pgtrigger.compiler
from django.db import migrations

from usage_rollup.operations import SQL_DIR, InstallTrigger, RunSQLFile, UninstallTrigger


def _previous(name: str) -> str:
    return (SQL_DIR / name).read_text()


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0006_task_runtime_lookup_index")]

    operations = [
        RunSQLFile(
            "task_usage_daily_deleted_rows.v1.sql",
            reverse_sql="""
                DROP FUNCTION task_usage_daily_forget_deletes();
                DROP TABLE task_usage_daily_deleted_usage, task_usage_daily_deleted_tasks;
                DROP TYPE task_usage_task_owner;
            """,
        ),
        RunSQLFile(
            "task_usage_daily_enqueue_usage_rows.v3.sql",
            reverse_sql=_previous("task_usage_daily_enqueue_usage_rows.v2.sql"),
        ),
        RunSQLFile(
            "task_usage_daily_enqueue_deleted_tasks.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_daily_enqueue_deleted_tasks(task_usage_task_owner[]);",
        ),
        RunSQLFile(
            "task_usage_daily_enqueue_moved_tasks.v1.sql",
            reverse_sql=(
                "DROP FUNCTION task_usage_daily_enqueue_moved_tasks("
                "task_usage_task_owner[], task_usage_task_owner[]);"
            ),
        ),
        RunSQLFile(
            "rollup_task_usage_daily_window.v5.sql",
            reverse_sql=_previous("rollup_task_usage_daily_window.v4.sql"),
        ),
        UninstallTrigger(model_name="agenttaskqueue", name="task_reassigned"),
        UninstallTrigger(model_name="agenttaskqueue", name="task_deleted"),
        UninstallTrigger(model_name="taskusage", name="task_usage_deleted"),
        InstallTrigger(
            model_name="agenttaskqueue",
            trigger=pgtrigger.compiler.Trigger(
                name="task_reassigned",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    declare="DECLARE moved_from task_usage_task_owner[]; moved_to task_usage_task_owner[]; kept_ids bigint;",
                    func="\n        SELECT array_agg(ROW(o.id, o.runtime_id, o.agent_id)::task_usage_task_owner)\n                   FILTER (WHERE (o.runtime_id, o.agent_id)\n                                 IS DISTINCT FROM (n.runtime_id, n.agent_id)),\n               array_agg(ROW(n.id, n.runtime_id, n.agent_id)::task_usage_task_owner)\n                   FILTER (WHERE (o.runtime_id, o.agent_id)\n                                 IS DISTINCT FROM (n.runtime_id, n.agent_id)),\n               count(*)\n          INTO moved_from, moved_to, kept_ids\n          FROM old_tasks AS o\n          JOIN new_tasks AS n ON n.id = o.id;\n        IF moved_from IS NOT NULL THEN\n            PERFORM task_usage_daily_enqueue_moved_tasks(moved_from, moved_to);\n        END IF;\n        -- A task whose id changed is, for the rollup, deleted: its usage follows the new id (ON\n        -- UPDATE CASCADE), and the usage's trigger finds the old owner recorded here.\n        IF kept_ids < (SELECT count(*) FROM old_tasks) THEN\n            PERFORM task_usage_daily_enqueue_deleted_tasks(ARRAY(\n                SELECT ROW(o.id, o.runtime_id, o.agent_id)::task_usage_task_owner\n                  FROM old_tasks AS o\n                 WHERE NOT EXISTS (SELECT FROM new_tasks AS n WHERE n.id = o.id)));\n        END IF;\n        RETURN NULL;\n    ",
                    hash="0fb4c2b48d47d6cefa6b1d4add9d140edf1171fe",
                    level="STATEMENT",
                    operation="UPDATE",
                    pgid="pgtrigger_task_reassigned_2c38b",
                    referencing="REFERENCING OLD TABLE AS old_tasks  NEW TABLE AS new_tasks ",
                    table="agent_task_queue",
                    when="AFTER",
                ),
            ),
        ),
        InstallTrigger(
            model_name="agenttaskqueue",
            trigger=pgtrigger.compiler.Trigger(
                name="task_deleted",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n        PERFORM task_usage_daily_enqueue_deleted_tasks(\n            ARRAY(SELECT ROW(d.id, d.runtime_id, d.agent_id)::task_usage_task_owner\n                    FROM deleted_tasks AS d)\n        );\n        RETURN NULL;\n    ",
                    hash="613125ca581b799653c7d84804183166de687cef",
                    level="STATEMENT",
                    operation="DELETE",
                    pgid="pgtrigger_task_deleted_d5c2f",
                    referencing="REFERENCING OLD TABLE AS deleted_tasks ",
                    table="agent_task_queue",
                    when="AFTER",
                ),
            ),
        ),
        InstallTrigger(
            model_name="taskusage",
            trigger=pgtrigger.compiler.Trigger(
                name="task_usage_deleted",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n        -- When the delete cascades from a task, the task row is already gone: the task's own\n        -- trigger recorded its owner for this one (sql/task_usage_daily_deleted_rows.v1.sql).\n        PERFORM task_usage_daily_enqueue_usage_rows(\n            ARRAY(SELECT d::task_usage FROM deleted_usage AS d)\n        );\n        RETURN NULL;\n    ",
                    hash="0fe1038ac4a1ca233cfe0e35a874b02cd4dd9444",
                    level="STATEMENT",
                    operation="DELETE",
                    pgid="pgtrigger_task_usage_deleted_8ce21",
                    referencing="REFERENCING OLD TABLE AS deleted_usage ",
                    table="task_usage",
                    when="AFTER",
                ),
            ),
        ),
        # Its last callers were the row-level triggers removed above.
        migrations.RunSQL(
            "DROP FUNCTION task_usage_daily_enqueue_task(uuid, uuid, uuid);",
            reverse_sql=_previous("task_usage_daily_enqueue_task.v2.sql"),
        ),
    ]
