"""Days in any time zone from running sums by quarter hour (issue 13), instead of hours.

task_usage_hourly kept a row per UTC hour of each bucket: about 7.5 rows per daily row, so a
backfill cost up to 3.2x the daily-only one, a zoned read walked 24x the entries of a UTC one,
and a local day of a zone offset by 30 or 45 minutes needed its edge hours' raw rows.
task_usage_daily_quarters keeps one row per daily bucket, its running sums by quarter hour
(sql/task_usage_daily_recompute_slices.v4.sql writes both tables); any local day of a zone whose
midnights fall on quarter hours, every zone in use since the 1980s, is a difference of running
sums of at most three UTC days (sql/task_usage_local_day_parts.v1.sql). A database with history
gets its rows here, from the raw rows, in one pass under the rollup's lock
(sql/task_usage_daily_quarters_fill.v1.sql). Then the hourly table and its functions go.

Reversible: going back recreates task_usage_hourly and fills it from the raw rows again.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import migrations, models

import usage_rollup.models.expressions
from usage_rollup.operations import SQL_DIR, RunSQLFile

ARRAYS = (
    "quarters",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "event_count",
)


def _sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0011_local_days")]

    operations = [
        RunSQLFile(
            "task_usage_utc_quarter.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_utc_quarter(timestamptz)",
        ),
        RunSQLFile(
            "task_usage_local_day_parts.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_local_day_parts(date[], text)",
        ),
        migrations.CreateModel(
            name="TaskUsageDailyQuarters",
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
                ("quarters", ArrayField(base_field=models.SmallIntegerField(), size=None)),
                ("input_tokens", ArrayField(base_field=models.BigIntegerField(), size=None)),
                ("output_tokens", ArrayField(base_field=models.BigIntegerField(), size=None)),
                (
                    "cache_read_tokens",
                    ArrayField(base_field=models.BigIntegerField(), size=None),
                ),
                (
                    "cache_write_tokens",
                    ArrayField(base_field=models.BigIntegerField(), size=None),
                ),
                ("event_count", ArrayField(base_field=models.BigIntegerField(), size=None)),
                (
                    "updated_at",
                    models.DateTimeField(
                        db_default=usage_rollup.models.expressions.TransactionNow()
                    ),
                ),
            ],
            options={
                "verbose_name": "daily usage by quarter hour",
                "verbose_name_plural": "daily usage by quarter hour",
                "db_table": "task_usage_daily_quarters",
                "indexes": [
                    models.Index(
                        fields=["runtime_id", "-bucket_date"], name="usage_quarters_runtime_idx"
                    ),
                    models.Index(
                        fields=["workspace_id", "-bucket_date"],
                        name="usage_quarters_workspace_idx",
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("bucket_date", "workspace_id", "runtime_id", "provider", "model"),
                        name="task_usage_daily_quarters_key",
                    )
                ],
            },
        ),
        # The zoned reads take a few entries of each array, each time it is named: a compressed
        # array would be decompressed whole for every entry (pglz_decompress was 18% of a zoned
        # read's profile). A row is at most about 4.3 kB (96 quarters of five sums), so the
        # arrays always fit in the row uncompressed; the text columns may still be toasted.
        migrations.RunSQL(
            "ALTER TABLE task_usage_daily_quarters "
            + ", ".join(f"ALTER COLUMN {column} SET STORAGE PLAIN" for column in ARRAYS),
            reverse_sql=migrations.RunSQL.noop,
        ),
        RunSQLFile(
            "task_usage_daily_recompute_slices.v4.sql",
            reverse_sql=_sql("task_usage_daily_recompute_slices.v3.sql"),
        ),
        RunSQLFile("task_usage_daily_quarters_fill.v1.sql", reverse_sql=migrations.RunSQL.noop),
        # Backwards, the hourly table is back (DeleteModel reversed) before it is filled.
        migrations.RunSQL(
            migrations.RunSQL.noop, reverse_sql=_sql("task_usage_hourly_fill.v1.sql")
        ),
        migrations.DeleteModel(name="TaskUsageHourly"),
        migrations.RunSQL(
            "DROP FUNCTION task_usage_local_day_of_hour(timestamptz, text)",
            reverse_sql=_sql("task_usage_local_day_of_hour.v1.sql"),
        ),
        migrations.RunSQL(
            "DROP FUNCTION task_usage_utc_hour(timestamptz)",
            reverse_sql=_sql("task_usage_utc_hour.v1.sql"),
        ),
    ]
