"""The local days of a viewer's time zone, as the zoned reads count them (queries.py): a raw row's
(sql/task_usage_local_day.v1.sql) and a whole UTC hour's of task_usage_hourly
(sql/task_usage_local_day_of_hour.v1.sql)."""

from django.db import migrations

from usage_rollup.operations import RunSQLFile


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0010_hourly_rollup")]

    operations = [
        RunSQLFile(
            "task_usage_local_day.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_local_day(timestamptz, text)",
        ),
        RunSQLFile(
            "task_usage_local_day_of_hour.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_local_day_of_hour(timestamptz, text)",
        ),
    ]
