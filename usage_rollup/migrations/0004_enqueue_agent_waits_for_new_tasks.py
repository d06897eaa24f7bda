"""An agent's move waits for the transactions creating tasks for it (sql file's header says why)."""

from django.db import migrations

from usage_rollup.operations import SQL_DIR, RunSQLFile


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0003_validate_task_usage_created_at")]

    operations = [
        RunSQLFile(
            "task_usage_daily_enqueue_agent.v3.sql",
            reverse_sql=(SQL_DIR / "task_usage_daily_enqueue_agent.v2.sql").read_text(),
        ),
    ]
