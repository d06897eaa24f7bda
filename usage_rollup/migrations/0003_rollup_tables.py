"""The rollup table, its invalidation queue and its state row."""

from django.db import migrations, models

import usage_rollup.models.expressions


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0002_task_usage_updated_at")]

    operations = [
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
                "indexes": [models.Index(fields=["enqueued_at"], name="usage_dirty_enqueued_idx")],
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
            ],
            options={
                "verbose_name": "rollup state",
                "verbose_name_plural": "rollup state",
                "db_table": "task_usage_rollup_state",
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
    ]
