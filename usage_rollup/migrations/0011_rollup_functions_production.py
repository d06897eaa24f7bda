"""The rollup's functions for production (issue 10 of the tracker; each file's header says why):
the horizon refuses a role that cannot see other sessions, the queue is deduplicated and drained
in bounded batches, a bucket that cannot be computed is set aside, the entry point keeps the
watermark behind the clock and recovers from a clock that stepped back, and the backfill holds a
lease in the state row instead of a session lock."""

from django.db import migrations

from usage_rollup.operations import SQL_DIR, RunSQLFile


def _previous(name: str) -> str:
    return (SQL_DIR / name).read_text()


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0010_rollup_state_production")]

    operations = [
        RunSQLFile(
            "task_usage_rollup_horizon.v2.sql",
            reverse_sql=_previous("task_usage_rollup_horizon.v1.sql"),
        ),
        RunSQLFile(
            "task_usage_daily_enqueue.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_daily_enqueue(task_usage_bucket_key[]);",
        ),
        RunSQLFile(
            "task_usage_daily_enqueue_usage_rows.v2.sql",
            reverse_sql=_previous("task_usage_daily_enqueue_usage_rows.v1.sql"),
        ),
        RunSQLFile(
            "task_usage_daily_enqueue_task.v2.sql",
            reverse_sql=_previous("task_usage_daily_enqueue_task.v1.sql"),
        ),
        RunSQLFile(
            "task_usage_daily_enqueue_agent.v2.sql",
            reverse_sql=_previous("task_usage_daily_enqueue_agent.v1.sql"),
        ),
        RunSQLFile(
            "task_usage_daily_enqueue_all.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_daily_enqueue_all();",
        ),
        RunSQLFile(
            "task_usage_daily_slices_reset.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_daily_slices_reset();",
        ),
        RunSQLFile(
            "task_usage_daily_recompute_slices.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_daily_recompute_slices();",
        ),
        RunSQLFile(
            "rollup_task_usage_daily_window.v3.sql",
            reverse_sql=_previous("rollup_task_usage_daily_window.v2.sql"),
        ),
        RunSQLFile(
            "task_usage_rollup_record_failure.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_rollup_record_failure(timestamptz, text);",
        ),
        RunSQLFile(
            "task_usage_rollup_backfill_running.v1.sql",
            reverse_sql="DROP FUNCTION task_usage_rollup_backfill_running();",
        ),
        RunSQLFile(
            "rollup_task_usage_daily.v2.sql",
            reverse_sql=_previous("rollup_task_usage_daily.v1.sql"),
        ),
        RunSQLFile(
            "rollup_task_usage_daily_backfill_begin.v1.sql",
            reverse_sql="DROP FUNCTION rollup_task_usage_daily_backfill_begin(uuid, integer, interval);",
        ),
        RunSQLFile(
            "rollup_task_usage_daily_backfill_slice.v1.sql",
            reverse_sql="DROP FUNCTION rollup_task_usage_daily_backfill_slice(uuid, date, date, interval);",
        ),
        RunSQLFile(
            "rollup_task_usage_daily_backfill_finish.v1.sql",
            reverse_sql="DROP FUNCTION rollup_task_usage_daily_backfill_finish(uuid, timestamptz);",
        ),
        RunSQLFile(
            "rollup_task_usage_daily_backfill_abandon.v1.sql",
            reverse_sql="DROP FUNCTION rollup_task_usage_daily_backfill_abandon(uuid);",
        ),
    ]
