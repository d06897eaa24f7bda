"""The indexes the rollup reads the platform's tables through, built without blocking writers.

CREATE INDEX CONCURRENTLY cannot run in a transaction, hence atomic = False; one index per
statement. An index of the same name left INVALID by an interrupted build is dropped and built
again; a valid one is kept, so running this again is safe.

Two are the rollup's own (rows changed in a window; one day's slice of a model). The other two
serve the invalidation triggers' lookups of a task's usage and of an agent's tasks, and are built
only where the platform has no index that starts with that column already.
"""

from django.db import migrations

ROLLUP_INDEXES = {
    "task_usage_updated_at_idx": "task_usage (updated_at)",
    # The expression of task_usage_utc_day() (sql/task_usage_utc_day.v1.sql) and of UTCDay.
    "task_usage_day_model_idx": "task_usage ((((created_at AT TIME ZONE 'UTC'))::date), provider, model)",
}

LOOKUP_INDEXES = {
    "task_usage_task_lookup_idx": ("task_usage", "task_id"),
    "agent_task_queue_agent_lookup_idx": ("agent_task_queue", "agent_id"),
}


def _build(cursor, name: str, definition: str) -> None:
    cursor.execute(
        "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)", [name]
    )
    found = cursor.fetchone()
    if found is not None and found[0]:
        return
    if found is not None:
        cursor.execute(f"DROP INDEX CONCURRENTLY {name}")
    cursor.execute(f"CREATE INDEX CONCURRENTLY {name} ON {definition}")


def _has_index_leading_with(cursor, table: str, column: str) -> bool:
    cursor.execute(
        """
        SELECT EXISTS (
            SELECT FROM pg_index i
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = to_regclass(%s) AND a.attname = %s AND i.indisvalid
        )
        """,
        [table, column],
    )
    return cursor.fetchone()[0]


def build_indexes(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        for name, definition in ROLLUP_INDEXES.items():
            _build(cursor, name, definition)
        for name, (table, column) in LOOKUP_INDEXES.items():
            if not _has_index_leading_with(cursor, table, column):
                _build(cursor, name, f"{table} ({column})")


class Migration(migrations.Migration):
    atomic = False

    replaces = [("usage_rollup", "0004_task_usage_rollup_indexes")]

    dependencies = [("usage_rollup", "0001_initial")]

    operations = [migrations.RunPython(build_indexes, reverse_code=migrations.RunPython.noop)]
