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


def _buckets(cursor, sql: str) -> dict[tuple, tuple]:
    cursor.execute(sql)
    return {tuple(row[:5]): tuple(int(value) for value in row[5:]) for row in cursor.fetchall()}


def oracle_buckets(cursor) -> dict[tuple, tuple]:
    """Every bucket the raw rows make: key -> (input, output, cache read, cache write, events)."""
    return _buckets(cursor, BUCKETS_FROM_RAW)


def rollup_buckets(cursor) -> dict[tuple, tuple]:
    """Every bucket in task_usage_daily, in the oracle's shape."""
    return _buckets(cursor, BUCKETS_FROM_ROLLUP)


def rollup_differences(cursor) -> list[str]:
    """Each bucket that is missing from, extra in, or different in the rollup, as a sentence."""
    expected, actual = oracle_buckets(cursor), rollup_buckets(cursor)
    problems = []
    for key in sorted(expected.keys() | actual.keys(), key=str):
        if key not in actual:
            problems.append(f"missing {key}: raw has {expected[key]}")
        elif key not in expected:
            problems.append(f"extra {key}: rollup has {actual[key]}, raw has no rows")
        elif expected[key] != actual[key]:
            problems.append(f"different {key}: rollup {actual[key]} != raw {expected[key]}")
    return problems


def assert_rollup_matches_oracle(cursor) -> None:
    """Fail with the differing buckets unless task_usage_daily equals the raw aggregate."""
    problems = rollup_differences(cursor)
    assert not problems, "rollup differs from the raw aggregate:\n" + "\n".join(problems[:20])
