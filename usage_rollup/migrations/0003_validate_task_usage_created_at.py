"""Validate task_usage_created_at_sane, added NOT VALID by 0001: a scan that does not block
writers (SHARE UPDATE EXCLUSIVE). Rows that predate the constraint and break it stop the migration first, with their
count and how to find them, and nothing is changed."""

from django.db import migrations

CONSTRAINT = "task_usage_created_at_sane"


def validate(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), min(created_at)::text, max(created_at)::text
              FROM task_usage
             WHERE NOT (created_at >= '2000-01-01 00:00:00+00'
                        AND created_at < '2200-01-01 00:00:00+00')
            """
        )
        bad, earliest, latest = cursor.fetchone()
        if bad:
            raise RuntimeError(
                f"{bad} task_usage rows are dated outside 2000-2199 UTC (from {earliest} to "
                f"{latest}), which the rollup cannot bucket. Correct or delete them (SELECT id, "
                "created_at FROM task_usage WHERE NOT (created_at >= '2000-01-01+00' AND "
                "created_at < '2200-01-01+00')), then run migrate again."
            )
        cursor.execute(f"ALTER TABLE task_usage VALIDATE CONSTRAINT {CONSTRAINT}")


class Migration(migrations.Migration):
    replaces = [("usage_rollup", "0014_validate_task_usage_created_at")]

    dependencies = [("usage_rollup", "0002_task_usage_indexes")]

    operations = [migrations.RunPython(validate, reverse_code=migrations.RunPython.noop)]
