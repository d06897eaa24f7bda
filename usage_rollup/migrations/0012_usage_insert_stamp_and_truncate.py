"""Stamp a client-sent updated_at with the database clock; TRUNCATE queues through the one enqueue."""

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("usage_rollup", "0011_rollup_functions_production"),
    ]

    operations = [
        pgtrigger.migrations.RemoveTrigger(
            model_name="taskusage",
            name="task_usage_truncated",
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="taskusage",
            trigger=pgtrigger.compiler.Trigger(
                name="task_usage_inserted",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    condition='WHEN (NEW."updated_at" IS DISTINCT FROM now())',
                    func="\n        NEW.updated_at := now();\n        RETURN NEW;\n    ",
                    hash="3f6a764ab7754d508b3ca9b56441f32c6711fae1",
                    operation="INSERT",
                    pgid="pgtrigger_task_usage_inserted_749e3",
                    table="task_usage",
                    when="BEFORE",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="taskusage",
            trigger=pgtrigger.compiler.Trigger(
                name="task_usage_truncated",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n        PERFORM task_usage_daily_enqueue_all();\n        RETURN NULL;\n    ",
                    hash="a29ce3bb84a80b24e38a5873a8be010bda1952d4",
                    level="STATEMENT",
                    operation="TRUNCATE",
                    pgid="pgtrigger_task_usage_truncated_26a79",
                    table="task_usage",
                    when="AFTER",
                ),
            ),
        ),
    ]
