"""A tick recomputes each runtime's dirty buckets by the cheaper of its own tasks' rows and its
slices' rows (rollup_task_usage_daily_window.v4.sql's header says why)."""

from django.db import migrations

from usage_rollup.operations import SQL_DIR, RunSQLFile


def _previous(name: str) -> str:
    return (SQL_DIR / name).read_text()


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0004_enqueue_agent_waits_for_new_tasks")]

    operations = [
        RunSQLFile(
            "task_usage_daily_slices_reset.v2.sql",
            reverse_sql=_previous("task_usage_daily_slices_reset.v1.sql"),
        ),
        RunSQLFile(
            "task_usage_daily_recompute_slices.v2.sql",
            reverse_sql=_previous("task_usage_daily_recompute_slices.v1.sql"),
        ),
        RunSQLFile(
            "task_usage_daily_choose_paths.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_daily_choose_paths();",
        ),
        RunSQLFile(
            "rollup_task_usage_daily_window.v4.sql",
            reverse_sql=_previous("rollup_task_usage_daily_window.v3.sql"),
        ),
    ]
