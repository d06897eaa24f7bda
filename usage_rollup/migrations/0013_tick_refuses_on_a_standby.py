"""The SQL entry point refuses on a hot standby by name (issue 14): a tick that pg_cron, psql or
another language's client runs there raised nothing and returned NULL after PostgreSQL's generic
read-only error; it now raises read_only_sql_transaction, saying to tick on the primary."""

from django.db import migrations

from usage_rollup.operations import SQL_DIR, RunSQLFile


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0012_quarter_hour_rollup")]

    operations = [
        RunSQLFile(
            "rollup_task_usage_daily.v3.sql",
            reverse_sql=(SQL_DIR / "rollup_task_usage_daily.v2.sql").read_text(),
        ),
    ]
