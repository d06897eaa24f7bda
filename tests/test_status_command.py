"""`manage.py usage_rollup_status`: the rollup's health for people, for machines (--json) and
for health checks (--max-lag)."""

import datetime
import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests import world

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
