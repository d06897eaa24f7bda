"""The rollup's own objects, installed onto the platform's tables, whoever created them.

Before anything else it reads the schema (usage_rollup.schema) and stops, with every problem
named and nothing changed, if a table, column, type or foreign key the rollup needs is missing or
incompatible. Then, in one transaction: task_usage.updated_at where the platform has none
(metadata only: PostgreSQL stores the default now() once for every existing row, no rewrite); the
rollup's tables; its functions (usage_rollup/sql/, each file's header says why); the invalidation
triggers on the platform's tables; pg_cron where the server offers it; and the CHECK on
task_usage.created_at, NOT VALID (new rows are checked at once; 0003 validates the old ones
online). The indexes on task_usage are built concurrently by 0002.

The platform's tables appear here as unmanaged models: Django never creates, alters or drops
them. The bundled source tables are the optional app usage_rollup.source, whose migration runs
before this one.

A database migrated through the earlier history of this app (0001-0014, which also created the
platform's tables) is in the state these migrations produce; `replaces` marks it so.
"""

import pgtrigger.compiler
from django.db import migrations, models

import usage_rollup.models.expressions
from usage_rollup import schema
from usage_rollup.operations import InstallTrigger, RunSQLFile

CREATED_AT_CHECK = "task_usage_created_at_sane"
CREATED_AT_RANGE = (
    "created_at >= '2000-01-01 00:00:00+00' AND created_at < '2200-01-01 00:00:00+00'"
)


def require_compatible_schema(apps, schema_editor) -> None:
    schema.require_compatible(schema_editor.connection)


class Migration(migrations.Migration):
    initial = True

    replaces = [
        ("usage_rollup", name)
        for name in (
            "0002_task_usage_updated_at",
            "0003_rollup_tables",
            "0005_rollup_functions",
            "0006_invalidation_triggers",
            "0007_pg_cron",
            "0008_rollup_operate_permission",
            "0009_rollup_window_v2",
            "0010_rollup_state_production",
            "0011_rollup_functions_production",
            "0012_usage_insert_stamp_and_truncate",
            "0013_task_usage_created_at_sane",
        )
    ]

    dependencies = []

    operations = [
        migrations.RunPython(require_compatible_schema, reverse_code=migrations.RunPython.noop),
        migrations.RunSQL(
            "ALTER TABLE task_usage"
            " ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.CreateModel(
            name="Agent",
            fields=[
                ("id", models.UUIDField(primary_key=True, serialize=False)),
            ],
            options={
                "db_table": "agent",
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.CreateModel(
            name="AgentRuntime",
            fields=[
                ("id", models.UUIDField(primary_key=True, serialize=False)),
                ("name", models.TextField()),
            ],
            options={
                "db_table": "agent_runtime",
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.CreateModel(
            name="AgentTaskQueue",
            fields=[
                ("id", models.UUIDField(primary_key=True, serialize=False)),
            ],
            options={
                "db_table": "agent_task_queue",
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.CreateModel(
            name="TaskUsage",
            fields=[
                ("id", models.UUIDField(primary_key=True, serialize=False)),
                ("provider", models.TextField()),
                ("model", models.TextField()),
                ("input_tokens", models.BigIntegerField()),
                ("output_tokens", models.BigIntegerField()),
                ("cache_read_tokens", models.BigIntegerField()),
                ("cache_write_tokens", models.BigIntegerField()),
                ("created_at", models.DateTimeField()),
                ("updated_at", models.DateTimeField()),
            ],
            options={
                "db_table": "task_usage",
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.CreateModel(
            name="Workspace",
            fields=[
                ("id", models.UUIDField(primary_key=True, serialize=False)),
                ("name", models.TextField()),
            ],
            options={
                "db_table": "workspace",
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.CreateModel(
            name="TaskUsageDaily",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("bucket_date", models.DateField()),
                ("workspace_id", models.UUIDField()),
                ("runtime_id", models.UUIDField()),
                ("provider", models.TextField()),
                ("model", models.TextField()),
                ("input_tokens", models.BigIntegerField()),
                ("output_tokens", models.BigIntegerField()),
                ("cache_read_tokens", models.BigIntegerField()),
                ("cache_write_tokens", models.BigIntegerField()),
                ("event_count", models.BigIntegerField()),
                (
                    "updated_at",
                    models.DateTimeField(
                        db_default=usage_rollup.models.expressions.TransactionNow()
                    ),
                ),
            ],
            options={
                "verbose_name": "daily usage bucket",
                "db_table": "task_usage_daily",
                "indexes": [
                    models.Index(
                        fields=["runtime_id", "-bucket_date"], name="usage_daily_runtime_idx"
                    ),
                    models.Index(
                        fields=["workspace_id", "-bucket_date"], name="usage_daily_workspace_idx"
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("bucket_date", "workspace_id", "runtime_id", "provider", "model"),
                        name="task_usage_daily_bucket_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="TaskUsageDailyDirty",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("bucket_date", models.DateField()),
                ("workspace_id", models.UUIDField()),
                ("runtime_id", models.UUIDField()),
                ("provider", models.TextField()),
                ("model", models.TextField()),
                (
                    "enqueued_at",
                    models.DateTimeField(
                        db_default=usage_rollup.models.expressions.TransactionNow()
                    ),
                ),
            ],
            options={
                "verbose_name": "dirty bucket",
                "db_table": "task_usage_daily_dirty",
                "indexes": [
                    models.Index(fields=["enqueued_at"], name="usage_dirty_enqueued_idx"),
                    models.Index(
                        fields=["bucket_date", "workspace_id", "runtime_id", "provider", "model"],
                        name="usage_dirty_bucket_idx",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="TaskUsageDailySetAside",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("bucket_date", models.DateField()),
                ("workspace_id", models.UUIDField()),
                ("runtime_id", models.UUIDField()),
                ("provider", models.TextField()),
                ("model", models.TextField()),
                ("error", models.TextField()),
                (
                    "first_failed_at",
                    models.DateTimeField(
                        db_default=usage_rollup.models.expressions.TransactionNow()
                    ),
                ),
                (
                    "last_failed_at",
                    models.DateTimeField(
                        db_default=usage_rollup.models.expressions.TransactionNow()
                    ),
                ),
                ("attempts", models.BigIntegerField(db_default=1, default=1)),
            ],
            options={
                "verbose_name": "set-aside bucket",
                "db_table": "task_usage_daily_set_aside",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("bucket_date", "workspace_id", "runtime_id", "provider", "model"),
                        name="task_usage_daily_set_aside_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="TaskUsageRollupState",
            fields=[
                (
                    "id",
                    models.SmallIntegerField(
                        db_default=1, default=1, primary_key=True, serialize=False
                    ),
                ),
                ("watermark_at", models.DateTimeField(null=True)),
                ("last_run_started_at", models.DateTimeField(null=True)),
                ("last_run_finished_at", models.DateTimeField(null=True)),
                ("last_run_rows", models.BigIntegerField(null=True)),
                ("last_error", models.TextField(null=True)),
                ("last_error_at", models.DateTimeField(null=True)),
                ("failed_runs", models.BigIntegerField(db_default=0, default=0)),
                ("watermark_xmin", models.BigIntegerField(null=True)),
                ("watermark_ahead_at", models.DateTimeField(null=True)),
                ("watermark_ahead_seconds", models.FloatField(null=True)),
                ("clock_steps_back", models.BigIntegerField(db_default=0, default=0)),
                ("backfill_owner", models.UUIDField(null=True)),
                ("backfill_started_at", models.DateTimeField(null=True)),
                ("backfill_heartbeat_at", models.DateTimeField(null=True)),
                ("backfill_lease_until", models.DateTimeField(null=True)),
                ("backfill_finished_at", models.DateTimeField(null=True)),
                ("backfill_slices_total", models.IntegerField(null=True)),
                ("backfill_slices_done", models.IntegerField(null=True)),
            ],
            options={
                "verbose_name": "rollup state",
                "verbose_name_plural": "rollup state",
                "db_table": "task_usage_rollup_state",
                "permissions": [
                    ("operate_rollup", "Can run a rollup tick and queue buckets for recompute")
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("id", 1)), name="task_usage_rollup_state_one_row"
                    )
                ],
            },
        ),
        migrations.RunSQL(
            "INSERT INTO task_usage_rollup_state (id) VALUES (1) ON CONFLICT (id) DO NOTHING;",
            reverse_sql=migrations.RunSQL.noop,
        ),
        RunSQLFile("task_usage_utc_day.v1.sql"),
        RunSQLFile("task_usage_bucket_key.v1.sql"),
        RunSQLFile("task_usage_rollup_horizon.v2.sql"),
        RunSQLFile("task_usage_rollup_lag_seconds.v1.sql"),
        RunSQLFile("task_usage_rollup_record_failure.v1.sql"),
        RunSQLFile("task_usage_daily_enqueue.v1.sql"),
        RunSQLFile("task_usage_daily_enqueue_usage_rows.v2.sql"),
        RunSQLFile("task_usage_daily_enqueue_task.v2.sql"),
        RunSQLFile("task_usage_daily_enqueue_agent.v2.sql"),
        RunSQLFile("task_usage_daily_enqueue_all.v1.sql"),
        RunSQLFile("task_usage_daily_slices_reset.v1.sql"),
        RunSQLFile("task_usage_daily_recompute_slices.v1.sql"),
        RunSQLFile("rollup_task_usage_daily_window.v3.sql"),
        RunSQLFile("task_usage_rollup_backfill_running.v1.sql"),
        RunSQLFile("rollup_task_usage_daily.v2.sql"),
        RunSQLFile("rollup_task_usage_daily_backfill_begin.v1.sql"),
        RunSQLFile("rollup_task_usage_daily_backfill_slice.v1.sql"),
        RunSQLFile("rollup_task_usage_daily_backfill_finish.v1.sql"),
        RunSQLFile("rollup_task_usage_daily_backfill_abandon.v1.sql"),
        InstallTrigger(
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
        InstallTrigger(
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
        InstallTrigger(
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
        InstallTrigger(
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
        InstallTrigger(
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
        InstallTrigger(
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
        InstallTrigger(
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
        InstallTrigger(
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
        migrations.RunSQL(
            """
            DO $$
            BEGIN
                CREATE EXTENSION IF NOT EXISTS pg_cron;
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'pg_cron not enabled here (%): schedule with manage.py rollup_usage'
                             ' --loop', SQLERRM;
            END
            $$;
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunSQL(
            f"ALTER TABLE task_usage ADD CONSTRAINT {CREATED_AT_CHECK}"
            f" CHECK ({CREATED_AT_RANGE}) NOT VALID;",
            reverse_sql=f"ALTER TABLE task_usage DROP CONSTRAINT {CREATED_AT_CHECK};",
        ),
    ]
