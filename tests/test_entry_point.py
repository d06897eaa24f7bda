"""The entry point rollup_task_usage_daily(): watermark, lock, errors, UTC, bounded steps and the
cost of a recompute, with real separate sessions where the behaviour is about concurrency."""

import datetime
import uuid

import psycopg
import pytest
from django.db import connection

from tests.committed import (
    flush_statistics,
    index_reads,
    keep_client_updated_at,
    rollup_locks_held,
    small_tenant_beside_a_busy_day,
    state_row,
    tick,
)
from tests.oracle import assert_rollup_matches_oracle, rollup_buckets
from usage_rollup.operations import index_leading_with


def _world_with_one_task(conn) -> tuple[uuid.UUID, uuid.UUID]:
    """A workspace, runtime, agent and task, committed; returns (workspace id, task id)."""
    ws = conn.execute(
        "INSERT INTO workspace (name, slug) VALUES ('w', %s) RETURNING id", [str(uuid.uuid4())]
    ).fetchone()[0]
    rt = conn.execute(
        "INSERT INTO agent_runtime (workspace_id, name) VALUES (%s, 'r') RETURNING id", [ws]
    ).fetchone()[0]
    ag = conn.execute(
        "INSERT INTO agent (workspace_id, name) VALUES (%s, 'a') RETURNING id", [ws]
    ).fetchone()[0]
    job = conn.execute(
        "INSERT INTO agent_task_queue (agent_id, runtime_id) VALUES (%s, %s) RETURNING id",
        [ag, rt],
    ).fetchone()[0]
    return ws, job


def test_a_concurrent_tick_returns_zero_at_once_and_writes_nothing(session):
    first, second = session(autocommit=False), session()
    tick(second)  # a committed first run, so the state row exists
    tick(first)  # holds the lock until it commits
    before = state_row(second)
    second.execute("SET lock_timeout = '1s'")  # a tick that waited would fail instead of pass

    assert tick(second) == 0

    assert state_row(second) == before
    first.commit()


def test_the_lock_is_released_with_the_transaction(session):
    ticker, observer = session(autocommit=False), session()
    tick(ticker)
    assert rollup_locks_held(observer) == 1
    ticker.commit()
    assert rollup_locks_held(observer) == 0


def test_a_timed_out_tick_keeps_its_error_moves_nothing_and_leaks_no_lock(session):
    writer, blocker, ticker = session(), session(autocommit=False), session()
    tick(ticker)
    _, job = _world_with_one_task(writer)
    writer.execute("INSERT INTO task_usage (task_id, model) VALUES (%s, 'opus')", [job])
    before = state_row(ticker)
    # Hold the rollup table so the tick blocks on its first write, then times out.
    blocker.execute("LOCK TABLE task_usage_daily IN EXCLUSIVE MODE")
    ticker.execute("SET statement_timeout = '300ms'")

    assert tick(ticker) is None

    after = state_row(ticker)
    assert "statement timeout" in after["last_error"]
    assert after["watermark_at"] == before["watermark_at"]
    assert after["failed_runs"] == before["failed_runs"] + 1
    assert after["last_run_finished_at"] > after["last_run_started_at"]
    assert rollup_locks_held(ticker) == 0

    blocker.rollback()
    ticker.execute("RESET statement_timeout")
    assert tick(ticker) > 0
    assert state_row(ticker)["last_error"] is None
    with connection.cursor() as cursor:
        assert_rollup_matches_oracle(cursor)


def test_no_committed_row_is_missed_when_its_transaction_outlives_a_zero_lagtick(session):
    setup, writer, ticker = session(), session(autocommit=False), session()
    _, job = _world_with_one_task(setup)
    writer.execute(
        "INSERT INTO task_usage (task_id, model, input_tokens) VALUES (%s, 'opus', 7)", [job]
    )
    writer_started = writer.execute("SELECT now()").fetchone()[0]

    tick(ticker)
    assert state_row(ticker)["watermark_at"] <= writer_started  # held back by the open writer

    writer.commit()
    tick(ticker)
    with connection.cursor() as cursor:
        assert [value[0] for value in rollup_buckets(cursor).values()] == [7]
        assert_rollup_matches_oracle(cursor)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/Los_Angeles"])
def test_buckets_are_utc_days_whatever_the_sessions_time_zone(session, zone):
    writer = session(timezone=zone)
    _, job = _world_with_one_task(writer)
    for at, model in (("2026-01-01 23:30+00", "late"), ("2026-01-02 00:30+00", "early")):
        writer.execute(
            "INSERT INTO task_usage (task_id, model, created_at) VALUES (%s, %s, %s)",
            [job, model, at],
        )
    tick(writer)

    days = dict(writer.execute("SELECT model, bucket_date FROM task_usage_daily").fetchall())
    assert days == {"late": datetime.date(2026, 1, 1), "early": datetime.date(2026, 1, 2)}


def test_a_long_gap_is_caught_up_in_bounded_steps(session):
    conn = session()
    _, job = _world_with_one_task(conn)
    for n in range(5):
        conn.execute(
            """
            INSERT INTO task_usage (task_id, model, created_at, updated_at)
            VALUES (%s, %s, now() - %s * interval '1 hour', now() - %s * interval '1 hour')
            """,
            [job, f"m{n}", 5 - n, 5 - n],
        )
    conn.execute("SET usage_rollup.tick_max_rows = 2")

    rolled_up = []
    for _ in range(4):
        tick(conn)
        rolled_up.append(conn.execute("SELECT count(*) FROM task_usage_daily").fetchone()[0])

    assert rolled_up == [2, 4, 5, 5]
    with connection.cursor() as cursor:
        assert_rollup_matches_oracle(cursor)


def test_the_lag_is_infinite_before_the_first_tick_and_small_after(cursor):
    cursor.execute("SELECT task_usage_rollup_lag_seconds()")
    assert cursor.fetchone()[0] == float("inf")
    cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")
    cursor.execute("SELECT task_usage_rollup_lag_seconds()")
    assert 0 <= cursor.fetchone()[0] < 60


@pytest.mark.parametrize(
    "call, message",
    [
        ("SELECT rollup_task_usage_daily('-1 second')", "ahead of the clock"),
        # Not below zero as an interval, yet now() minus it lies a day or more ahead.
        ("SELECT rollup_task_usage_daily('-1 mon +27 days')", "ahead of the clock"),
        ("SELECT rollup_task_usage_daily('1000000000000 seconds')", "outside the calendar"),
        ("SELECT rollup_task_usage_daily_window('2026-02-01', '2026-01-01')", "after it ends"),
        ("SELECT rollup_task_usage_daily_window(NULL, '2026-01-01')", "must not be null"),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(cursor, call, message):
    with pytest.raises(Exception, match=message):
        cursor.execute(call)


def test_the_window_refuses_to_run_above_read_committed(session):
    conn = session(autocommit=False)
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    with pytest.raises(psycopg.errors.InvalidTransactionState, match="READ COMMITTED"):
        conn.execute("SELECT rollup_task_usage_daily_window('-infinity', 'infinity')")


def test_recomputing_a_bucket_reads_only_its_own_slice_of_one_day(session):
    writer, ticker, observer = session(), session(), session()
    ws, _ = _world_with_one_task(writer)
    busy, quiet = (
        writer.execute(
            "INSERT INTO agent_runtime (workspace_id, name) VALUES (%s, %s) RETURNING id",
            [ws, name],
        ).fetchone()[0]
        for name in ("busy", "quiet")
    )
    # 6000 tasks over 120 days, 4 in 5 on the busy runtime, three models each: 18000 rows of
    # history, 50 per day and model.
    writer.execute(
        """
        INSERT INTO agent_task_queue (agent_id, runtime_id)
        SELECT (SELECT id FROM agent LIMIT 1), CASE WHEN g %% 5 = 0 THEN %(quiet)s::uuid
                                                    ELSE %(busy)s::uuid END
          FROM generate_series(1, 6000) AS g
        """,
        {"busy": busy, "quiet": quiet},
    )
    keep_client_updated_at(writer)  # history, written back then
    writer.execute(
        """
        INSERT INTO task_usage (task_id, model, input_tokens, created_at, updated_at)
        SELECT t.id, m, 1, at, at
          FROM (SELECT id, '2025-01-01 12:00+00'::timestamptz
                           + (row_number() OVER (ORDER BY id) % 120) * interval '1 day' AS at
                  FROM agent_task_queue) AS t,
               unnest(ARRAY['opus', 'sonnet', 'haiku']) AS m
        """
    )
    writer.execute("ANALYZE task_usage, agent_task_queue, agent")
    tick(ticker)  # the first tick rolls up all history and sets the watermark
    slice_rows = writer.execute(
        """
        WITH corrected AS (
            UPDATE task_usage SET input_tokens = 5
             WHERE id = (SELECT tu.id FROM task_usage tu
                           JOIN agent_task_queue t ON t.id = tu.task_id
                          WHERE t.runtime_id = %s AND tu.model = 'opus' LIMIT 1)
            RETURNING created_at
        )
        SELECT count(*) FROM task_usage tu, corrected c
         WHERE tu.model = 'opus'
           AND (tu.created_at AT TIME ZONE 'UTC')::date = (c.created_at AT TIME ZONE 'UTC')::date
        """,
        [busy],
    ).fetchone()[0]
    assert 45 <= slice_rows <= 55
    for conn in (writer, ticker):
        flush_statistics(conn)
    before = index_reads(observer)

    assert tick(ticker) == 1

    flush_statistics(ticker)
    after = index_reads(observer)
    read = {name: after[name] - before[name] for name in after}
    # The two tables that grow with history are never scanned whole.
    for table in ("task_usage", "agent_task_queue"):
        assert read[f"{table} sequential scans"] == 0
    # The corrected row, found by updated_at (by the step bound and the discovery); then the
    # rows of its day and model, about 50, twice: counted against the runtime's 4800 tasks to
    # choose the slice's path (the count stops at 64 tasks), then recomputed (and a few dead
    # index entries, such as the corrected row's superseded version, until vacuum): not the
    # 18000 rows of history, nor the busy runtime's 14400.
    assert read["task_usage_updated_at_idx"] < 10
    assert 2 * slice_rows <= read["task_usage_day_model_idx"] <= 2 * slice_rows + 5
    assert read["task_usage_task_provider_model_key"] == 0
    # Each of those rows' task, by primary key: not the runtime's thousands of tasks.
    assert read["agent_task_queue_pkey"] <= slice_rows + 5
    # The runtime's tasks counted only until it is known to be large (1,001), not its 4,800.
    assert read[_runtime_index(writer)] <= 1001 + 5
    with connection.cursor() as cursor:
        assert_rollup_matches_oracle(cursor)


def _runtime_index(conn) -> str:
    """The name of the index the tick counts a runtime's tasks in."""
    return index_leading_with(conn.cursor(), "agent_task_queue", "runtime_id")


def test_a_small_tenants_tick_reads_its_own_rows_not_the_busy_day_of_the_others(session):
    writer, ticker, observer = session(), session(), session()
    small_task = small_tenant_beside_a_busy_day(writer)
    writer.execute(
        "UPDATE task_usage SET input_tokens = 5 WHERE task_id = %s AND model = 'opus'",
        [small_task],
    )
    for conn in (writer, ticker):
        flush_statistics(conn)
    before = index_reads(observer)

    assert tick(ticker) == 1

    flush_statistics(ticker)
    after = index_reads(observer)
    read = {name: after[name] - before[name] for name in after}
    for table in ("task_usage", "agent_task_queue"):
        assert read[f"{table} sequential scans"] == 0
    # Choosing the runtime's path: its 20 tasks counted, the slice counted only up to 21 of its
    # 4020 rows. Then the 20 tasks' rows, by task: not the other tenant's 4000.
    assert read["task_usage_day_model_idx"] <= 21 + 5  # and a few dead index entries
    assert read["task_usage_task_provider_model_key"] <= 25
    with connection.cursor() as cursor:
        assert_rollup_matches_oracle(cursor)


def test_a_large_runtime_beside_a_busier_day_is_recomputed_through_its_own_tasks(session):
    writer, ticker, observer = session(), session(), session()
    # A runtime of 1,500 tasks (more than the first tier's 1,000) whose slice also holds another
    # tenant's 3,000 rows: more than 1,000 rows per large runtime, so it is weighed alone (its
    # 1,500 tasks against its slice's 4,500 rows) and takes its own tasks' path.
    task = small_tenant_beside_a_busy_day(writer, tenant_tasks=1500, busy_tasks=3000)
    # The other tenant's history of 12,000 more tasks (no usage on that day): so the runtime's
    # 1,500 are a tenth of all tasks, found by its index (a third would be read by a scan).
    writer.execute(
        """
        INSERT INTO agent_task_queue (runtime_id, agent_id)
        SELECT o.runtime_id, o.agent_id
          FROM (SELECT runtime_id, agent_id FROM agent_task_queue
                 WHERE runtime_id <> (SELECT runtime_id FROM agent_task_queue WHERE id = %s)
                 LIMIT 1) AS o,
               generate_series(1, 12000)
        """,
        [task],
    )
    writer.execute("ANALYZE agent_task_queue")
    writer.execute(
        "UPDATE task_usage SET input_tokens = 5 WHERE task_id = %s AND model = 'opus'", [task]
    )
    for conn in (writer, ticker):
        flush_statistics(conn)
    before = index_reads(observer)

    assert tick(ticker) == 1

    flush_statistics(ticker)
    after = index_reads(observer)
    read = {name: after[name] - before[name] for name in after}
    for table in ("task_usage", "agent_task_queue"):
        assert read[f"{table} sequential scans"] == 0
    # Its 1,500 tasks counted (1,001, then 1,500) and read (1,500); their 1,500 rows, by task;
    # the slice only counted: 1,001 rows for the large runtimes together, then 1,501 for this
    # one, not read whole.
    assert read[_runtime_index(writer)] <= 1001 + 2 * 1500 + 5
    assert 1500 <= read["task_usage_task_provider_model_key"] <= 1500 + 5
    assert read["task_usage_day_model_idx"] <= 1001 + 1501 + 5
    with connection.cursor() as cursor:
        assert_rollup_matches_oracle(cursor)
