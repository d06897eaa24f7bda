"""Refuse usage rows dated outside 2000-2199 UTC (infinity, -infinity and BC included).

Such a day breaks every tool that turns a bucket day into a Python date ("date too large"), and a
row in 1900 stretches a backfill over centuries of empty slices. No real token usage is dated
there, so the database refuses it at write, for every client.

Online: the constraint is added NOT VALID here (a brief lock, no scan; new rows are checked from
now on) and validated by the next migration, which scans the table without blocking writers.
"""

from django.db import migrations

CONSTRAINT = "task_usage_created_at_sane"
CHECK = "created_at >= '2000-01-01 00:00:00+00' AND created_at < '2200-01-01 00:00:00+00'"


class Migration(migrations.Migration):
    dependencies = [("usage_rollup", "0012_usage_insert_stamp_and_truncate")]

    operations = [
        migrations.RunSQL(
            f"ALTER TABLE task_usage ADD CONSTRAINT {CONSTRAINT} CHECK ({CHECK}) NOT VALID;",
            reverse_sql=f"ALTER TABLE task_usage DROP CONSTRAINT {CONSTRAINT};",
        ),
    ]
