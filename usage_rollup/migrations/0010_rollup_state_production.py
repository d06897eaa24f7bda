"""The rollup's state for production: the clock-step guard, the backfill's lease and progress,
buckets set aside, and the dirty queue's bucket index (its deduplication looks rows up by key)."""

from django.db import migrations, models

import usage_rollup.models.expressions
from usage_rollup.operations import RunSQLFile


class Migration(migrations.Migration):
    dependencies = [
        ("usage_rollup", "0009_rollup_window_v2"),
    ]

    operations = [
        RunSQLFile(
            "task_usage_bucket_key.v1.sql",
            reverse_sql="DROP TYPE task_usage_bucket_key;",
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
            },
        ),
        migrations.AddField(
            model_name="taskusagerollupstate",
            name="backfill_finished_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="taskusagerollupstate",
            name="backfill_heartbeat_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="taskusagerollupstate",
            name="backfill_lease_until",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="taskusagerollupstate",
            name="backfill_owner",
            field=models.UUIDField(null=True),
        ),
        migrations.AddField(
            model_name="taskusagerollupstate",
            name="backfill_slices_done",
            field=models.IntegerField(null=True),
        ),
        migrations.AddField(
            model_name="taskusagerollupstate",
            name="backfill_slices_total",
            field=models.IntegerField(null=True),
        ),
        migrations.AddField(
            model_name="taskusagerollupstate",
            name="backfill_started_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="taskusagerollupstate",
            name="clock_steps_back",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="taskusagerollupstate",
            name="watermark_ahead_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="taskusagerollupstate",
            name="watermark_ahead_seconds",
            field=models.FloatField(null=True),
        ),
        migrations.AddField(
            model_name="taskusagerollupstate",
            name="watermark_xmin",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddIndex(
            model_name="taskusagedailydirty",
            index=models.Index(
                fields=["bucket_date", "workspace_id", "runtime_id", "provider", "model"],
                name="usage_dirty_bucket_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="taskusagedailysetaside",
            constraint=models.UniqueConstraint(
                fields=("bucket_date", "workspace_id", "runtime_id", "provider", "model"),
                name="task_usage_daily_set_aside_key",
            ),
        ),
    ]
