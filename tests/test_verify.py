"""`manage.py verify_usage_rollup` finds every wrong bucket, tells pending from wrong, and
`--repair` queues the wrong ones for the next tick."""

import datetime
import io
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from tests import world
from tests.oracle import assert_rollup_matches_oracle
from tests.processes import database_url

START = datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC)


@pytest.fixture
def rolled_up(cursor):
    """Ten days of usage on two runtimes, written in the past and rolled up by a tick."""
    ws = world.workspace()
    runtimes = [world.runtime(ws), world.runtime(ws)]
    ag = world.agent(ws)
    for day in range(10):
        for rt in runtimes:
            job = world.task(ag, rt)
            for model in ("opus", "haiku", "sonnet"):
                at = START + datetime.timedelta(days=day)
                world.usage(job, model, at=at, input_tokens=day + 1, output_tokens=2)
    cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")
    assert_rollup_matches_oracle(cursor)
    return runtimes


def _verify(**options) -> tuple[str, str | None]:
    out = io.StringIO()
    try:
        call_command("verify_usage_rollup", stdout=out, **options)
    except CommandError as error:
        return out.getvalue(), str(error)
    return out.getvalue(), None


def test_an_exact_rollup_passes(rolled_up):
    printed, error = _verify()
    assert error is None
    assert "Checked 2026-03-01 to 2026-03-10." in printed
    assert "The rollup equals the raw aggregate." in printed


def test_a_changed_a_missing_and_an_extra_bucket_are_each_reported(cursor, rolled_up):
    cursor.execute(
        "UPDATE task_usage_daily SET input_tokens = input_tokens + 1"
        " WHERE bucket_date = '2026-03-02' AND model = 'opus'"
    )
    cursor.execute(
        "DELETE FROM task_usage_daily WHERE bucket_date = '2026-03-03' AND model = 'haiku'"
    )
    cursor.execute(
        """
        INSERT INTO task_usage_daily (bucket_date, workspace_id, runtime_id, provider, model,
               input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, event_count)
        SELECT '2026-03-04', workspace_id, runtime_id, provider, 'ghost', 1, 1, 1, 1, 1
          FROM task_usage_daily LIMIT 1
        """
    )

    printed, error = _verify()

    assert error == "5 buckets of the rollup differ from the raw rows."
    assert printed.count("rollup input 3, output 2") == 2  # 2026-03-02 opus, both runtimes
    assert printed.count("2026-03-03") == 2 and "missing from the rollup" in printed
    assert "anthropic/ghost: in the rollup" in printed and "has no raw rows" in printed


def test_buckets_the_rollup_has_not_caught_up_with_are_pending_not_wrong(cursor, rolled_up):
    cursor.execute("UPDATE task_usage SET input_tokens = 100 WHERE model = 'opus'")

    printed, error = _verify()

    assert error is None
    assert "20 buckets pending" in printed


def test_only_a_screenful_of_wrong_buckets_is_printed(cursor, rolled_up):
    cursor.execute("UPDATE task_usage_daily SET event_count = event_count + 1")

    printed, error = _verify()

    assert error == "60 buckets of the rollup differ from the raw rows."
    assert len([line for line in printed.splitlines() if line.startswith("  2026")]) == 20
    assert "... and 40 more." in printed


def test_repair_queues_the_wrong_buckets_and_the_next_window_fixes_them(cursor, rolled_up):
    cursor.execute("UPDATE task_usage_daily SET output_tokens = 0 WHERE model = 'sonnet'")

    printed, error = _verify(repair=True)

    assert error == "20 buckets of the rollup differ from the raw rows."
    assert "Queued 20 buckets" in printed
    cursor.execute("SELECT rollup_task_usage_daily_window('infinity', 'infinity')")
    assert _verify()[1] is None
    assert_rollup_matches_oracle(cursor)


def test_since_and_until_bound_the_days_checked(cursor, rolled_up):
    cursor.execute("UPDATE task_usage_daily SET event_count = 0 WHERE bucket_date = '2026-03-05'")

    assert _verify(since=datetime.date(2026, 3, 6))[1] is None
    assert _verify(until=datetime.date(2026, 3, 4))[1] is None
    printed, error = _verify(since=datetime.date(2026, 3, 5), until=datetime.date(2026, 3, 5))
    assert "Checked 2026-03-05 to 2026-03-05." in printed
    assert error == "6 buckets of the rollup differ from the raw rows."


def test_slices_of_any_size_find_the_same_buckets(cursor, rolled_up):
    cursor.execute("UPDATE task_usage_daily SET event_count = 0 WHERE model = 'haiku'")
    for slice_days in (1, 3, 100):
        assert (
            _verify(slice_days=slice_days)[1]
            == "20 buckets of the rollup differ from the raw rows."
        )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--since", "2026-13-01"], r"must be a UTC day .* \(YYYY-MM-DD\), not '2026-13-01'"),
        (["--since", "2026-03-05", "--until", "2026-03-01"], "after it ends"),
        (["--slice-days", "0"], "must be a whole number from 1 to 3,660, not '0'"),
    ],
)
def test_bad_input_is_refused_with_a_reason(rolled_up, argv, message):
    with pytest.raises(CommandError, match=message):
        call_command("verify_usage_rollup", *argv, stdout=io.StringIO())


def test_an_empty_database_has_nothing_to_verify(db):
    assert "nothing to verify" in _verify()[0]


@pytest.mark.django_db(transaction=True)
def test_a_difference_exits_non_zero_without_a_traceback_from_the_shell(cursor, settings):
    ws = world.workspace()
    world.usage(world.task(world.agent(ws), world.runtime(ws)), at=START)
    cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")
    cursor.execute("UPDATE task_usage_daily SET event_count = 7")
    env = {"DATABASE_URL": database_url(), "PATH": "/usr/bin:/bin"}

    done = subprocess.run(
        [sys.executable, "manage.py", "verify_usage_rollup"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert done.returncode == 1
    assert "CommandError: 1 bucket of the rollup differs from the raw rows." in done.stderr
    assert "Traceback" not in done.stderr
