"""`manage.py rollup_usage`: one tick, a bounded catch-up, a loop that several hosts may run and
that stops on a signal, an explicit window, and the log line of each tick."""

import datetime
import io
import logging
import re
import signal
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests import world
from tests.oracle import assert_rollup_matches_oracle, rollup_buckets
from tests.processes import manage_py
from usage_rollup import rollup

UTC = datetime.UTC


def _usage_hours_ago(*hours: int) -> None:
    """One usage row (its own bucket) per age, written back then."""
    ws = world.workspace()
    task = world.task(world.agent(ws), world.runtime(ws))
    now = datetime.datetime.now(UTC)
    for age in hours:
        world.usage(task, model=f"h{age}", at=now - datetime.timedelta(hours=age))


def _rollup_usage(*args: str) -> str:
    out = io.StringIO()
    call_command("rollup_usage", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _tick_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "usage_rollup.tick"]


def test_one_tick_prints_the_rows_the_window_and_the_lag(cursor):
    _usage_hours_ago(3, 2)

    out = _rollup_usage("--lag", "60", "--database", "default")

    assert out.startswith("Tick: 2 rollup rows changed, window the oldest row .. ")
    assert "lag 60 s (the rollup is " in out
    assert_rollup_matches_oracle(cursor)
    assert _rollup_usage("--lag", "60").startswith("Tick: 0 rollup rows changed, window 20")


def test_each_tick_logs_one_key_value_line(cursor, caplog):
    _usage_hours_ago(1)
    caplog.set_level(logging.INFO, logger="usage_rollup.tick")

    _rollup_usage("--lag", "0")

    (line,) = _tick_lines(caplog)
    assert line.startswith("tick rows=1 window_start=null window_end=20")
    assert "lag_setting_seconds=0 " in line and line.endswith("error=null")


def test_max_rows_bounds_a_tick(cursor):
    _usage_hours_ago(5, 4, 3, 2, 1)

    _rollup_usage("--lag", "0", "--max-rows", "2")

    assert len(rollup_buckets(cursor)) == 2


def test_the_tick_max_rows_setting_is_the_default_bound(cursor, settings):
    _usage_hours_ago(5, 4, 3, 2, 1)
    settings.USAGE_ROLLUP_TICK_MAX_ROWS = 3

    _rollup_usage("--lag", "0")

    assert len(rollup_buckets(cursor)) == 3


@pytest.mark.django_db(transaction=True)
def test_catch_up_ticks_in_bounded_steps_until_the_rollup_is_current():
    _usage_hours_ago(5, 4, 3, 2, 1)

    out = _rollup_usage("--catch-up", "--lag", "0", "--max-rows", "2", "--verbosity", "2")

    assert out.count("rollup rows changed, window") == 3  # 2 + 2 + 1 rows
    assert "Caught up in 3 ticks: 5 rollup rows changed, watermark " in out
    with connection.cursor() as cursor:
        assert_rollup_matches_oracle(cursor)


@pytest.mark.django_db(transaction=True)
def test_catch_up_stops_where_an_open_transaction_holds_the_watermark(session):
    _usage_hours_ago(1)
    writer = session(autocommit=False)
    writer.execute("SELECT 1")  # a transaction that may still commit rows stamped now

    out = _rollup_usage("--catch-up", "--lag", "0")

    assert "Stopped after 2 ticks: the watermark is held at" in out
    assert "see pg_stat_activity" in out
    writer.rollback()


@pytest.mark.django_db(transaction=True)
def test_a_tick_or_a_loop_skips_while_another_tick_holds_the_lock(session):
    _usage_hours_ago(1)
    other = session(autocommit=False)
    assert other.execute("SELECT rollup_task_usage_daily('0 seconds')").fetchone()[0] == 1

    assert _rollup_usage("--lag", "0").startswith("Skipped: another tick holds the rollup's lock")
    out = _rollup_usage("--loop", "--interval", "0.01", "--max-ticks", "2", "-v", "2")
    assert "rollup rows changed" not in out and "Stopped after 2 ticks." in out

    other.rollback()  # the other tick never happened: nothing was rolled up meanwhile
    with connection.cursor() as cursor:
        assert rollup_buckets(cursor) == {}


@pytest.mark.django_db(transaction=True)
def test_a_loop_ticks_until_its_max_ticks_and_logs_each(caplog):
    _usage_hours_ago(2)
    caplog.set_level(logging.INFO, logger="usage_rollup.tick")

    out = _rollup_usage("--loop", "--interval", "0.01", "--max-ticks", "3", "--lag", "0")

    assert out.splitlines() == [
        "Ticking every 0.01 s until SIGTERM or SIGINT.",
        "Stopped after 3 ticks.",
    ]
    assert [line.split()[1] for line in _tick_lines(caplog)] == ["rows=1", "rows=0", "rows=0"]
    with connection.cursor() as cursor:
        assert_rollup_matches_oracle(cursor)


@pytest.mark.django_db(transaction=True)
def test_the_loop_outlives_a_lost_connection(session, caplog):
    _usage_hours_ago(2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (loop_backend,) = cursor.fetchone()
    killer = session()
    results = []

    def lose_the_connection_after_the_first_tick(result):
        if not results:
            killer.execute("SELECT pg_terminate_backend(%s)", [loop_backend])
        results.append(result)

    ticks = rollup.run_loop(
        0,
        lambda: False,
        datetime.timedelta(0),
        max_ticks=3,
        on_tick=lose_the_connection_after_the_first_tick,
    )

    assert ticks == 3
    assert [r.failed for r in results] == [False, True, False]
    assert "terminat" in results[1].error
    assert any(r.levelno == logging.ERROR for r in caplog.records if r.name == "usage_rollup.tick")


@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_a_looping_process_between_ticks_with_exit_status_zero():
    loop = manage_py("rollup_usage", "--loop", "--interval", "0.2", "--lag", "0")
    try:
        assert loop.stdout.readline() == "Ticking every 0.2 s until SIGTERM or SIGINT.\n"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _ticked():
            time.sleep(0.1)
        loop.send_signal(signal.SIGTERM)
        out, err = loop.communicate(timeout=15)
    finally:
        loop.kill()
    assert loop.returncode == 0, err
    assert re.fullmatch(r"Stopped after \d+ ticks?\.\n", out)
    assert "Traceback" not in err


def _ticked() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM task_usage_rollup_state WHERE last_run_rows IS NOT NULL"
        )
        return cursor.fetchone()[0] == 1


def test_a_window_recomputes_the_rows_changed_in_it(cursor):
    ws = world.workspace()
    task = world.task(world.agent(ws), world.runtime(ws))
    for day in (1, 2, 3):
        world.usage(task, model=f"d{day}", at=datetime.datetime(2025, 1, day, 12, tzinfo=UTC))

    out = _rollup_usage("--from", "2025-01-02", "--to", "2025-01-03T12:00:00.000001")

    assert out == (
        "Window 2025-01-02T00:00:00+00:00 .. 2025-01-03T12:00:00.000001+00:00: "
        "2 rollup rows changed.\n"
    )
    assert sorted(key[4] for key in rollup_buckets(cursor)) == ["d2", "d3"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lag", "-1"], "argument --lag: must be a number of seconds from 0 to .*, not '-1'"),
        (["--lag", "soon"], "argument --lag: must be a number of seconds"),
        (["--max-rows", "0"], "argument --max-rows: must be a whole number from 1 to"),
        (["--loop", "--interval", "-5"], "argument --interval: must be a number of seconds"),
        (["--loop", "--max-ticks", "-1"], "argument --max-ticks: must be a whole number"),
        (["--from", "2025-02-01", "--to", "2025-01-01"], "starts at 2025-02-01 .* after it ends"),
        (["--from", "yesterday", "--to", "2025-01-01"], "argument --from: must be an ISO date"),
        (["--from", "2025-01-01"], "--from and --to go together"),
        (["--loop", "--catch-up"], "choose one of --catch-up, --loop and --from/--to"),
        (["--database", "elsewhere"], "invalid choice: 'elsewhere'"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(cursor, args, message):
    _usage_hours_ago(1)

    with pytest.raises(CommandError, match=message):
        _rollup_usage(*args)

    assert rollup_buckets(cursor) == {}
    cursor.execute(
        "SELECT count(*) FROM task_usage_rollup_state WHERE last_run_started_at IS NOT NULL"
    )
    assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_a_failed_tick_exits_non_zero_with_its_error_and_logs_it(session, caplog):
    _usage_hours_ago(1)
    blocker = session(autocommit=False)
    blocker.execute("LOCK TABLE task_usage_daily IN EXCLUSIVE MODE")
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '300ms'")
    try:
        with pytest.raises(CommandError, match="the tick failed: canceling statement due to"):
            _rollup_usage("--lag", "0")
    finally:
        blocker.rollback()
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")

    (line,) = _tick_lines(caplog)
    assert line.startswith("tick rows=null ") and 'error="canceling statement' in line
