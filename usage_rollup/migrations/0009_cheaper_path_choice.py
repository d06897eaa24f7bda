"""A tick chooses its runtimes' paths in tiers and counts shared slices once, groups the changed
rows by task before it looks their tasks up, and empties its work tables without TRUNCATE; the
usage delete trigger reads the owners a cascade recorded into arrays instead of joining a table
whose statistics say it is empty (the SQL files' headers say what each cost, measured)."""

from django.db import migrations

from usage_rollup.operations import SQL_DIR, RunSQLFile


def _previous(name: str) -> str:
    return (SQL_DIR / name).read_text()


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0008_rollup_read_indexes")]

    operations = [
        RunSQLFile(
            "task_usage_daily_slices_reset.v3.sql",
            reverse_sql=_previous("task_usage_daily_slices_reset.v2.sql"),
        ),
        RunSQLFile(
            "task_usage_daily_choose_paths.v2.sql",
            reverse_sql=_previous("task_usage_daily_choose_paths.v1.sql"),
        ),
        RunSQLFile(
            "task_usage_daily_enqueue_usage_rows.v4.sql",
            reverse_sql=_previous("task_usage_daily_enqueue_usage_rows.v3.sql"),
        ),
        RunSQLFile(
            "rollup_task_usage_daily_window.v6.sql",
            reverse_sql=_previous("rollup_task_usage_daily_window.v5.sql"),
        ),
    ]
