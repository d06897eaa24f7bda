"""The indexes the rollup reads the platform's tables through, built without blocking writers.

CREATE INDEX CONCURRENTLY cannot run in a transaction, hence atomic = False; one index per
statement. An index of the same name left INVALID by an interrupted build is dropped and built
again; a valid one is kept, so running this again is safe.

Two are the rollup's own (rows changed in a window; one day's slice of a model). The other two
serve the invalidation triggers' lookups of a task's usage and of an agent's tasks, and are built
only where the platform has no index that starts with that column already.
"""

from django.db import migrations

from usage_rollup.operations import build_index_concurrently, build_lookup_index

ROLLUP_INDEXES = {
    "task_usage_updated_at_idx": "task_usage (updated_at)",
    # The expression of task_usage_utc_day() (sql/task_usage_utc_day.v1.sql) and of UTCDay.
    "task_usage_day_model_idx": "task_usage ((((created_at AT TIME ZONE 'UTC'))::date), provider, model)",
}

LOOKUP_INDEXES = {
    "task_usage_task_lookup_idx": ("task_usage", "task_id"),
    "agent_task_queue_agent_lookup_idx": ("agent_task_queue", "agent_id"),
}


def build_indexes(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        for name, definition in ROLLUP_INDEXES.items():
            build_index_concurrently(cursor, name, definition)
        for name, (table, column) in LOOKUP_INDEXES.items():
            build_lookup_index(cursor, name, table, column)


class Migration(migrations.Migration):
    atomic = False

    replaces = [("usage_rollup", "0004_task_usage_rollup_indexes")]

    dependencies = [("usage_rollup", "0001_initial")]

    operations = [migrations.RunPython(build_indexes, reverse_code=migrations.RunPython.noop)]
