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


# The quarter-hour rollup's ground truth: the same rows, by the UTC quarter hour they fall in (its
# start, as a naive UTC timestamp).
QUARTERS_FROM_RAW = """
    SELECT date_trunc('hour', tu.created_at AT TIME ZONE 'UTC')
           + floor(extract(minute FROM tu.created_at AT TIME ZONE 'UTC') / 15)
             * interval '15 minutes',
           a.workspace_id, t.runtime_id, tu.provider, tu.model,
           sum(tu.input_tokens), sum(tu.output_tokens), sum(tu.cache_read_tokens),
           sum(tu.cache_write_tokens), count(*)
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
      JOIN agent a ON a.id = t.agent_id
     WHERE t.runtime_id IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5
"""

# task_usage_daily_quarters' running sums turned back into each quarter's own sums: a running sum
# less the one before it in the same bucket.
QUARTERS_FROM_ROLLUP = """
    SELECT q.bucket_date + u.quarter * interval '15 minutes', q.workspace_id, q.runtime_id,
           q.provider, q.model,
           u.input_tokens - coalesce(lag(u.input_tokens) OVER running, 0),
           u.output_tokens - coalesce(lag(u.output_tokens) OVER running, 0),
           u.cache_read_tokens - coalesce(lag(u.cache_read_tokens) OVER running, 0),
           u.cache_write_tokens - coalesce(lag(u.cache_write_tokens) OVER running, 0),
           u.event_count - coalesce(lag(u.event_count) OVER running, 0)
      FROM task_usage_daily_quarters q
     CROSS JOIN LATERAL unnest(q.quarters, q.input_tokens::numeric[],
                               q.output_tokens::numeric[], q.cache_read_tokens::numeric[],
                               q.cache_write_tokens::numeric[], q.event_count::numeric[])
           WITH ORDINALITY AS u (quarter, input_tokens, output_tokens, cache_read_tokens,
                                 cache_write_tokens, event_count, position)
    WINDOW running AS (PARTITION BY q.id ORDER BY u.position)
"""

# Rows of task_usage_daily_quarters whose arrays are not one quarter each, ascending, once, with
# a day's bucket: each is a problem of its own (the sums above could not show it).
MALFORMED_QUARTERS = """
    SELECT q.bucket_date, q.workspace_id, q.runtime_id, q.provider, q.model
      FROM task_usage_daily_quarters q
     WHERE cardinality(q.quarters) = 0
        OR cardinality(q.quarters) <> ALL (ARRAY[
               cardinality(q.input_tokens), cardinality(q.output_tokens),
               cardinality(q.cache_read_tokens), cardinality(q.cache_write_tokens),
               cardinality(q.event_count)])
        OR q.quarters <> ARRAY(SELECT DISTINCT x FROM unnest(q.quarters) AS x ORDER BY x)
        OR q.quarters[1] < 0
        OR q.quarters[cardinality(q.quarters)] > 95
        OR NOT EXISTS (SELECT FROM task_usage_daily d
                        WHERE (d.bucket_date, d.workspace_id, d.runtime_id, d.provider, d.model)
                            = (q.bucket_date, q.workspace_id, q.runtime_id, q.provider, q.model))
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


def oracle_quarters(cursor) -> dict[tuple, tuple]:
    """Every quarter-hour bucket the raw rows make, keyed by the quarter's start (naive UTC)."""
    return _buckets(cursor, QUARTERS_FROM_RAW)


def rollup_quarters(cursor) -> dict[tuple, tuple]:
    """Every quarter of task_usage_daily_quarters with its own sums, in the oracle's shape."""
    return _buckets(cursor, QUARTERS_FROM_ROLLUP)


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
    (task_usage_daily) or by quarter hour (task_usage_daily_quarters), as a sentence."""
    cursor.execute(MALFORMED_QUARTERS)
    malformed = [f"malformed quarters of bucket {row}" for row in cursor.fetchall()]
    return (
        _differences("day", oracle_buckets(cursor), rollup_buckets(cursor))
        + _differences("quarter", oracle_quarters(cursor), rollup_quarters(cursor))
        + malformed
    )


def assert_rollup_matches_oracle(cursor) -> None:
    """Fail with the differing buckets unless task_usage_daily and task_usage_daily_quarters
    equal the raw aggregate."""
    problems = rollup_differences(cursor)
    assert not problems, "rollup differs from the raw aggregate:\n" + "\n".join(problems[:20])
