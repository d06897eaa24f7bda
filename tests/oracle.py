"""The ground truth the rollup is judged by: a plain GROUP BY over task_usage.

Written independently of the rollup's SQL on purpose (no shared function or view): if the
rollup's idea of a bucket drifts from SPEC section 3, this disagrees with it.
"""

BUCKETS_FROM_RAW = """
    SELECT (tu.created_at AT TIME ZONE 'UTC')::date, a.workspace_id, t.runtime_id,
           tu.provider, tu.model,
           sum(tu.input_tokens), sum(tu.output_tokens), sum(tu.cache_read_tokens),
           sum(tu.cache_write_tokens), count(*)
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
      JOIN agent a ON a.id = t.agent_id
     WHERE t.runtime_id IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5
"""

BUCKETS_FROM_ROLLUP = """
    SELECT bucket_date, workspace_id, runtime_id, provider, model,
           input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, event_count
      FROM task_usage_daily
"""


# The hourly rollup's ground truth: the same rows, by UTC hour (as a naive UTC timestamp).
HOURS_FROM_RAW = """
    SELECT date_trunc('hour', tu.created_at AT TIME ZONE 'UTC'), a.workspace_id, t.runtime_id,
           tu.provider, tu.model,
           sum(tu.input_tokens), sum(tu.output_tokens), sum(tu.cache_read_tokens),
           sum(tu.cache_write_tokens), count(*)
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
      JOIN agent a ON a.id = t.agent_id
     WHERE t.runtime_id IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5
"""

HOURS_FROM_ROLLUP = """
    SELECT bucket_hour AT TIME ZONE 'UTC', workspace_id, runtime_id, provider, model,
           input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, event_count
      FROM task_usage_hourly
"""


# The days of a viewer's time zone: the same rows, by their local day there (issue 13).
LOCAL_DAYS_FROM_RAW = """
    SELECT (tu.created_at AT TIME ZONE %s)::date, a.workspace_id, t.runtime_id,
           tu.provider, tu.model,
           sum(tu.input_tokens), sum(tu.output_tokens), sum(tu.cache_read_tokens),
           sum(tu.cache_write_tokens), count(*)
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
      JOIN agent a ON a.id = t.agent_id
     WHERE t.runtime_id IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5
"""


def _buckets(cursor, sql: str, params: tuple = ()) -> dict[tuple, tuple]:
    cursor.execute(sql, params)
    return {tuple(row[:5]): tuple(int(value) for value in row[5:]) for row in cursor.fetchall()}


def oracle_buckets(cursor) -> dict[tuple, tuple]:
    """Every bucket the raw rows make: key -> (input, output, cache read, cache write, events)."""
    return _buckets(cursor, BUCKETS_FROM_RAW)


def rollup_buckets(cursor) -> dict[tuple, tuple]:
    """Every bucket in task_usage_daily, in the oracle's shape."""
    return _buckets(cursor, BUCKETS_FROM_ROLLUP)


def oracle_local_days(cursor, tz: str) -> dict[tuple, tuple]:
    """Every bucket the raw rows make with the days of the IANA zone `tz` for UTC days."""
    return _buckets(cursor, LOCAL_DAYS_FROM_RAW, (tz,))


def oracle_hours(cursor) -> dict[tuple, tuple]:
    """Every hourly bucket the raw rows make, keyed by the UTC hour (a naive datetime)."""
    return _buckets(cursor, HOURS_FROM_RAW)


def rollup_hours(cursor) -> dict[tuple, tuple]:
    """Every bucket in task_usage_hourly, in the oracle's shape."""
    return _buckets(cursor, HOURS_FROM_ROLLUP)


def _differences(grain: str, expected: dict, actual: dict) -> list[str]:
    problems = []
    for key in sorted(expected.keys() | actual.keys(), key=str):
        if key not in actual:
            problems.append(f"missing {grain} {key}: raw has {expected[key]}")
        elif key not in expected:
            problems.append(f"extra {grain} {key}: rollup has {actual[key]}, raw has no rows")
        elif expected[key] != actual[key]:
            problems.append(f"different {grain} {key}: rollup {actual[key]} != raw {expected[key]}")
    return problems


def rollup_differences(cursor) -> list[str]:
    """Each bucket that is missing from, extra in, or different in the rollup, daily
    (task_usage_daily) or hourly (task_usage_hourly), as a sentence."""
    return _differences("day", oracle_buckets(cursor), rollup_buckets(cursor)) + _differences(
        "hour", oracle_hours(cursor), rollup_hours(cursor)
    )


def assert_rollup_matches_oracle(cursor) -> None:
    """Fail with the differing buckets unless task_usage_daily and task_usage_hourly equal the
    raw aggregate."""
    problems = rollup_differences(cursor)
    assert not problems, "rollup differs from the raw aggregate:\n" + "\n".join(problems[:20])
