"""Deterministic interleavings of real sessions, for each race the seed's review found or missed.

Sessions are ordered with locks: a blocker holds a lock the tick needs, so the tick stops at a
known point while another session commits; `tests/blocking.py` waits until PostgreSQL reports the
waiting backend. Every test ends with a tick and the oracle.
"""

import datetime
import threading
import time

import psycopg
import pytest
from django.db import connections

from tests.blocking import in_background, poll, settle, wait_until_blocked
from tests.committed import ROLLUP_LOCK, assert_exact, build, queue_depth, tick, watermark
from usage_rollup import rollup, verification


def test_an_invalidation_committed_while_a_tick_recomputes_waits_for_the_next_tick(session):
    setup, writer, blocker, ticker = session(), session(), session(autocommit=False), session()
    world = build(setup)
    # Something for the tick to write, so that it reaches the rollup's table.
    setup.execute(
        "UPDATE task_usage SET input_tokens = 11 WHERE task_id = %s AND model = 'opus'",
        [world.t2],
    )
    blocker.execute("LOCK TABLE task_usage_daily IN EXCLUSIVE MODE")
    running = in_background(ticker, "SELECT rollup_task_usage_daily('0 seconds')")
    wait_until_blocked(setup, ticker.info.backend_pid)  # it has drained; it waits to write

    writer.execute(
        "UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s", [world.r2, world.t1]
    )
    blocker.rollback()
    settle(running)

    assert queue_depth(setup) > 0  # the reassignment's buckets wait for the next tick
    tick(setup)
    assert_exact(setup)


def test_a_queue_row_somebody_holds_is_skipped_by_the_drain_never_waited_for(session):
    setup, blocker, ticker = session(), session(autocommit=False), session()
    world = build(setup)
    setup.execute("DELETE FROM task_usage WHERE task_id = %s AND model = 'haiku'", [world.t2])
    setup.execute("UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s", [world.r2, world.t1])
    held = blocker.execute(
        "SELECT id FROM task_usage_daily_dirty ORDER BY id LIMIT 1 FOR SHARE"
    ).fetchone()[0]

    tick(ticker)  # returns at once: the drain skips the held row

    assert [row for (row,) in setup.execute("SELECT id FROM task_usage_daily_dirty")] == [held]
    blocker.rollback()
    tick(setup)
    assert queue_depth(setup) == 0
    assert_exact(setup)


def _queue_haiku_bucket_of_t1(conn, world) -> None:
    """Leave one committed queue row, naming t1's haiku bucket on r1 (the row of a delete; the
    bucket keeps a row of usage, written again)."""
    conn.execute("DELETE FROM task_usage WHERE task_id = %s AND model = 'haiku'", [world.t1])
    conn.execute(
        "INSERT INTO task_usage (task_id, model, input_tokens, created_at)"
        " VALUES (%s, 'haiku', 3, '2026-03-11 12:00+00')",
        [world.t1],
    )


def test_a_writer_relying_on_a_committed_queue_row_holds_it_across_a_tick(session):
    setup, writer, ticker = session(), session(autocommit=False), session()
    world = build(setup)
    _queue_haiku_bucket_of_t1(setup, world)
    (queued,) = setup.execute("SELECT count(*) FROM task_usage_daily_dirty").fetchone()
    assert queued == 1
    # ... and an open writer removes usage from that same bucket: it adds no row of its own.
    writer.execute("DELETE FROM task_usage WHERE task_id = %s AND model = 'haiku'", [world.t1])
    assert queue_depth(setup) == 1

    tick(ticker)  # recomputes without the writer's delete, which is not committed yet

    assert queue_depth(setup) == 1  # so the row the writer relies on stays
    writer.commit()
    tick(setup)
    assert queue_depth(setup) == 0
    assert_exact(setup)


def test_a_writer_does_not_wait_for_a_tick_that_drained_its_bucket_and_queues_it_anew(session):
    setup, writer, blocker, ticker = (
        session(),
        session(autocommit=False),
        session(autocommit=False),
        session(),
    )
    world = build(setup)
    _queue_haiku_bucket_of_t1(setup, world)
    blocker.execute("LOCK TABLE task_usage_daily IN EXCLUSIVE MODE")
    running = in_background(ticker, "SELECT rollup_task_usage_daily('0 seconds')")
    wait_until_blocked(setup, ticker.info.backend_pid)  # it has drained the row; it waits to write

    # The tick holds the queue row it drains; the writer's delete in the same bucket skips it
    # and adds its own, at once (were it to wait for the tick, the lock timeout would fail it).
    writer.execute("SET lock_timeout = '5s'")
    writer.execute("DELETE FROM task_usage WHERE task_id = %s AND model = 'haiku'", [world.t1])
    writer.commit()
    blocker.rollback()
    settle(running)

    assert queue_depth(setup) == 1  # the writer's own row, for the next tick
    tick(setup)
    assert_exact(setup)


def _django_backfill(errors: list) -> None:
    try:
        rollup.backfill("month")
    except Exception as error:  # noqa: BLE001 -- reported by the test that started the thread
        errors.append(error)
    finally:
        connections.close_all()


def test_a_tick_during_a_backfill_returns_zero_and_writes_nothing(session):
    setup, blocker, ticker = session(), session(autocommit=False), session()
    world = build(setup)
    setup.execute("UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s", [world.r2, world.t1])
    blocker.execute("LOCK TABLE task_usage_daily IN EXCLUSIVE MODE")
    errors = []
    backfill = threading.Thread(target=_django_backfill, args=(errors,))
    backfill.start()
    holder = poll(setup, f"SELECT pid FROM pg_locks WHERE {ROLLUP_LOCK} AND granted")
    wait_until_blocked(setup, holder)  # a slice holds the lock and waits to write
    state_before = setup.execute("SELECT * FROM task_usage_rollup_state").fetchall()

    assert tick(ticker) == 0
    assert setup.execute("SELECT * FROM task_usage_rollup_state").fetchall() == state_before

    blocker.rollback()
    backfill.join(timeout=30)
    assert not errors
    tick(setup)
    assert_exact(setup)


def test_a_backfill_waits_for_a_tick_in_progress_then_runs(session):
    setup, ticker = session(), session(autocommit=False)
    world = build(setup)
    setup.execute("UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s", [world.r2, world.t1])
    tick(ticker)  # holds the rollup's lock and its state row until it commits
    errors = []
    backfill = threading.Thread(target=_django_backfill, args=(errors,))
    backfill.start()
    waiting = poll(
        setup,
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE '%rollup_task_usage_daily_backfill_%'",
    )
    wait_until_blocked(setup, waiting)

    ticker.commit()
    backfill.join(timeout=30)

    assert not errors
    assert watermark(setup) is not None
    assert_exact(setup)


# Two concurrent changes to the rows that name a bucket (a usage row, its task, the task's agent).
# The first runs and stays open; the second starts (and waits, when the locking protocol makes it);
# the first commits; a tick runs while the second is still open; the second commits; a tick.
# The rollup must equal the oracle after both ticks. Without the triggers' locks, the second
# change would read the world from before the first and queue the wrong buckets (with the locks
# removed, 10 of these 15 orders fail).
CHANGES = {
    "insert usage": (
        "INSERT INTO task_usage (task_id, model, input_tokens, created_at)"
        " VALUES (%(t1)s, 'sonnet', 5, '2026-03-10 13:00+00')"
    ),
    "reassign the task": "UPDATE agent_task_queue SET runtime_id = %(r2)s WHERE id = %(t1)s",
    # A task the other transaction cannot see yet, with usage in a bucket nothing else queues.
    "start a task with usage": (
        "WITH task AS (INSERT INTO agent_task_queue (agent_id, runtime_id)"
        " VALUES (%(ga)s, %(r1)s) RETURNING id)"
        " INSERT INTO task_usage (task_id, model, input_tokens, created_at)"
        " SELECT id, 'gpt', 7, '2026-03-15 09:00+00' FROM task"
    ),
    "give the task another agent": (
        "UPDATE agent_task_queue SET agent_id = %(gb)s WHERE id = %(t1)s"
    ),
    "move its agent": "UPDATE agent SET workspace_id = %(b)s WHERE id = %(ga)s",
    "move the other agent": "UPDATE agent SET workspace_id = %(a)s WHERE id = %(gb)s",
    "move a usage row's day": (
        "UPDATE task_usage SET created_at = created_at + interval '3 days'"
        " WHERE task_id = %(t1)s AND model = 'opus'"
    ),
    "delete a usage row": "DELETE FROM task_usage WHERE task_id = %(t1)s AND model = 'opus'",
    "delete the issue": "DELETE FROM issue WHERE id = %(issue)s",
    "delete its agent": "DELETE FROM agent WHERE id = %(ga)s",
}

PAIRS = [
    ("insert usage", "reassign the task"),
    ("reassign the task", "insert usage"),
    ("insert usage", "move its agent"),
    ("move its agent", "insert usage"),
    ("start a task with usage", "move its agent"),
    ("move its agent", "start a task with usage"),
    ("insert usage", "delete the issue"),
    ("reassign the task", "move its agent"),
    ("move its agent", "reassign the task"),
    ("give the task another agent", "move the other agent"),
    ("move the other agent", "give the task another agent"),
    ("move a usage row's day", "reassign the task"),
    ("reassign the task", "move a usage row's day"),
    ("move a usage row's day", "move its agent"),
    ("delete a usage row", "reassign the task"),
    ("reassign the task", "delete a usage row"),
    ("reassign the task", "delete its agent"),
]


def _wrong_buckets() -> list[str]:
    """The buckets that differ from their raw rows and are not pending (queued, set aside, or
    written since the watermark): what no tick may leave behind."""
    found = verification.differences(datetime.date.min, datetime.date.max)
    return [difference.describe() for difference in found if not difference.pending]


# The platform's foreign keys as Django creates them (DEFERRABLE INITIALLY DEFERRED): a writer's
# key check, and the row lock it takes, happen at its commit instead of its statement.
FOREIGN_KEYS = [
    ("task_usage", "task_usage_task_id_fkey"),
    ("agent_task_queue", "agent_task_queue_agent_id_fkey"),
    ("agent_task_queue", "agent_task_queue_runtime_id_fkey"),
    ("agent_task_queue", "agent_task_queue_issue_id_fkey"),
    ("agent", "agent_workspace_id_fkey"),
]


@pytest.fixture(params=["immediate", "deferred"])
def foreign_keys(request, session):
    if request.param == "immediate":
        yield request.param
        return
    conn = session()

    def alter(mode: str) -> None:
        for table, name in FOREIGN_KEYS:
            conn.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} {mode}")

    alter("DEFERRABLE INITIALLY DEFERRED")
    yield request.param
    # A test that failed half-way leaves a session open in its transaction, holding the locks
    # the ALTER needs: end it first.
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
    )
    alter("NOT DEFERRABLE")


@pytest.mark.parametrize("first, second", PAIRS, ids=[" then ".join(pair) for pair in PAIRS])
def test_concurrent_changes_to_a_buckets_rows_are_both_rolled_up(
    session, foreign_keys, first, second
):
    setup, one, two = session(), session(autocommit=False), session(autocommit=False)
    world = build(setup)
    ids = vars(world)
    # The first transaction begins well over a second before the second: longer than the
    # tick's one-second re-read below the watermark, which could otherwise mask a lost update.
    one.execute("SELECT 1")
    time.sleep(1.1)

    one.execute(CHANGES[first], ids)
    running = in_background(two, CHANGES[second], ids)
    wait_until_blocked(setup, two.info.backend_pid, unless_done=running)
    # With deferred keys the first commit may be the one to wait: its key check needs a row the
    # second holds. Then the tick runs while both are open.
    first_commit = in_background(one, "COMMIT")
    wait_until_blocked(setup, one.info.backend_pid, unless_done=first_commit)
    settle(running)
    tick(setup)
    # While the second is open, a bucket may wait for it (a queue row it relies on, or its rows
    # not yet committed): pending, never wrong.
    assert _wrong_buckets() == []

    two.commit()
    try:
        settle(first_commit)
    except psycopg.errors.ForeignKeyViolation:
        # Its deferred check found the row the second deleted: refused at commit, as an
        # immediate check refuses the statement, and nothing of it was written.
        assert foreign_keys == "deferred"
    tick(setup)
    assert_exact(setup)


def _usage_key(conn, definition: str) -> None:
    conn.execute(
        "ALTER TABLE task_usage DROP CONSTRAINT task_usage_task_id_fkey,"
        " ADD CONSTRAINT task_usage_task_id_fkey FOREIGN KEY (task_id)"
        f" REFERENCES agent_task_queue (id) {definition}"
    )


def test_a_tick_keeps_what_an_open_transaction_recorded_of_the_tasks_it_deleted(session):
    # Under a deferred key without a cascade (a Django host's default), a task may be deleted
    # first and its usage later in the same transaction: the usage's trigger then finds the
    # task's owner where the task's trigger recorded it (sql/task_usage_daily_deleted_rows.v1.sql).
    # A tick in between must leave the record of a transaction still open alone, and the ticks
    # after it delete it.
    setup, writer = session(), session(autocommit=False)
    world = build(setup)
    _usage_key(setup, "DEFERRABLE INITIALLY DEFERRED")
    try:
        writer.execute("DELETE FROM agent_task_queue WHERE id = %s", [world.t1])
        tick(setup)
        writer.execute("DELETE FROM task_usage WHERE task_id = %s", [world.t1])
        writer.commit()
        tick(setup)

        assert_exact(setup)
        left = setup.execute(
            "SELECT (SELECT count(*) FROM task_usage_daily_deleted_tasks),"
            " (SELECT count(*) FROM task_usage_daily_deleted_usage)"
        ).fetchone()
        assert left == (0, 0)
    finally:
        writer.rollback()
        _usage_key(setup, "ON DELETE CASCADE")
