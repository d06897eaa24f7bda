"""The runtime's path of a tick (0005) finds a runtime's tasks by agent_task_queue.runtime_id:
an index on it, built CONCURRENTLY (atomic = False), only where the platform has none that
starts with that column."""

from django.db import migrations

from usage_rollup.operations import build_lookup_index


def build_index(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        build_lookup_index(
            cursor, "agent_task_queue_runtime_lookup_idx", "agent_task_queue", "runtime_id"
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("usage_rollup", "0005_tick_by_runtime")]

    operations = [migrations.RunPython(build_index, reverse_code=migrations.RunPython.noop)]
