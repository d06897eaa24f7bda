"""Enable pg_cron where this server offers it; succeed quietly where it does not.

pg_cron must be in shared_preload_libraries and lives in one database (cron.database_name); any
other server or database skips this, and the rollup is scheduled with
`manage.py rollup_usage --loop` instead. The job itself is created by `schedule_usage_rollup`,
after the backfill, never by a migration.
"""

from django.db import migrations

ENABLE_PG_CRON = """
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_cron;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_cron not enabled here (%): schedule with manage.py rollup_usage --loop',
                 SQLERRM;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0006_invalidation_triggers")]

    operations = [migrations.RunSQL(ENABLE_PG_CRON, reverse_sql=migrations.RunSQL.noop)]
