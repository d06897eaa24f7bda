"""The rollup behind PgBouncer in transaction mode (SPEC section 3b): every transaction of a client
may run on another server connection, so no lock may outlive a transaction. The backfill and the
ticks run through a real pooler; what they leave behind is checked on the server itself."""

import dataclasses
import datetime
import re
import signal
import subprocess
import time

import psycopg
import pytest

from tests import committed
from tests.committed import assert_exact, state_row
from tests.processes import database_url, manage_py, run_manage_py
from usage_rollup import rollup
from usage_rollup.source import synthetic

LEASE_SECONDS = 3
ADVISORY_LOCKS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
# The backfill's slice transaction, once it waits for the table the test holds.
BLOCKED_BACKFILL = """
SELECT pid FROM pg_stat_activity
 WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
"""


def _backfill(url: str, env: dict | None = None) -> subprocess.Popen:
    return manage_py("backfill_task_usage_daily", "--slice", "day", url=url, env=env)


@pytest.fixture
def history(transactional_db):
    """150,000 usage rows over 60 days: a backfill by day slices takes a couple of seconds."""
    synthetic.generate_history(synthetic.HistoryShape(rows=150_000, days=60))


def _timed_direct_backfill() -> float:
    started = time.monotonic()
    done = run_manage_py("backfill_task_usage_daily", "--slice", "day", url=database_url())
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started


@dataclasses.dataclass(frozen=True)
class PooledTick:
    """A tick through the pooler, and the state the server showed right after it."""

    result: rollup.TickResult
    watermark: datetime.datetime | None
    seen_at: datetime.datetime


def _pooled_tick(alias: str, observer: psycopg.Connection) -> PooledTick:
    result = rollup.tick(datetime.timedelta(0), using=alias)
    row = observer.execute(
        "SELECT watermark_at, clock_timestamp() FROM task_usage_rollup_state WHERE id = 1"
    ).fetchone()
    return PooledTick(result, *row)


def test_a_backfill_through_pgbouncer_finishes_while_pooled_ticks_skip_it(
    history, pgbouncer, session
):
    observer = session()
    direct_seconds = _timed_direct_backfill()
    bound = 3 * direct_seconds + 5  # not a benchmark: a backfill waiting on its own lock never ends
    ticks = []

    with pgbouncer.django_alias() as pooled:
        started = time.monotonic()
        backfill = _backfill(pgbouncer.database_url())
        try:
            while backfill.poll() is None and time.monotonic() - started < bound:
                ticks.append(_pooled_tick(pooled, observer))
                time.sleep(0.02)
            pooled_seconds = time.monotonic() - started
            assert backfill.poll() == 0, (
                f"the backfill through PgBouncer ran {pooled_seconds:.1f} s (direct: "
                f"{direct_seconds:.1f} s) and ended with {backfill.poll()}"
            )
        finally:
            backfill.kill()
            backfill.communicate()

    # From the first tick that saw the backfill to the backfill's end, every tick skipped.
    finished_at = state_row(observer)["backfill_finished_at"]
    assert finished_at is not None
    first_skip = next((n for n, tick in enumerate(ticks) if tick.result.skipped), len(ticks))
    during = [tick for tick in ticks[first_skip:] if tick.seen_at < finished_at]
    assert len(during) >= 5
    assert all(tick.result.skipped for tick in during)
    assert all("backfill" in tick.result.skip_reason for tick in during)
    assert len({tick.watermark for tick in during}) == 1
    assert observer.execute(ADVISORY_LOCKS).fetchone()[0] == 0
    assert_exact(observer)


@pytest.fixture
def blocked_backfill(pgbouncer, session):
    """A backfill through the pooler, stopped inside its first slice (the test holds the rollup
    table), with a lease of LEASE_SECONDS: (its process, the blocking session)."""
    committed.build(session())
    blocker = session(autocommit=False)
    blocker.execute("LOCK TABLE task_usage_daily IN EXCLUSIVE MODE")
    backfill = _backfill(
        pgbouncer.database_url(), env={"USAGE_ROLLUP_BACKFILL_LEASE_SECONDS": str(LEASE_SECONDS)}
    )
    try:
        _wait_until_blocked(backfill, session())
        yield backfill, blocker
    finally:
        backfill.kill()
        backfill.communicate()


def _wait_until_blocked(backfill: subprocess.Popen, observer: psycopg.Connection) -> None:
    deadline = time.monotonic() + 60
    while observer.execute(BLOCKED_BACKFILL).fetchone() is None:
        assert backfill.poll() is None, f"the backfill ended: {backfill.communicate()}"
        assert time.monotonic() < deadline, "the backfill never reached its first slice"
        time.sleep(0.02)


def _advisory_locks_after_cleanup(observer: psycopg.Connection) -> int:
    """Advisory locks on the server once a dead client's server connection has ended."""
    deadline = time.monotonic() + 10
    while (held := observer.execute(ADVISORY_LOCKS).fetchone()[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return held


def test_a_backfill_killed_behind_pgbouncer_leaves_no_lock_and_ticks_resume_after_its_lease(
    blocked_backfill, pgbouncer, session
):
    backfill, blocker = blocked_backfill
    observer = session()

    backfill.send_signal(signal.SIGKILL)
    backfill.wait()
    blocker.rollback()  # the slice's server connection runs on, finds its client gone, ends

    assert _advisory_locks_after_cleanup(observer) == 0
    assert state_row(observer)["backfill_lease_until"] is not None  # the killed backfill's lease
    with pgbouncer.django_alias() as pooled:
        first = rollup.tick(datetime.timedelta(0), using=pooled)
        assert first.skipped, first
        assert "backfill" in first.skip_reason
        deadline = time.monotonic() + LEASE_SECONDS + 10
        resumed = first
        while resumed.skipped and time.monotonic() < deadline:
            time.sleep(0.2)
            resumed = rollup.tick(datetime.timedelta(0), using=pooled)
    assert not resumed.skipped and not resumed.failed, resumed
    # The lease is judged by the clock when the tick looks at it; the window ends at the tick's
    # transaction start, which may come a fraction of a millisecond before the lease's end (seen
    # under load): so the resumed tick is shown by the watermark it moved, not by that order.
    state = state_row(observer)
    assert state["watermark_at"] == resumed.window_end
    assert state["backfill_finished_at"] is None
    assert state["backfill_slices_done"] < state["backfill_slices_total"]
    status = run_manage_py("usage_rollup_status", url=database_url())
    assert re.search(r"^Backfill: .*not finished", status.stdout, re.M | re.I), status.stdout


def test_a_second_backfill_behind_pgbouncer_is_refused_while_the_first_holds_its_lease(
    blocked_backfill, pgbouncer, session
):
    backfill, blocker = blocked_backfill

    second = run_manage_py("backfill_task_usage_daily", url=pgbouncer.database_url(), timeout=30)

    assert second.returncode == 1
    assert "another backfill is running" in second.stderr
    blocker.rollback()
    assert backfill.wait(60) == 0
    assert_exact(session())
