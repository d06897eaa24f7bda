"""Version 2 of the window function: whole dirty slices, and agents joined after aggregating
(why: usage_rollup/sql/rollup_task_usage_daily_window.v2.sql and benchmarks/README.md)."""

from django.db import migrations

from usage_rollup.operations import SQL_DIR, RunSQLFile


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0008_rollup_operate_permission")]

    operations = [
        RunSQLFile(
            "rollup_task_usage_daily_window.v2.sql",
            reverse_sql=(SQL_DIR / "rollup_task_usage_daily_window.v1.sql").read_text(),
        ),
    ]
