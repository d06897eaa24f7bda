"""`manage.py schedule_usage_rollup`: the entry point as a pg_cron job, scheduled idempotently,
unscheduled, seen by the status, and run by pg_cron itself.

The tests marked pg_cron need a server with pg_cron preloaded and installed in the test
database; CI runs them on Debian's PostgreSQL 15 (see .ci/run) and skips them on the embedded
server, which has no pg_cron.
"""

import datetime
import io
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests import world
from tests.oracle import assert_rollup_matches_oracle, rollup_buckets
from usage_rollup import rollup


def _schedule(*args: str) -> str:
    out = io.StringIO()
    call_command("schedule_usage_rollup", *args, stdout=out)
    return out.getvalue()


def _jobs(cursor) -> list[tuple]:
    cursor.execute(
        "SELECT jobname, schedule, command, active FROM cron.job WHERE jobname = %s",
        [rollup.CRON_JOB_NAME],
    )
    return cursor.fetchall()


def test_without_pg_cron_scheduling_points_to_the_loop(cursor, no_pg_cron):
    with pytest.raises(CommandError, match="pg_cron is not installed in database .* --loop"):
        _schedule()


@pytest.mark.parametrize("args", [[], ["--unschedule"]])
def test_bad_database_alias_is_refused(cursor, args):
    with pytest.raises(CommandError, match="invalid choice: 'elsewhere'"):
        _schedule(*args, "--database", "elsewhere")


@pytest.mark.pg_cron
def test_scheduling_twice_leaves_one_job_with_the_latest_schedule(cursor, pg_cron):
    out = _schedule("--database", "default")
    assert "Scheduled pg_cron job " in out
    assert "'usage_rollup_tick' at '* * * * *': SELECT rollup_task_usage_daily()" in out

    _schedule("--every", "*/5 * * * *")

    assert _jobs(cursor) == [("usage_rollup_tick", "*/5 * * * *", rollup.CRON_COMMAND, True)]


@pytest.mark.pg_cron
def test_unscheduling_removes_the_job_and_says_so_when_there_is_none(cursor, pg_cron):
    _schedule()

    assert _schedule("--unschedule") == "Unscheduled the pg_cron job 'usage_rollup_tick'.\n"
    assert _jobs(cursor) == []
    assert "was scheduled: nothing to remove" in _schedule("--unschedule")


@pytest.mark.pg_cron
def test_a_bad_cron_schedule_is_refused_and_schedules_nothing(cursor, pg_cron):
    with pytest.raises(CommandError, match="scheduling failed in the database: invalid schedule"):
        _schedule("--every", "every minute")

    assert _jobs(cursor) == []


@pytest.mark.pg_cron
def test_the_status_shows_the_scheduled_job(cursor, pg_cron):
    _schedule("--every", "*/10 * * * *")
    out = io.StringIO()

    call_command("usage_rollup_status", stdout=out)

    assert "pg_cron:     job " in out.getvalue()
    assert "'usage_rollup_tick' at '*/10 * * * *', active, last run none" in out.getvalue()


@pytest.mark.pg_cron
@pytest.mark.django_db(transaction=True)
def test_pg_cron_runs_the_scheduled_tick(pg_cron):
    ws = world.workspace()
    an_hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    world.usage(world.task(world.agent(ws), world.runtime(ws)), at=an_hour_ago)
    _schedule("--every", "* * * * *")
    with connection.cursor() as cursor:
        cursor.execute("SELECT jobid FROM cron.job WHERE jobname = %s", [rollup.CRON_JOB_NAME])
        (jobid,) = cursor.fetchone()
    try:
        # pg_cron starts jobs on the minute: wait for one run, at most a little over a minute.
        deadline = time.monotonic() + 75
        while time.monotonic() < deadline and not _run_succeeded(jobid):
            time.sleep(1)
    finally:
        _schedule("--unschedule")

    assert _run_succeeded(jobid)
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_run_finished_at, last_error FROM task_usage_rollup_state")
        finished, error = cursor.fetchone()
        assert finished is not None and error is None
        assert len(rollup_buckets(cursor)) == 1
        assert_rollup_matches_oracle(cursor)


def _run_succeeded(jobid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM cron.job_run_details WHERE jobid = %s AND status = 'succeeded'",
            [jobid],
        )
        return cursor.fetchone()[0] > 0
