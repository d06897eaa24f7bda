"""`manage.py backfill_task_usage_daily`: history in slices of bucket days, under the rollup's
lock, then the watermark; a dry run, a refused partial run, an interrupted run and a re-run."""

import datetime
import io
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests import world
from tests.oracle import assert_rollup_matches_oracle, rollup_buckets
from usage_rollup import rollup
from usage_rollup.management.progress import BackfillProgress

ROLLUP_LOCK = "locktype = 'advisory' AND classid = 1970434924 AND objid = 1"
UTC = datetime.UTC


def _task():
    ws = world.workspace()
    return world.task(world.agent(ws), world.runtime(ws))


def _history(months: list[int]) -> None:
    """One usage row on the 10th of each of these months of 2025, written back then."""
    task = _task()
    for month in months:
        world.usage(task, model=f"m{month}", at=datetime.datetime(2025, month, 10, tzinfo=UTC))


def _backfill(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("backfill_task_usage_daily", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _watermark(cursor):
    cursor.execute("SELECT watermark_at FROM task_usage_rollup_state WHERE id = 1")
    row = cursor.fetchone()
    return row[0] if row else None


def test_backfill_rolls_up_history_in_monthly_slices_and_stamps_the_watermark(cursor):
    _history([1, 2, 4])
    cursor.execute("SELECT clock_timestamp()")
    (before,) = cursor.fetchone()

    out, err = _backfill("--database", "default")

    assert "Backfill done: 3 slices, 3 rollup rows changed" in out  # March has no rows
    assert "slice 3/3" in err and "3.00/3.00" in err
    assert_rollup_matches_oracle(cursor)
    assert _watermark(cursor) >= before


def test_slices_follow_the_bucket_day_even_when_all_rows_share_one_updated_at(cursor):
    # As on a database that predates the rollup: the migration gave every row one updated_at.
    _history([1, 2, 3])
    cursor.execute("UPDATE task_usage SET updated_at = '2025-06-01 00:00+00'")

    out, _ = _backfill("--dry-run")

    assert out.splitlines()[:3] == [
        "2025-01-01 .. 2025-02-01             1 rows",
        "2025-02-01 .. 2025-03-01             1 rows",
        "2025-03-01 .. 2025-04-01             1 rows",
    ]
    _backfill()
    assert_rollup_matches_oracle(cursor)


def test_a_week_slice_cuts_history_by_week(cursor):
    task = _task()
    for day in (6, 13):  # two Mondays
        world.usage(task, model=f"d{day}", at=datetime.datetime(2025, 1, day, tzinfo=UTC))

    out, _ = _backfill("--slice", "week", "--dry-run")

    assert out.splitlines()[:2] == [
        "2025-01-06 .. 2025-01-13             1 rows",
        "2025-01-13 .. 2025-01-20             1 rows",
    ]


def test_slices_without_rows_are_not_walked(cursor):
    task = _task()
    for year in (2001, 2025, 2198):  # a stray row at each end of the accepted range
        world.usage(task, model=f"y{year}", at=datetime.datetime(year, 5, 10, tzinfo=UTC))

    out, _ = _backfill("--dry-run")

    assert out.splitlines() == [
        "2001-05-01 .. 2001-06-01             1 rows",
        "2025-05-01 .. 2025-06-01             1 rows",
        "2198-05-01 .. 2198-06-01             1 rows",
        "Dry run: 3 slices, 3 usage rows; nothing was written.",
    ]


def test_a_dry_run_prints_the_slices_and_writes_nothing(cursor):
    _history([1, 2])

    out, _ = _backfill("--dry-run")

    assert "Dry run: 2 slices, 2 usage rows; nothing was written." in out
    assert rollup_buckets(cursor) == {}
    assert _watermark(cursor) is None
    cursor.execute(f"SELECT count(*) FROM pg_locks WHERE {ROLLUP_LOCK}")
    assert cursor.fetchone()[0] == 0


def test_the_backfill_deletes_buckets_whose_rows_are_gone(cursor):
    _history([1])
    _backfill()
    cursor.execute(
        "ALTER TABLE task_usage DISABLE TRIGGER USER; DELETE FROM task_usage;"
        "ALTER TABLE task_usage ENABLE TRIGGER USER"
    )  # a delete the invalidation triggers did not see: only the backfill can find it

    _backfill()

    assert rollup_buckets(cursor) == {}


def test_months_back_is_refused_without_force_partial(cursor):
    _history([1])

    with pytest.raises(CommandError, match="add --force-partial if that is intended"):
        _backfill("--months-back", "2")

    assert rollup_buckets(cursor) == {}
    assert _watermark(cursor) is None


def test_months_back_with_force_partial_leaves_older_days_behind_the_watermark(cursor):
    task = _task()
    now = datetime.datetime.now(UTC)
    world.usage(task, model="old", at=now - datetime.timedelta(days=200))
    world.usage(task, model="recent", at=now - datetime.timedelta(days=10))

    out, _ = _backfill("--months-back", "2", "--force-partial")

    assert "Backfill done:" in out
    assert [key[4] for key in rollup_buckets(cursor)] == ["recent"]
    assert _watermark(cursor) > now


@pytest.mark.parametrize(
    "args, message",
    [
        (["--slice", "year"], "invalid choice: 'year'"),
        (["--months-back", "0", "--force-partial"], "must be a whole number from 1 to"),
        (["--months-back", "-3", "--force-partial"], "must be a whole number from 1 to"),
        (["--database", "elsewhere"], "invalid choice: 'elsewhere'"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(cursor, args, message):
    _history([1])

    with pytest.raises(CommandError, match=message):
        _backfill(*args)

    assert rollup_buckets(cursor) == {}


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_backfill_keeps_its_slices_and_a_rerun_finishes(session, monkeypatch):
    _history([1, 2, 3])
    other = session()
    finish_slice = BackfillProgress.sliced

    def interrupt_after_the_first_slice(self, piece, rows_changed):
        finish_slice(self, piece, rows_changed)
        raise KeyboardInterrupt  # Ctrl-C between slices

    monkeypatch.setattr(BackfillProgress, "sliced", interrupt_after_the_first_slice)
    with pytest.raises(
        CommandError, match="interrupted after 1 of 3 slices.*run the command again"
    ):
        _backfill()

    with connection.cursor() as cursor:
        assert [key[4] for key in rollup_buckets(cursor)] == ["m1"]
        assert _watermark(cursor) is None
        # Unfinished, in the state row for the status to report; its lease given up for ticks.
        cursor.execute(
            "SELECT backfill_started_at IS NOT NULL, backfill_slices_done, backfill_slices_total,"
            " backfill_finished_at, backfill_lease_until FROM task_usage_rollup_state"
        )
        assert cursor.fetchone() == (True, 1, 3, None, None)
    assert other.execute("SELECT pg_try_advisory_xact_lock(1970434924, 1)").fetchone()[0]

    monkeypatch.undo()
    out, _ = _backfill()
    assert "Backfill done: 3 slices" in out
    with connection.cursor() as cursor:
        assert_rollup_matches_oracle(cursor)
        assert _watermark(cursor) is not None
        cursor.execute(
            "SELECT backfill_slices_done, backfill_finished_at IS NOT NULL"
            " FROM task_usage_rollup_state"
        )
        assert cursor.fetchone() == (3, True)


@pytest.mark.django_db(transaction=True)
def test_a_tick_during_the_backfill_skips_instead_of_racing_it(session, monkeypatch):
    _history([1, 2])
    ticker = session()
    ticks = []
    finish_slice = BackfillProgress.sliced

    def tick_meanwhile(self, piece, rows_changed):
        ticks.append(ticker.execute("SELECT rollup_task_usage_daily('0 seconds')").fetchone()[0])
        finish_slice(self, piece, rows_changed)

    monkeypatch.setattr(BackfillProgress, "sliced", tick_meanwhile)
    _backfill()

    assert ticks == [0, 0]
    with connection.cursor() as cursor:
        assert_rollup_matches_oracle(cursor)


@pytest.mark.django_db(transaction=True)
def test_a_backfill_gives_up_while_another_session_keeps_the_rollups_lock(session, settings):
    _history([1])
    other = session(autocommit=False)
    other.execute("SELECT pg_advisory_xact_lock(1970434924, 1)")  # a long window, say
    settings.USAGE_ROLLUP_BACKFILL_LOCK_TIMEOUT = 0.2

    with pytest.raises(CommandError, match="another session has held the rollup's lock for 0.2 s"):
        _backfill()

    with connection.cursor() as cursor:
        assert rollup_buckets(cursor) == {}
        assert _watermark(cursor) is None
        cursor.execute("SELECT task_usage_rollup_backfill_running()")
        assert cursor.fetchone() == (False,)  # it gave its lease up


def _lease_held_elsewhere(conn, lease: str) -> None:
    conn.execute(
        "SELECT rollup_task_usage_daily_backfill_begin(gen_random_uuid(), 13, %s::interval)",
        [lease],
    )


@pytest.mark.django_db(transaction=True)
def test_a_second_backfill_is_refused_while_another_holds_its_lease(session):
    _history([1])
    _lease_held_elsewhere(session(), "1 hour")

    with pytest.raises(CommandError, match="another backfill is running: started .* 0 of 13"):
        _backfill()

    with connection.cursor() as cursor:
        assert rollup_buckets(cursor) == {}


@pytest.mark.django_db(transaction=True)
def test_ticks_skip_while_a_backfill_holds_its_lease_and_resume_when_it_runs_out(session):
    _history([1])
    _lease_held_elsewhere(session(), "1 second")

    skipped = rollup.tick(datetime.timedelta(0))
    time.sleep(1.1)  # the backfill died: nobody renews its lease
    ticked = rollup.tick(datetime.timedelta(0))

    assert skipped.skipped and skipped.skip_reason == rollup.SKIPPED_FOR_BACKFILL
    assert not ticked.skipped and not ticked.failed
    with connection.cursor() as cursor:
        assert_rollup_matches_oracle(cursor)


def test_the_watermark_never_moves_back(cursor):
    _history([1])
    later = datetime.datetime(2100, 1, 1, tzinfo=UTC)
    cursor.execute(
        """
        INSERT INTO task_usage_rollup_state (id, watermark_at) VALUES (1, %s)
        ON CONFLICT (id) DO UPDATE SET watermark_at = excluded.watermark_at
        """,
        [later],
    )

    result = rollup.backfill()

    assert result.watermark_at == later
