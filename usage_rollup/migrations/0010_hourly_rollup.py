"""The hourly rollup, task_usage_hourly (issue 13): days in any time zone are read from it.

Its hours are written with their daily bucket by the one recompute
(sql/task_usage_daily_recompute_slices.v3.sql), so the ticks, the backfill and verify's repair
keep it as they keep task_usage_daily. A database that already has history gets its hours here,
from the raw rows, in one pass under the rollup's lock (sql/task_usage_hourly_fill.v1.sql): no
second backfill is needed, and the zoned reads are exact from the moment the table exists.
The table is new, so its indexes are built with it, not CONCURRENTLY.
"""

from django.db import migrations, models

import usage_rollup.models.expressions
from usage_rollup.operations import SQL_DIR, RunSQLFile

SUMS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def _previous(name: str) -> str:
    return (SQL_DIR / name).read_text()


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0009_cheaper_path_choice")]

    operations = [
        RunSQLFile(
            "task_usage_utc_hour.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_utc_hour(timestamptz)",
        ),
        migrations.CreateModel(
            name="TaskUsageHourly",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("bucket_hour", models.DateTimeField()),
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
                "verbose_name": "hourly usage bucket",
                "db_table": "task_usage_hourly",
                "indexes": [
                    models.Index(
                        fields=["runtime_id", "-bucket_hour", "provider", "model"],
                        include=SUMS,
                        name="usage_hourly_runtime_read_idx",
                    ),
                    models.Index(
                        fields=["workspace_id", "-bucket_hour", "provider", "model"],
                        include=SUMS,
                        name="usage_hourly_ws_read_idx",
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("bucket_hour", "provider", "model", "workspace_id", "runtime_id"),
                        name="task_usage_hourly_bucket_key",
                    )
                ],
            },
        ),
        RunSQLFile(
            "task_usage_daily_recompute_slices.v3.sql",
            reverse_sql=_previous("task_usage_daily_recompute_slices.v2.sql"),
        ),
        RunSQLFile("task_usage_hourly_fill.v1.sql"),
    ]
