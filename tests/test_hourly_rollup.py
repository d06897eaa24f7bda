"""The hourly rollup, task_usage_hourly: each daily bucket's UTC hours, written with it by the one
recompute, on both of its paths, in any session time zone; set aside with it; filled for an
existing rollup by migration 0010. The oracle (tests/oracle.py) decides, by hour and by day."""

import datetime

import pytest

from tests import world
from tests.oracle import assert_rollup_matches_oracle, rollup_hours
from tests.rollup_calls import roll_up_everything, roll_up_queue_only
from usage_rollup import queries, rollup, verification
from usage_rollup.operations import SQL_DIR

DAY = datetime.datetime(2026, 3, 10, tzinfo=datetime.UTC)
BIG = 5 * 10**18  # two of these overflow bigint; with a third of -BIG, the day fits


def _hours_of(cursor, runtime) -> dict[datetime.datetime, int]:
    """The runtime's hourly rows as {UTC hour (naive): input tokens}."""
    return {
        key[0]: totals[0] for key, totals in rollup_hours(cursor).items() if key[2] == runtime.pk
    }


def _naive(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(tzinfo=None)


def test_each_utc_hour_of_a_day_is_a_bucket_whatever_the_session_time_zone(cursor):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    edges = [
        DAY,
        DAY + datetime.timedelta(minutes=59, seconds=59.999999),
        DAY + datetime.timedelta(hours=1),
        DAY + datetime.timedelta(hours=23, minutes=30),
        DAY + datetime.timedelta(days=1),
    ]
    for n, at in enumerate(edges):
        world.usage(world.task(ag, rt), at=at, input_tokens=10**n)
    # A session half an hour off UTC: date_trunc('hour') in it would cut at :30.
    cursor.execute("SET LOCAL TimeZone = 'Asia/Kolkata'")

    roll_up_everything(cursor)

    assert _hours_of(cursor, rt) == {
        _naive(DAY): 11,
        _naive(DAY + datetime.timedelta(hours=1)): 100,
        _naive(DAY + datetime.timedelta(hours=23)): 1000,
        _naive(DAY + datetime.timedelta(days=1)): 10000,
    }
    assert_rollup_matches_oracle(cursor)


def _two_tenants_in_one_slice(cursor):
    """A small runtime (one task) and a large one (six tasks, four with usage) in one (day,
    provider, model) slice: the small one's bucket is recomputed by its runtime's tasks, the
    large one's through the slice (sql/task_usage_daily_choose_paths.v2.sql)."""
    ws = world.workspace()
    ag = world.agent(ws)
    small, large = world.runtime(ws), world.runtime(ws)
    small_row = world.usage(world.task(ag, small), at=DAY + datetime.timedelta(hours=3))
    large_tasks = [world.task(ag, large) for _ in range(6)]
    large_rows = [
        world.usage(job, at=DAY + datetime.timedelta(hours=n), input_tokens=n + 1)
        for n, job in enumerate(large_tasks[:4])
    ]
    roll_up_everything(cursor)
    return {"small": (small, small_row), "large": (large, large_rows[0])}


@pytest.mark.parametrize(("tenant", "slices_listed"), [("small", False), ("large", True)])
def test_a_row_moved_to_another_hour_of_its_day_moves_between_hours_on_either_path(
    cursor, tenant, slices_listed
):
    rt, row = _two_tenants_in_one_slice(cursor)[tenant]
    before = _hours_of(cursor, rt)
    old_hour = _naive(row.created_at.replace(minute=0, second=0, microsecond=0))
    assert old_hour in before

    # The same day and bucket: only its hours change. Nothing is queued (the bucket is the
    # same); the update stamps updated_at, and the window of this transaction's changes finds it.
    cursor.execute(
        "UPDATE task_usage SET created_at = created_at + interval '20 hours 15 minutes'"
        " WHERE id = %s",
        [row.pk],
    )
    cursor.execute("SELECT rollup_task_usage_daily_window(now(), 'infinity')")

    cursor.execute("SELECT count(*) > 0 FROM pg_temp.task_usage_daily_slices")
    assert cursor.fetchone()[0] is slices_listed, "the recompute took the other path"
    after = _hours_of(cursor, rt)
    assert old_hour not in after
    assert old_hour + datetime.timedelta(hours=20) in after
    assert_rollup_matches_oracle(cursor)


def test_a_bucket_with_an_hour_out_of_bigint_range_is_set_aside_with_its_hours(cursor):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    rows = [
        world.usage(world.task(ag, rt), at=DAY + datetime.timedelta(hours=1), input_tokens=BIG),
        world.usage(world.task(ag, rt), at=DAY + datetime.timedelta(hours=1), input_tokens=BIG),
        world.usage(world.task(ag, rt), at=DAY + datetime.timedelta(hours=2), input_tokens=-BIG),
    ]
    world.usage(world.task(ag, rt), "haiku", at=DAY, input_tokens=7)

    roll_up_everything(cursor)

    cursor.execute("SELECT error FROM task_usage_daily_set_aside WHERE runtime_id = %s", [rt.pk])
    (error,) = cursor.fetchone()
    assert "one of its hours" in error
    cursor.execute("SELECT model FROM task_usage_daily WHERE runtime_id = %s", [rt.pk])
    assert cursor.fetchall() == [("haiku",)]
    assert _hours_of(cursor, rt) == {_naive(DAY): 7}, "the set-aside bucket kept an hour"

    cursor.execute("UPDATE task_usage SET input_tokens = 1 WHERE id = %s", [rows[0].pk])
    roll_up_everything(cursor)

    cursor.execute("SELECT count(*) FROM task_usage_daily_set_aside")
    assert cursor.fetchone() == (0,)
    assert_rollup_matches_oracle(cursor)


def _run_first_fill(cursor) -> None:
    cursor.execute((SQL_DIR / "task_usage_hourly_fill.v1.sql").read_text())


def test_the_first_fill_gives_an_existing_rollup_its_hours_and_queues_an_overflowing_one(cursor):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    for n in range(6):
        world.usage(world.task(ag, rt), at=DAY + datetime.timedelta(hours=7 * n), input_tokens=n)
    roll_up_everything(cursor)
    # Pending when the fill runs: a row the rollup has not seen, and an hour that overflows.
    world.usage(world.task(ag, rt), "haiku", at=DAY, input_tokens=3)
    for _ in range(2):
        world.usage(world.task(ag, rt), "opus", at=DAY, input_tokens=BIG)
    world.usage(world.task(ag, rt), "opus", at=DAY + datetime.timedelta(hours=5), input_tokens=-BIG)
    cursor.execute("DELETE FROM task_usage_hourly")  # as the table is when migration 0010 makes it

    _run_first_fill(cursor)

    hours = rollup_hours(cursor)
    assert {key[4] for key in hours} == {"claude-sonnet", "haiku"}
    assert len(hours) == 6 + 1
    cursor.execute("SELECT model FROM task_usage_daily_dirty")
    assert cursor.fetchall() == [("opus",)]
    roll_up_everything(cursor)
    cursor.execute("SELECT model FROM task_usage_daily_set_aside")
    assert cursor.fetchall() == [("opus",)]
    cursor.execute("DELETE FROM task_usage WHERE model = 'opus'")
    roll_up_everything(cursor)
    assert_rollup_matches_oracle(cursor)


def test_verify_finds_a_wrong_hour_of_a_right_day_and_its_repair_rewrites_it(cursor):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    for n in range(3):
        world.usage(world.task(ag, rt), at=DAY + datetime.timedelta(hours=n), input_tokens=n + 1)
    assert not rollup.tick(datetime.timedelta(0)).failed
    cursor.execute(
        "UPDATE task_usage_hourly SET input_tokens = input_tokens + 1"
        " WHERE bucket_hour = %s AND runtime_id = %s",
        [DAY, rt.pk],
    )

    report = verification.verify(repair=True)

    assert (report.wrong, report.queued) == (1, 1)
    (wrong,) = report.shown
    assert wrong.hours_differ and wrong.raw == wrong.rollup
    assert "its hours in the hourly rollup differ" in wrong.describe()
    roll_up_queue_only(cursor)
    assert_rollup_matches_oracle(cursor)


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_the_realtime_read_of_a_bucket_set_aside_for_an_hour_is_its_raw_rows(cursor, tz):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    for hours, tokens in ((18, BIG), (18, BIG), (19, -BIG), (20, 3)):
        world.usage(
            world.task(ag, rt),
            at=DAY + datetime.timedelta(hours=hours, minutes=40),
            input_tokens=tokens,
        )
    assert not rollup.tick(datetime.timedelta(0)).failed
    cursor.execute("SELECT count(*) FROM task_usage_daily_set_aside")
    assert cursor.fetchone() == (1,)

    since = DAY.date() - datetime.timedelta(days=1)
    realtime = queries.runtime_usage(rt.pk, since, tz=tz, source="realtime")

    assert realtime == queries.runtime_usage(rt.pk, since, tz=tz, source="raw")
    assert sum(row["input_tokens"] for row in realtime) == BIG + 3
