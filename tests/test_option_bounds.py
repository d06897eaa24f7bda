"""Every numeric and date option of every command has bounds: a value outside them is refused in
one line on stderr with a non-zero exit status, no traceback and nothing written, and the values
at the bounds are accepted."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests import world
from tests.processes import manage_py

HOUR_AGO = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)

LOOP_ONLY = "--max-ticks and --interval go with --loop"

# What issue 10 (finding 9) found ending in a traceback, in a failed tick that trips the failure
# alert, or silently ignored; and the line each must now print instead.
FINDINGS = [
    (
        ["rollup_usage", "--lag", "1e308"],
        "argument --lag: must be a number of seconds from 0 to 2,678,400 (31 days), not '1e308'",
    ),
    (["rollup_usage", "--lag", "1e14"], "argument --lag: must be a number of seconds from 0 to"),
    (["rollup_usage", "--lag", "1e12"], "argument --lag: must be a number of seconds from 0 to"),
    (
        ["rollup_usage", "--loop", "--interval", "1e308"],
        "argument --interval: must be a number of seconds above 0, at most 86,400 (1 day)",
    ),
    (
        ["usage_rollup_status", "--max-lag", "1e308"],
        "argument --max-lag: must be a number of seconds from 0 to 315,360,000 (3,650 days)",
    ),
    (
        ["verify_usage_rollup", "--until", "9999-12-31"],
        "argument --until: must be a UTC day from 1970-01-01 to 2199-12-31 (YYYY-MM-DD), "
        "not '9999-12-31'",
    ),
    (
        ["verify_usage_rollup", "--slice-days", "100000000"],
        "argument --slice-days: must be a whole number from 1 to 3,660, not '100000000'",
    ),
    (
        ["backfill_task_usage_daily", "--months-back", "99999999999999999999", "--force-partial"],
        "argument --months-back: must be a whole number from 1 to 1,200",
    ),
    (["rollup_usage", "--max-ticks", "3"], f"CommandError: {LOOP_ONLY}"),
    (["rollup_usage", "--interval", "5"], f"CommandError: {LOOP_ONLY}"),
]


def _written() -> tuple:
    """Everything the rollup keeps: the state row, the buckets, the queue."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (SELECT to_jsonb(s) FROM task_usage_rollup_state s),
                   (SELECT count(*) FROM task_usage_daily),
                   (SELECT count(*) FROM task_usage_daily_dirty)
            """
        )
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("argv", "message"), FINDINGS, ids=[" ".join(a) for a, _ in FINDINGS])
def test_an_option_out_of_bounds_is_one_line_on_stderr_and_nothing_is_written(argv, message):
    ws = world.workspace()
    world.usage(world.task(world.agent(ws), world.runtime(ws)), at=HOUR_AGO)
    with connection.cursor() as cursor:
        cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")
    world.usage(world.task(world.agent(ws), world.runtime(ws)), at=HOUR_AGO)  # a tick's work
    before = _written()

    process = manage_py(*argv)
    out, err = process.communicate(timeout=120)

    assert process.returncode in (1, 2), err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert message in err
    assert _written() == before


def _call(*argv: str) -> str:
    out = io.StringIO()
    call_command(*argv, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.parametrize(
    ("option", "argv"),
    [
        ("--lag", ["rollup_usage", "--lag", "2678400.001"]),
        ("--lag", ["rollup_usage", "--lag", "nan"]),
        ("--max-rows", ["rollup_usage", "--max-rows", "1000000001"]),
        # Without --loop, which is refused later: the parser refuses the value first.
        ("--interval", ["rollup_usage", "--interval", "0"]),
        ("--interval", ["rollup_usage", "--interval", "86400.5"]),
        ("--max-ticks", ["rollup_usage", "--max-ticks", "1000000001"]),
        ("--from", ["rollup_usage", "--from", "1969-12-31T23:59:59Z", "--to", "2025-01-01"]),
        ("--to", ["rollup_usage", "--from", "2025-01-01", "--to", "2200-01-01"]),
        ("--to", ["rollup_usage", "--from", "2025-01-01", "--to", "9999-12-31T23:00-05:00"]),
        ("--max-lag", ["usage_rollup_status", "--max-lag", "315360001"]),
        ("--max-lag", ["usage_rollup_status", "--max-lag", "inf"]),
        ("--since", ["verify_usage_rollup", "--since", "1969-12-31"]),
        ("--slice-days", ["verify_usage_rollup", "--slice-days", "3661"]),
        ("--months-back", ["backfill_task_usage_daily", "--months-back", "1201", "--dry-run"]),
        ("--rows", ["usage_rollup_demo", "--rows", "100000001"]),
        ("--days", ["usage_rollup_demo", "--days", "3651"]),
        ("--read-days", ["usage_rollup_demo", "--read-days", "3651"]),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_a_value_just_past_a_bound_is_refused(cursor, option, argv):
    with pytest.raises(CommandError, match=f"^Error: argument {option}: must be "):
        _call(*argv)


def test_a_lag_and_a_max_rows_at_their_upper_bounds_are_accepted(cursor):
    out = _call("rollup_usage", "--lag", "2678400", "--max-rows", "1000000000")

    assert out.startswith("Tick: 0 rollup rows changed")


def test_a_window_at_the_bounds_of_the_days_is_accepted(cursor):
    out = _call("rollup_usage", "--from", "1970-01-01", "--to", "2199-12-31T23:59:59Z")

    assert out.startswith("Window 1970-01-01T00:00:00+00:00 .. 2199-12-31T23:59:59+00:00: ")


def test_a_verification_over_the_widest_days_in_the_largest_slices_is_accepted(cursor):
    ws = world.workspace()
    world.usage(world.task(world.agent(ws), world.runtime(ws)), at=HOUR_AGO)

    out = _call(
        "verify_usage_rollup",
        "--since",
        "1970-01-01",
        "--until",
        "2199-12-31",
        "--slice-days",
        "3660",
    )

    assert out.startswith("Checked 1970-01-01 to 2199-12-31.")


def test_the_largest_health_check_threshold_is_accepted(cursor):
    cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")

    assert "Watermark:" in _call("usage_rollup_status", "--max-lag", "315360000")


def test_a_backfill_of_the_most_months_back_is_accepted(cursor):
    out = _call("backfill_task_usage_daily", "--months-back", "1200", "--dry-run")

    assert "nothing was written" in out


@pytest.mark.parametrize(
    "argv", [["--max-ticks", "1"], ["--interval", "60"], ["--catch-up", "--max-ticks", "2"]]
)
def test_loop_options_without_the_loop_are_refused(cursor, argv):
    with pytest.raises(CommandError, match=LOOP_ONLY):
        _call("rollup_usage", *argv)

    cursor.execute("SELECT last_run_started_at FROM task_usage_rollup_state")
    assert cursor.fetchone() in (None, (None,))
