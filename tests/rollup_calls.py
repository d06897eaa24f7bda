"""Calls of the rollup's SQL functions, named for what a test means by them."""

EVERYTHING = ("-infinity", "infinity")


def roll_up_everything(cursor) -> int:
    """A window over all of time: every row is rediscovered and every queued bucket drained."""
    cursor.execute("SELECT rollup_task_usage_daily_window(%s, %s)", EVERYTHING)
    return cursor.fetchone()[0]


def roll_up_queue_only(cursor) -> int:
    """An empty window: only the buckets the invalidation triggers queued are recomputed, so a
    test sees exactly what the triggers caught."""
    cursor.execute("SELECT rollup_task_usage_daily_window('infinity', 'infinity')")
    return cursor.fetchone()[0]


def queued_buckets(cursor) -> set[tuple]:
    cursor.execute(
        "SELECT bucket_date, workspace_id, runtime_id, provider, model FROM task_usage_daily_dirty"
    )
    return set(cursor.fetchall())
