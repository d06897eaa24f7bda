"""The dirty queue under a flood: one row per distinct dirty bucket however many changes queue it,
and ticks that drain it in bounded batches, each short, until it converges."""

import time

import pytest

from tests.committed import assert_exact, build, queue_depth, tick

# A strict statement_timeout, scaled to this test's flood: v1 drained all 500,000 entries in one
# statement of about 1.5 s here, and so was cancelled on every tick (as 1.4 million entries were
# under 2 s in production); a tick of 10,000 entries takes a tenth of a second or so.
STRICT_TIMEOUT = "1s"


def _agent_with_usage(conn, world, rows: int) -> None:
    """`rows` tasks of agent gb on runtime r3, each with one usage row in a bucket of its own."""
    conn.execute(
        """
        WITH tasks AS (
            INSERT INTO agent_task_queue (agent_id, runtime_id)
            SELECT %(agent)s, %(runtime)s FROM generate_series(1, %(rows)s)
            RETURNING id
        )
        INSERT INTO task_usage (task_id, model, input_tokens, created_at)
        SELECT id, 'm' || n %% 7, n, '2026-01-01 12:00+00'::timestamptz + n * interval '1 day' / 7
          FROM (SELECT id, row_number() OVER () AS n FROM tasks) AS t
        """,
        {"agent": world.gb, "runtime": world.r3, "rows": rows},
    )


def test_moving_an_agent_sixty_times_queues_each_bucket_once(session):
    setup = session()
    world = build(setup)
    _agent_with_usage(setup, world, 300)
    tick(setup)
    (buckets,) = setup.execute(
        "SELECT count(*) FROM task_usage_daily WHERE runtime_id = %s", [world.r3]
    ).fetchone()

    for move in range(60):
        setup.execute(
            "UPDATE agent SET workspace_id = %s WHERE id = %s",
            [world.a if move % 2 == 0 else world.b, world.gb],
        )

    # Each bucket under each of the two workspaces, once (v1 queued 60 times as many).
    assert queue_depth(setup) == 2 * buckets
    tick(setup)
    assert_exact(setup)


def _flood(conn, entries: int) -> None:
    """`entries` queued buckets, each of its own (day, provider, model) slice, as a mass
    invalidation would leave them (their buckets have no rows: each is a lookup and nothing)."""
    conn.execute(
        """
        INSERT INTO task_usage_daily_dirty (bucket_date, workspace_id, runtime_id, provider, model)
        SELECT date '2026-01-01' + g %% 300, gen_random_uuid(), gen_random_uuid(), 'p', 'm' || g
          FROM generate_series(1, %s) AS g
        """,
        [entries],
    )


def test_a_tick_drains_at_most_tick_max_buckets_queue_entries(session):
    setup = session()
    build(setup)
    _flood(setup, 25)
    setup.execute("SET usage_rollup.tick_max_buckets = 10")

    drained = []
    for _ in range(3):
        before = queue_depth(setup)
        tick(setup)
        drained.append(before - queue_depth(setup))

    assert drained == [10, 10, 5]


@pytest.mark.parametrize("entries", [500_000])
def test_a_flooded_queue_drains_in_short_ticks_under_a_strict_statement_timeout(session, entries):
    setup, ticker = session(), session()
    world = build(setup)
    _flood(setup, entries)
    setup.execute("DELETE FROM task_usage WHERE task_id = %s", [world.t1])  # one real change
    ticker.execute(f"SET statement_timeout = '{STRICT_TIMEOUT}'")

    results, longest = [], 0.0
    while queue_depth(setup) and len(results) < 60:
        started = time.monotonic()
        results.append(tick(ticker))
        longest = max(longest, time.monotonic() - started)

    # Every tick finished (none was cancelled: v1 drained all in one statement, forever), and
    # the queue is empty after a bounded number of them.
    last_error = setup.execute("SELECT last_error FROM task_usage_rollup_state").fetchone()[0]
    assert None not in results, last_error
    assert queue_depth(setup) == 0 and len(results) <= entries // 10_000 + 2
    assert_exact(setup)
    print(f"{len(results)} ticks drained {entries} entries, the longest took {longest:.2f} s")
