"""The rollup's SQL functions, one file of usage_rollup/sql/ each."""

from django.db import migrations

from usage_rollup.operations import RunSQLFile


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0004_task_usage_rollup_indexes")]

    operations = [
        RunSQLFile(
            "task_usage_utc_day.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_utc_day(timestamptz);",
        ),
        RunSQLFile(
            "task_usage_daily_enqueue_usage_rows.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_daily_enqueue_usage_rows(task_usage[]);",
        ),
        RunSQLFile(
            "task_usage_daily_enqueue_task.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_daily_enqueue_task(uuid, uuid, uuid);",
        ),
        RunSQLFile(
            "task_usage_daily_enqueue_agent.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_daily_enqueue_agent(uuid, uuid[]);",
        ),
        RunSQLFile(
            "task_usage_rollup_horizon.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_rollup_horizon();",
        ),
        RunSQLFile(
            "rollup_task_usage_daily_window.v1.sql",
            reverse_sql="DROP FUNCTION rollup_task_usage_daily_window(timestamptz, timestamptz);",
        ),
        RunSQLFile(
            "rollup_task_usage_daily.v1.sql",
            reverse_sql="DROP FUNCTION rollup_task_usage_daily(interval);",
        ),
        RunSQLFile(
            "task_usage_rollup_lag_seconds.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_rollup_lag_seconds();",
        ),
    ]
