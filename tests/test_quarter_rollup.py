"""The quarter-hour rollup, task_usage_daily_quarters: each daily bucket's running sums by UTC
quarter hour, written with it by the one recompute, on both of its paths, in any session time
zone; set aside with it; filled for an existing rollup by migration 0012; and migrations 0012
back to the hourly table and forward again. The oracle (tests/oracle.py) decides, by quarter and
by day."""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection

from tests import world
from tests.oracle import assert_rollup_matches_oracle, rollup_quarters
from tests.rollup_calls import roll_up_everything, roll_up_queue_only
from usage_rollup import queries, rollup, verification
from usage_rollup.operations import SQL_DIR

DAY = datetime.datetime(2026, 3, 10, tzinfo=datetime.UTC)
BIG = 5 * 10**18  # two of these overflow bigint; with a third of -BIG, the day fits


def _quarters_of(cursor, runtime) -> dict[datetime.datetime, int]:
    """The runtime's quarters as {start of the UTC quarter hour (naive): input tokens}."""
    return {
        key[0]: totals[0] for key, totals in rollup_quarters(cursor).items() if key[2] == runtime.pk
    }


def _naive(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(tzinfo=None)


def test_each_utc_quarter_hour_of_a_day_is_a_step_whatever_the_session_time_zone(cursor):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    minutes = datetime.timedelta(minutes=1)
    edges = [
        DAY,
        DAY + 14 * minutes + datetime.timedelta(seconds=59.999999),
        DAY + 15 * minutes,
        DAY + 23 * 60 * minutes + 45 * minutes,
        DAY + datetime.timedelta(days=1),
    ]
    for n, at in enumerate(edges):
        world.usage(world.task(ag, rt), at=at, input_tokens=10**n)
    # A session 45 minutes off a whole hour: a quarter cut in it would still be a UTC quarter,
    # but date_trunc('hour') or a local date would not.
    cursor.execute("SET LOCAL TimeZone = 'Asia/Kathmandu'")

    roll_up_everything(cursor)

    assert _quarters_of(cursor, rt) == {
        _naive(DAY): 11,
        _naive(DAY + 15 * minutes): 100,
        _naive(DAY + 23 * 60 * minutes + 45 * minutes): 1000,
        _naive(DAY + datetime.timedelta(days=1)): 10000,
    }
    cursor.execute(
        "SELECT bucket_date, quarters, input_tokens FROM task_usage_daily_quarters"
        " WHERE runtime_id = %s ORDER BY bucket_date",
        [rt.pk],
    )
    assert cursor.fetchall() == [
        (DAY.date(), [0, 1, 95], [11, 111, 1111]),
        (DAY.date() + datetime.timedelta(days=1), [0], [10000]),
    ], "the running sums of each day, at the end of each quarter with usage"
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
def test_a_row_moved_to_another_quarter_of_its_day_moves_between_quarters_on_either_path(
    cursor, tenant, slices_listed
):
    rt, row = _two_tenants_in_one_slice(cursor)[tenant]
    before = _quarters_of(cursor, rt)
    old_quarter = _naive(row.created_at.replace(second=0, microsecond=0))
    assert row.created_at.minute % 15 == 0 and old_quarter in before

    # The same day and bucket: only its quarters change. Nothing is queued (the bucket is the
    # same); the update stamps updated_at, and the window of this transaction's changes finds it.
    cursor.execute(
        "UPDATE task_usage SET created_at = created_at + interval '20 hours 15 minutes'"
        " WHERE id = %s",
        [row.pk],
    )
    cursor.execute("SELECT rollup_task_usage_daily_window(now(), 'infinity')")

    cursor.execute("SELECT count(*) > 0 FROM pg_temp.task_usage_daily_slices")
    assert cursor.fetchone()[0] is slices_listed, "the recompute took the other path"
    after = _quarters_of(cursor, rt)
    assert old_quarter not in after
    assert old_quarter + datetime.timedelta(hours=20, minutes=15) in after
    assert_rollup_matches_oracle(cursor)


def test_a_bucket_whose_running_sums_span_past_bigint_is_set_aside_with_its_quarters(cursor):
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
    assert "running token sums within the day span more than bigint range" in error
    cursor.execute("SELECT model FROM task_usage_daily WHERE runtime_id = %s", [rt.pk])
    assert cursor.fetchall() == [("haiku",)]
    assert _quarters_of(cursor, rt) == {_naive(DAY): 7}, "the set-aside bucket kept a quarter"

    cursor.execute("UPDATE task_usage SET input_tokens = 1 WHERE id = %s", [rows[0].pk])
    roll_up_everything(cursor)

    cursor.execute("SELECT count(*) FROM task_usage_daily_set_aside")
    assert cursor.fetchone() == (0,)
    assert_rollup_matches_oracle(cursor)


def test_running_sums_whose_difference_would_pass_bigint_set_the_bucket_aside(cursor):
    # The running sums BIG, -BIG and 0 each fit, and so does the day's total (0); but the usage
    # of the second quarter, their difference, is -2 * BIG, past bigint's range, and a zoned
    # read takes such differences.
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    for quarter, tokens in ((0, BIG), (1, -BIG), (1, -BIG), (2, BIG)):
        at = DAY + datetime.timedelta(minutes=15 * quarter)
        world.usage(world.task(ag, rt), at=at, input_tokens=tokens)

    roll_up_everything(cursor)

    cursor.execute("SELECT count(*) FROM task_usage_daily_set_aside WHERE runtime_id = %s", [rt.pk])
    assert cursor.fetchone() == (1,)
    cursor.execute("SELECT count(*) FROM task_usage_daily_quarters WHERE runtime_id = %s", [rt.pk])
    assert cursor.fetchone() == (0,)
    since = DAY.date()
    assert queries.runtime_usage(
        rt.pk, since, tz="Asia/Kolkata", source="realtime"
    ) == queries.runtime_usage(rt.pk, since, tz="Asia/Kolkata", source="raw")


def _run_first_fill(cursor) -> None:
    cursor.execute((SQL_DIR / "task_usage_daily_quarters_fill.v1.sql").read_text())


def test_the_first_fill_gives_an_existing_rollup_its_quarters_and_leaves_the_pending_to_ticks(
    cursor,
):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    for n in range(6):
        world.usage(world.task(ag, rt), at=DAY + datetime.timedelta(hours=7 * n), input_tokens=n)
    roll_up_everything(cursor)
    # Pending when the fill runs: a row the rollup has not seen in a slice it holds, and slices
    # it does not hold yet, one of whose buckets overflows.
    world.usage(world.task(ag, rt), at=DAY + datetime.timedelta(hours=1), input_tokens=100)
    world.usage(world.task(ag, rt), "haiku", at=DAY, input_tokens=3)
    for _ in range(2):
        world.usage(world.task(ag, rt), "opus", at=DAY, input_tokens=BIG)
    world.usage(world.task(ag, rt), "opus", at=DAY + datetime.timedelta(hours=5), input_tokens=-BIG)
    # As the table is when migration 0012 makes it.
    cursor.execute("DELETE FROM task_usage_daily_quarters")

    _run_first_fill(cursor)

    # Every bucket the rollup holds has its quarters, from the fill's snapshot (the pending row
    # included); the slices the rollup does not hold are left to the next tick.
    quarters = rollup_quarters(cursor)
    assert {key[4] for key in quarters} == {"claude-sonnet"}
    assert len(quarters) == 6 + 1
    since = DAY.date() - datetime.timedelta(days=1)
    for tz in ("UTC", "Asia/Kolkata"):
        assert queries.runtime_usage(rt.pk, since, tz=tz, source="realtime") == (
            queries.runtime_usage(rt.pk, since, tz=tz, source="raw")
        )
    roll_up_everything(cursor)
    cursor.execute("SELECT model FROM task_usage_daily_set_aside")
    assert cursor.fetchall() == [("opus",)]
    cursor.execute("DELETE FROM task_usage WHERE model = 'opus'")
    roll_up_everything(cursor)
    assert_rollup_matches_oracle(cursor)


def test_verify_finds_a_wrong_quarter_of_a_right_day_and_its_repair_rewrites_it(cursor):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    for n in range(3):
        world.usage(world.task(ag, rt), at=DAY + datetime.timedelta(hours=n), input_tokens=n + 1)
    assert not rollup.tick(datetime.timedelta(0)).failed
    cursor.execute(
        "UPDATE task_usage_daily_quarters SET input_tokens[1] = input_tokens[1] + 1"
        " WHERE bucket_date = %s AND runtime_id = %s",
        [DAY.date(), rt.pk],
    )

    report = verification.verify(repair=True)

    assert (report.wrong, report.queued) == (1, 1)
    (wrong,) = report.shown
    assert wrong.quarters_differ and wrong.raw == wrong.rollup
    assert "its running sums by quarter hour differ" in wrong.describe()
    roll_up_queue_only(cursor)
    assert_rollup_matches_oracle(cursor)


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_the_realtime_read_of_a_bucket_set_aside_for_its_quarters_is_its_raw_rows(cursor, tz):
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


# The hourly table's ground truth, for migration 0012 backwards: the raw rows by UTC hour.
_HOURS_DIFFER = """
    SELECT count(*) FROM (
        (SELECT date_trunc('hour', tu.created_at AT TIME ZONE 'UTC'), a.workspace_id,
                t.runtime_id, tu.provider, tu.model, sum(tu.input_tokens), count(*)
           FROM task_usage tu
           JOIN agent_task_queue t ON t.id = tu.task_id
           JOIN agent a ON a.id = t.agent_id
          WHERE t.runtime_id IS NOT NULL
          GROUP BY 1, 2, 3, 4, 5)
        EXCEPT
        (SELECT bucket_hour AT TIME ZONE 'UTC', workspace_id, runtime_id, provider, model,
                input_tokens, event_count
           FROM task_usage_hourly)
    ) AS missing
"""


@pytest.mark.django_db(transaction=True)
def test_migration_0012_goes_back_to_exact_hours_and_forward_to_exact_quarters():
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    for n in range(8):
        at = DAY + datetime.timedelta(hours=5 * n, minutes=7 * n)
        world.usage(world.task(ag, rt), "haiku" if n % 3 else "opus", at=at, input_tokens=n + 1)
    assert not rollup.tick(datetime.timedelta(0)).failed
    try:
        call_command("migrate", "usage_rollup", "0011", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(_HOURS_DIFFER)
            assert cursor.fetchone() == (0,), "the hourly table, filled again, misses hours"
            cursor.execute("SELECT count(*) FROM task_usage_hourly")
            assert cursor.fetchone()[0] == 8
            cursor.execute("TRUNCATE task_usage_hourly")  # forwards must not need it
    finally:
        call_command("migrate", "usage_rollup", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM task_usage_daily_quarters),"
            " (SELECT count(*) FROM task_usage_daily)"
        )
        assert cursor.fetchone() == (4, 4), "one row per daily bucket: two days, two models"
        assert_rollup_matches_oracle(cursor)
