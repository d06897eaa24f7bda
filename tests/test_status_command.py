"""`manage.py usage_rollup_status`: the rollup's health for people, for machines (--json) and
for health checks (--max-lag)."""

import datetime
import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from tests import world
from usage_rollup import rollup
from usage_rollup.health import StatusLine, status_lines, when

HOUR_AGO = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)


def _status(*args: str) -> str:
    out = io.StringIO()
    call_command("usage_rollup_status", *args, stdout=out)
    return out.getvalue()


def _tick(cursor) -> None:
    cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")


def _forget_the_rollup(cursor) -> None:
    cursor.execute("DELETE FROM task_usage_rollup_state")


def test_before_the_first_tick_the_status_says_it_never_ran(cursor):
    _forget_the_rollup(cursor)

    out = _status("--database", "default")

    assert out.startswith("Watermark:   none, the rollup never ran")
    assert "Last run:    started never\n" in out
    assert json.loads(_status("--json"))["lag_seconds"] is None


def test_a_rollup_that_never_ran_fails_the_health_check(cursor):
    _forget_the_rollup(cursor)

    with pytest.raises(
        CommandError, match="the rollup never ran: backfill, then schedule its ticks"
    ):
        _status("--max-lag", "600")


def test_a_fresh_rollup_passes_the_health_check(cursor):
    _tick(cursor)

    assert "s behind the clock" in _status("--max-lag", "3600")


def test_a_stale_rollup_fails_the_health_check_after_printing_its_status(cursor):
    _tick(cursor)
    cursor.execute("UPDATE task_usage_rollup_state SET watermark_at = now() - interval '1 hour'")
    out = io.StringIO()

    with pytest.raises(CommandError, match=r"stale: 36\d\d\.\d s behind .* --max-lag 600 s"):
        call_command("usage_rollup_status", "--max-lag", "600", stdout=out)

    assert out.getvalue().startswith("Watermark:   ")


def test_the_status_shows_the_queue_the_last_run_and_the_last_error(cursor):
    ws = world.workspace()
    usage = world.usage(world.task(world.agent(ws), world.runtime(ws)), at=HOUR_AGO)
    _tick(cursor)
    usage.delete()  # queues its bucket
    cursor.execute(
        "UPDATE task_usage_rollup_state SET last_error = 'disk full', last_error_at = now(), "
        "failed_runs = 2"
    )

    out = _status()

    assert "Dirty queue: 1 bucket, the oldest queued " in out
    assert ", 1 rollup rows changed\n" in out
    assert "Last error:  disk full at 20" in out and "(2 failed runs in all)" in out


def test_json_has_the_same_figures_for_machines(cursor):
    ws = world.workspace()
    world.usage(world.task(world.agent(ws), world.runtime(ws))).delete()
    _tick(cursor)
    cursor.execute("SELECT watermark_at FROM task_usage_rollup_state")
    (watermark,) = cursor.fetchone()

    status = json.loads(_status("--json"))

    assert datetime.datetime.fromisoformat(status["watermark_at"]) == watermark
    assert status["dirty_buckets"] == 0 and status["last_run_rows"] == 0
    assert status["last_error"] is None and status["failed_runs"] == 0
    assert 0 <= status["lag_seconds"] < 60 and status["last_run_seconds"] >= 0
    assert {"pg_cron_installed", "cron_jobs", "oldest_dirty_age_seconds"} <= status.keys()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-lag", "-1"], "argument --max-lag: must be a number of seconds from 0 to"),
        (["--database", "elsewhere"], "invalid choice: 'elsewhere'"),
    ],
)
def test_bad_options_are_refused(cursor, args, message):
    with pytest.raises(CommandError, match=message):
        _status(*args)


def test_without_pg_cron_the_status_points_to_the_loop(cursor, no_pg_cron):
    assert (
        "pg_cron:     not installed in this database (tick with manage.py rollup_usage --loop)"
        in (_status())
    )


def _set_state(cursor, assignments: str) -> None:
    """Write the state row's new columns as the rollup's core does (after a tick made the row)."""
    _tick(cursor)
    cursor.execute(f"UPDATE task_usage_rollup_state SET {assignments} WHERE id = 1")


def _line(label: str) -> StatusLine:
    """The status line with this label as the command prints it, and its level."""
    (printed,) = [line for line in _status().splitlines() if line.startswith(f"{label}:")]
    (line,) = [line for line in status_lines(rollup.state()) if line.label == label]
    return StatusLine(label, printed.removeprefix(f"{label}:").lstrip(), line.level)


def _when(cursor, column: str) -> str:
    cursor.execute(f"SELECT {column} FROM task_usage_rollup_state WHERE id = 1")
    return when(cursor.fetchone()[0])


def test_a_watermark_ahead_of_the_database_clock_is_an_error(cursor):
    _set_state(cursor, "watermark_at = clock_timestamp() + interval '1 hour'")

    line = _line("Clock")

    assert line.level == "error"
    assert re.fullmatch(
        r"the watermark is 3[56]\d\d\.\d s ahead of the database clock, which stepped back: "
        r"the next tick recovers",
        line.text,
    )


def test_a_step_back_of_the_clock_in_the_last_day_is_a_warning_with_its_time_and_size(cursor):
    _set_state(
        cursor,
        "watermark_ahead_at = clock_timestamp() - interval '23 hours', "
        "watermark_ahead_seconds = 42.5, clock_steps_back = 3",
    )

    line = _line("Clock")

    assert line.level == "warning"
    assert line.text == (
        f"stepped back at {_when(cursor, 'watermark_ahead_at')}: the watermark was 42.5 s ahead "
        "of it and a tick recovered (3 steps back in all)"
    )


def test_a_step_back_of_the_clock_over_a_day_ago_is_history_not_a_warning(cursor):
    _set_state(
        cursor,
        "watermark_ahead_at = clock_timestamp() - interval '25 hours', "
        "watermark_ahead_seconds = 42.5, clock_steps_back = 1",
    )

    line = _line("Clock")

    assert line.level == "ok" and line.text.endswith("(1 step back in all)")


def test_a_clock_that_never_stepped_back_is_ok(cursor):
    _tick(cursor)

    assert _line("Clock") == StatusLine("Clock", "no step back seen")


def test_a_running_backfill_shows_its_slices_since_it_started(cursor):
    _set_state(
        cursor,
        "backfill_started_at = '2026-01-02 03:04:05+00', backfill_slices_done = 3, "
        "backfill_slices_total = 12, backfill_heartbeat_at = '2026-01-02 03:09:00+00', "
        "backfill_lease_until = clock_timestamp() + interval '1 minute'",
    )

    assert _line("Backfill") == StatusLine(
        "Backfill",
        "running since 2026-01-02 03:04:05+00:00, 3 of 12 slices done, "
        "heartbeat 2026-01-02 03:09:00+00:00",
    )


def test_a_backfill_whose_lease_ran_out_before_it_finished_is_an_error(cursor):
    _set_state(
        cursor,
        "backfill_started_at = '2026-01-02 03:04:05+00', backfill_slices_done = 3, "
        "backfill_slices_total = 12, backfill_lease_until = clock_timestamp() - interval '1 s'",
    )

    assert _line("Backfill") == StatusLine(
        "Backfill",
        "started 2026-01-02 03:04:05+00:00, 3 of 12 slices, not finished: "
        "run backfill_task_usage_daily again",
        "error",
    )


def test_a_backfill_finished_before_the_latest_one_started_does_not_finish_it(cursor):
    _set_state(
        cursor,
        "backfill_started_at = '2026-01-02 03:04:05+00', backfill_slices_done = 0, "
        "backfill_finished_at = '2026-01-01 00:00:00+00'",
    )

    assert _line("Backfill").text == (
        "started 2026-01-02 03:04:05+00:00, 0 of ? slices, not finished: "
        "run backfill_task_usage_daily again"
    )


def test_a_finished_backfill_shows_when_it_finished(cursor):
    _set_state(
        cursor,
        "backfill_started_at = '2026-01-02 03:04:05+00', backfill_slices_done = 12, "
        "backfill_slices_total = 12, backfill_finished_at = '2026-01-02 04:00:00+00', "
        "backfill_lease_until = '2026-01-02 04:00:00+00'",
    )

    assert _line("Backfill") == StatusLine(
        "Backfill", "finished 2026-01-02 04:00:00+00:00, 12 of 12 slices"
    )


def test_without_a_backfill_the_backfill_line_says_none(cursor):
    _tick(cursor)

    assert _line("Backfill") == StatusLine("Backfill", "none")


def test_set_aside_buckets_are_an_error_naming_three_of_them_and_counting_all(cursor):
    runtime = world.runtime(world.workspace())
    for day in range(1, 6):
        world.set_aside(runtime, day=datetime.date(2026, 1, day), error=f"overflow {day}")

    line = _line("Set aside")

    assert line.level == "error"
    named = "; ".join(
        f"2026-01-0{day} runtime {runtime.pk} workspace {runtime.workspace_id} "
        f"anthropic/claude-sonnet: overflow {day}"
        for day in (1, 2, 3)
    )
    assert line.text == (
        "5 buckets cannot be computed and stay out of the rollup, retried by every tick: "
        f"{named}; and 2 more"
    )


def test_without_set_aside_buckets_the_line_says_none(cursor):
    assert _line("Set aside") == StatusLine("Set aside", "none")


@pytest.mark.parametrize(
    ("assignments", "message"),
    [
        (
            "watermark_at = clock_timestamp() + interval '1 hour'",
            r"^the watermark is 3[56]\d\d\.\d s ahead of the database clock, which stepped back",
        ),
        (
            "backfill_started_at = '2026-01-02 03:04:05+00', backfill_slices_done = 3, "
            "backfill_slices_total = 12",
            r"^a backfill started 2026-01-02 03:04:05\+00:00, 3 of 12 slices, not finished: "
            r"run backfill_task_usage_daily again$",
        ),
    ],
    ids=["watermark ahead", "unfinished backfill"],
)
def test_the_health_check_fails_on_what_a_fresh_lag_does_not_show(cursor, assignments, message):
    _set_state(cursor, assignments)

    with pytest.raises(CommandError, match=message):
        _status("--max-lag", "3600")


def test_the_health_check_fails_while_buckets_are_set_aside(cursor):
    _tick(cursor)
    world.set_aside(world.runtime(world.workspace()))

    with pytest.raises(
        CommandError, match=r"^1 bucket set aside, out of the rollup: usage_rollup_status names"
    ):
        _status("--max-lag", "3600")


def test_the_health_check_names_every_problem_at_once(cursor):
    _set_state(cursor, "watermark_at = now() - interval '2 hours', backfill_started_at = now()")
    world.set_aside(world.runtime(world.workspace()))

    with pytest.raises(CommandError) as refused:
        _status("--max-lag", "600")

    assert re.fullmatch(
        r"the rollup is stale: 7\d\d\d\.\d s behind the clock, more than --max-lag 600 s; "
        r"a backfill started 20.*, 0 of \? slices, not finished: run backfill_task_usage_daily "
        r"again; 1 bucket set aside, out of the rollup: usage_rollup_status names them",
        str(refused.value),
    )


def test_a_running_backfill_passes_the_health_check(cursor):
    _set_state(
        cursor,
        "backfill_started_at = now(), backfill_lease_until = clock_timestamp() + interval '1 min'",
    )

    assert "Backfill:    running since" in _status("--max-lag", "3600")


def test_json_has_the_clock_the_backfill_and_the_set_aside_buckets(cursor):
    _set_state(
        cursor,
        "watermark_ahead_at = '2026-01-02 03:04:05+00', watermark_ahead_seconds = 2.5, "
        "clock_steps_back = 1, backfill_started_at = '2026-01-02 03:00:00+00', "
        "backfill_heartbeat_at = '2026-01-02 03:01:00+00', backfill_slices_done = 4, "
        "backfill_slices_total = 9",
    )
    runtime = world.runtime(world.workspace())
    world.set_aside(runtime, error="bigint out of range")

    status = json.loads(_status("--json"))

    assert status["watermark_ahead_at"] == "2026-01-02T03:04:05+00:00"
    assert status["watermark_ahead_seconds"] == 2.5 and status["clock_steps_back"] == 1
    assert status["watermark_ahead_now_seconds"] == 0
    assert status["backfill_status"] == "unfinished"
    assert status["backfill_started_at"] == "2026-01-02T03:00:00+00:00"
    assert status["backfill_heartbeat_at"] == "2026-01-02T03:01:00+00:00"
    assert (status["backfill_slices_done"], status["backfill_slices_total"]) == (4, 9)
    assert status["backfill_lease_until"] is None and status["backfill_finished_at"] is None
    assert status["set_aside_buckets"] == 1
    (bucket,) = status["set_aside"]
    assert {key: bucket[key] for key in ("bucket_date", "runtime_id", "model", "error")} == {
        "bucket_date": "2026-01-02",
        "runtime_id": str(runtime.pk),
        "model": "claude-sonnet",
        "error": "bigint out of range",
    }
    assert bucket["attempts"] == 1 and bucket["first_failed_at"].startswith("20")
    assert datetime.datetime.fromisoformat(status["read_at"]).tzinfo is not None
