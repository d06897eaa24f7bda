"""The reads' covering indexes on task_usage_daily, built without blocking the ticks' writes.

A scope's read of a period (queries.py) walks (scope, bucket_date DESC, provider, model) in the
order it returns its rows and takes the sums from the index itself: an index-only scan of the
period's entries, no sort, no heap page. Without them, at 10M rows, a 90-day read walked the
bucket key (bucket_date first) through every runtime's buckets of the period to get them
presorted by day (benchmarks/README.md).

CREATE INDEX CONCURRENTLY cannot run in a transaction, hence atomic = False; one index per
statement. The state records the indexes as the model's Meta.indexes declares them, while the
database builds them concurrently (an INVALID one left by an interrupted build is built again).
"""

from django.db import migrations, models

from usage_rollup.operations import build_index_concurrently

SUMS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
READ_INDEXES = {
    "usage_daily_runtime_read_idx": "runtime_id",
    "usage_daily_workspace_read_idx": "workspace_id",
}


def build_indexes(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        for name, column in READ_INDEXES.items():
            build_index_concurrently(
                cursor,
                name,
                f"task_usage_daily ({column}, bucket_date DESC, provider, model)"
                f" INCLUDE ({', '.join(SUMS)})",
            )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("usage_rollup", "0007_statement_level_task_triggers")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(build_indexes, reverse_code=migrations.RunPython.noop)
            ],
            state_operations=[
                migrations.AddIndex(
                    "taskusagedaily",
                    models.Index(
                        fields=[column, "-bucket_date", "provider", "model"],
                        include=SUMS,
                        name=name,
                    ),
                )
                for name, column in READ_INDEXES.items()
            ],
        )
    ]
