"""The bundled platform tables, as a platform has them before the rollup (SPEC section 2).

Runs before the rollup's first migration, which then adds only its own objects. A database
created by the earlier history of usage_rollup (whose 0001 created these tables) has them
already; `replaces` marks this migration applied there without running it.
"""

import uuid

import django.contrib.postgres.functions
import django.db.models.deletion
from django.db import migrations, models

import usage_rollup.models.expressions

FOREIGN_KEYS = """
-- Real ON DELETE CASCADE foreign keys (SPEC section 2): rows are also deleted by clients other
-- than Django. Immediate, as a platform's own SQL creates them; the rollup relies on the row lock
-- a writer's foreign-key check takes, which a deferred check takes too (usage_rollup/schema.py).
ALTER TABLE agent_runtime ADD CONSTRAINT agent_runtime_workspace_id_fkey
    FOREIGN KEY (workspace_id) REFERENCES workspace (id) ON DELETE CASCADE;
ALTER TABLE agent ADD CONSTRAINT agent_workspace_id_fkey
    FOREIGN KEY (workspace_id) REFERENCES workspace (id) ON DELETE CASCADE;
ALTER TABLE issue ADD CONSTRAINT issue_workspace_id_fkey
    FOREIGN KEY (workspace_id) REFERENCES workspace (id) ON DELETE CASCADE;
ALTER TABLE agent_task_queue ADD CONSTRAINT agent_task_queue_agent_id_fkey
    FOREIGN KEY (agent_id) REFERENCES agent (id) ON DELETE CASCADE;
ALTER TABLE agent_task_queue ADD CONSTRAINT agent_task_queue_issue_id_fkey
    FOREIGN KEY (issue_id) REFERENCES issue (id) ON DELETE CASCADE;
ALTER TABLE agent_task_queue ADD CONSTRAINT agent_task_queue_runtime_id_fkey
    FOREIGN KEY (runtime_id) REFERENCES agent_runtime (id) ON DELETE CASCADE;
ALTER TABLE task_usage ADD CONSTRAINT task_usage_task_id_fkey
    FOREIGN KEY (task_id) REFERENCES agent_task_queue (id) ON DELETE CASCADE;
"""

DROP_FOREIGN_KEYS = """
ALTER TABLE task_usage DROP CONSTRAINT task_usage_task_id_fkey;
ALTER TABLE agent_task_queue DROP CONSTRAINT agent_task_queue_runtime_id_fkey;
ALTER TABLE agent_task_queue DROP CONSTRAINT agent_task_queue_issue_id_fkey;
ALTER TABLE agent_task_queue DROP CONSTRAINT agent_task_queue_agent_id_fkey;
ALTER TABLE issue DROP CONSTRAINT issue_workspace_id_fkey;
ALTER TABLE agent DROP CONSTRAINT agent_workspace_id_fkey;
ALTER TABLE agent_runtime DROP CONSTRAINT agent_runtime_workspace_id_fkey;
"""


class Migration(migrations.Migration):
    initial = True

    replaces = [("usage_rollup", "0001_source_schema")]

    run_before = [("usage_rollup", "0001_initial")]

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Agent",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("name", models.TextField()),
            ],
            options={
                "db_table": "agent",
            },
        ),
        migrations.CreateModel(
            name="AgentRuntime",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("name", models.TextField()),
                ("provider", models.TextField(db_default="")),
            ],
            options={
                "db_table": "agent_runtime",
            },
        ),
        migrations.CreateModel(
            name="Issue",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("title", models.TextField()),
            ],
            options={
                "db_table": "issue",
            },
        ),
        migrations.CreateModel(
            name="Workspace",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("name", models.TextField()),
                ("slug", models.TextField(unique=True)),
            ],
            options={
                "db_table": "workspace",
            },
        ),
        migrations.CreateModel(
            name="AgentTaskQueue",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("status", models.TextField(db_default="queued")),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=usage_rollup.models.expressions.TransactionNow()
                    ),
                ),
                (
                    "agent",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="tasks",
                        to="usage_rollup_source.agent",
                    ),
                ),
                (
                    "runtime",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="tasks",
                        to="usage_rollup_source.agentruntime",
                    ),
                ),
                (
                    "issue",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="tasks",
                        to="usage_rollup_source.issue",
                    ),
                ),
            ],
            options={
                "verbose_name": "task",
                "db_table": "agent_task_queue",
            },
        ),
        migrations.AddField(
            model_name="issue",
            name="workspace",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="issues",
                to="usage_rollup_source.workspace",
            ),
        ),
        migrations.AddField(
            model_name="agentruntime",
            name="workspace",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="runtimes",
                to="usage_rollup_source.workspace",
            ),
        ),
        migrations.AddField(
            model_name="agent",
            name="workspace",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="agents",
                to="usage_rollup_source.workspace",
            ),
        ),
        migrations.CreateModel(
            name="TaskUsage",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("provider", models.TextField(db_default="")),
                ("model", models.TextField()),
                ("input_tokens", models.BigIntegerField(db_default=0)),
                ("output_tokens", models.BigIntegerField(db_default=0)),
                ("cache_read_tokens", models.BigIntegerField(db_default=0)),
                ("cache_write_tokens", models.BigIntegerField(db_default=0)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=usage_rollup.models.expressions.TransactionNow()
                    ),
                ),
                (
                    "updated_at",
                    models.DateTimeField(
                        db_default=usage_rollup.models.expressions.TransactionNow()
                    ),
                ),
                (
                    "task",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="usage",
                        to="usage_rollup_source.agenttaskqueue",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "task usage",
                "db_table": "task_usage",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("task", "provider", "model"),
                        name="task_usage_task_provider_model_key",
                    )
                ],
            },
        ),
        migrations.RunSQL(FOREIGN_KEYS, reverse_sql=DROP_FOREIGN_KEYS),
    ]
