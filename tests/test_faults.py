"""A tick that is timed out, cancelled or killed at any phase leaves no lock behind, never moves
the watermark past work it did not finish, says what happened when its session survived, and the
next tick converges."""

import time

import psycopg
import pytest

from tests.blocking import in_background, settle, wait_until_blocked
from tests.committed import (
    assert_exact,
    build,
    queue_depth,
    rollup_locks_held,
    tick,
    watermark,
)

# Where the tick is held, and the lock a blocker takes to hold it there. (The drain skips locked
# queue rows, so only a table lock holds it.)
PHASES = {
    "draining the queue": "LOCK TABLE task_usage_daily_dirty IN EXCLUSIVE MODE",
    "writing the rollup": "LOCK TABLE task_usage_daily IN EXCLUSIVE MODE",
}

FAULTS = {
    "statement timeout": "canceling statement due to statement timeout",
    "pg_cancel_backend": "canceling statement due to user request",
    "pg_terminate_backend": None,  # the session dies with its transaction
}


def _state(conn) -> tuple:
    return conn.execute(
        "SELECT last_error, failed_runs, last_run_finished_at FROM task_usage_rollup_state"
    ).fetchone()


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("phase", PHASES)
def test_a_tick_interrupted_at_any_phase_changes_nothing_and_the_next_converges(
    session, phase, fault
):
    setup, blocker, ticker = session(), session(autocommit=False), session()
    world = build(setup)
    setup.execute("UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s", [world.r2, world.t1])
    setup.execute("INSERT INTO task_usage (task_id, model) VALUES (%s, 'new')", [world.t2])
    queued, mark, (_, failures, _) = queue_depth(setup), watermark(setup), _state(setup)
    pid = ticker.info.backend_pid
    if fault == "statement timeout":
        ticker.execute("SET statement_timeout = '300ms'")
    blocker.execute(PHASES[phase])

    running = in_background(ticker, "SELECT rollup_task_usage_daily('0 seconds')")
    wait_until_blocked(setup, pid)
    if fault == "statement timeout":
        time.sleep(1)  # held past its timeout
    elif fault == "pg_cancel_backend":
        setup.execute("SELECT pg_cancel_backend(%s)", [pid])
    elif fault == "pg_terminate_backend":
        setup.execute("SELECT pg_terminate_backend(%s)", [pid])
    blocker.rollback()

    if fault == "pg_terminate_backend":
        with pytest.raises(psycopg.OperationalError):
            settle(running)
        assert _state(setup)[1] == failures  # nobody was left to record it
    else:
        assert settle(running) == (None,)
        last_error, failed_runs, _ = _state(setup)
        assert FAULTS[fault] in last_error
        assert failed_runs == failures + 1
    assert rollup_locks_held(setup) == 0
    assert watermark(setup) == mark
    assert queue_depth(setup) == queued  # the drained queue came back with the rollback

    tick(setup)
    assert_exact(setup)
    assert _state(setup)[0] is None


@pytest.mark.parametrize("fault", ["statement timeout", "pg_cancel_backend"])
def test_a_tick_cancelled_while_another_session_holds_the_state_row_returns_at_once(session, fault):
    setup, blocker, ticker = session(), session(autocommit=False), session()
    build(setup)
    before = _state(setup)
    pid = ticker.info.backend_pid
    if fault == "statement timeout":
        ticker.execute("SET statement_timeout = '400ms'")
    blocker.execute("SELECT 1 FROM task_usage_rollup_state FOR UPDATE")

    running = in_background(ticker, "SELECT rollup_task_usage_daily('0 seconds')")
    wait_until_blocked(setup, pid)  # it waits for the state row, before any work
    if fault == "pg_cancel_backend":
        setup.execute("SELECT pg_cancel_backend(%s)", [pid])

    # One cancel is enough: recording the error never waits for the row (v1 waited for it with
    # no timeout left, holding the rollup's lock). The row is held, so nothing is recorded.
    assert settle(running, timeout=5) == (None,)
    assert rollup_locks_held(setup) == 0
    blocker.rollback()
    assert _state(setup) == before
    tick(setup)
    assert_exact(setup)


def test_a_tick_cancelled_by_the_callers_1ms_statement_timeout_is_recorded(session):
    setup, ticker = session(), session()
    build(setup)
    failures = _state(setup)[1]
    tick(ticker)  # compiled in this session, so the timeout lands in the tick's own work
    ticker.execute("SET statement_timeout = '1ms'")

    result = tick(ticker)

    assert result is None
    ticker.execute("RESET statement_timeout")
    last_error, failed_runs, _ = _state(setup)
    assert "statement timeout" in last_error
    assert failed_runs == failures + 1
    assert rollup_locks_held(setup) == 0
