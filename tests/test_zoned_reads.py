"""Days in the viewer's time zone (issue 13): every read mode gives each zone's local days exactly
as the raw rows' `created_at AT TIME ZONE tz` make them (tests/oracle.py), in zones offset by
whole hours, 30 and 45 minutes, across their clock changes (23- and 25-hour days, and
Australia/Lord_Howe's 30-minute one) and at their local midnights; in an offset that is no whole
number of quarter hours, whose midnights are edges read from the raw rows (no IANA zone has one
since 1972, and task_usage holds no earlier rows: a POSIX rule stands in for it); and the API
takes `?tz=`. How a UTC day divides among a zone's local days (task_usage_local_day_parts) is
checked minute by minute against AT TIME ZONE.

One world serves every zone: usage at each zone's local midnights and clock changes, on two
runtimes whose tasks belong to agents of two workspaces, so that the edges' raw rows are also
read beside another tenant's rows of the same quarter hour.
"""

import collections
import datetime
import pathlib
import struct
import zoneinfo

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests import world
from tests.oracle import assert_rollup_matches_oracle
from tests.read_oracle import expected_summary, expected_usage
from usage_rollup import queries, rollup
from usage_rollup.source.models import TaskUsage

UTC = datetime.UTC
MODES = ("raw", "rollup", "realtime")
# Each zone with the local days of its clock changes in 2025 (or any day, for a zone without).
ZONES = {
    "UTC": (datetime.date(2025, 3, 9),),
    "America/Los_Angeles": (datetime.date(2025, 3, 9), datetime.date(2025, 11, 2)),
    "Asia/Kolkata": (datetime.date(2025, 3, 9),),
    "Asia/Kathmandu": (datetime.date(2025, 11, 2),),
    "Australia/Lord_Howe": (datetime.date(2025, 4, 6), datetime.date(2025, 10, 5)),
    "Pacific/Chatham": (datetime.date(2025, 4, 6), datetime.date(2025, 9, 28)),
    "America/St_Johns": (datetime.date(2025, 3, 9), datetime.date(2025, 11, 2)),
}
EARLY = datetime.date(2025, 1, 1)
MINUTE = datetime.timedelta(minutes=1)
DAY = datetime.timedelta(days=1)


def _local_midnight(day: datetime.date, tz: str) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(0), zoneinfo.ZoneInfo(tz)).astimezone(UTC)


def _clock_changes(day: datetime.date, tz: str) -> list[datetime.datetime]:
    """The instants (UTC) in the local day at which the zone's offset changes."""
    zone, start = zoneinfo.ZoneInfo(tz), _local_midnight(day, tz)
    step = datetime.timedelta(minutes=15)
    found = []
    for n in range(4 * 26):
        before, after = start + n * step, start + (n + 1) * step
        if before.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset():
            found.append(after)
    return found


def _instants() -> list[datetime.datetime]:
    """For each zone and day: the local midnights that begin and end it, a minute before and
    after each, its clock changes and a minute around them, and its local noon."""
    moments = set()
    for tz, days in ZONES.items():
        for day in days:
            for edge in (_local_midnight(day, tz), _local_midnight(day + DAY, tz)):
                moments.update((edge - MINUTE, edge, edge + MINUTE))
            for change in _clock_changes(day, tz):
                moments.update((change - MINUTE, change, change + MINUTE))
            noon = datetime.datetime.combine(day, datetime.time(12), zoneinfo.ZoneInfo(tz))
            moments.add(noon.astimezone(UTC))
    return sorted(moments)


@pytest.fixture
def zoned_world(cursor):
    """The usage rows at every instant, rolled up by a tick."""
    ws_a, ws_b = world.workspace(), world.workspace()
    runtime, other_runtime = world.runtime(ws_a), world.runtime(ws_b)
    agents = [world.agent(ws_a), world.agent(ws_b)]
    for n, at in enumerate(_instants()):
        job = world.task(agents[n % 2], other_runtime if n % 3 == 0 else runtime)
        world.usage(job, "opus" if n % 4 else "haiku", at=at, input_tokens=n + 1, output_tokens=n)
        if n % 5 == 0:
            world.usage(job, "haiku" if n % 4 else "opus", at=at, cache_read_tokens=1000 + n)
    world.usage(world.task(agents[0], None), "opus", at=_instants()[0], input_tokens=999)
    assert not rollup.tick(datetime.timedelta(0)).failed
    assert_rollup_matches_oracle(cursor)
    return {"runtime": runtime, "workspace": ws_a}


def _assert_every_mode_matches_the_oracle(cursor, owners: dict, modes=MODES) -> None:
    for tz, days in ZONES.items():
        for since in (EARLY, *days):
            for scope, owner in owners.items():
                expected = expected_usage(cursor, scope, owner.pk, since, tz)
                summary = expected_summary(cursor, scope, owner.pk, since, tz)
                for mode in modes:
                    read = queries.runtime_usage if scope == "runtime" else queries.workspace_usage
                    where = f"{mode} read of the {scope} in {tz} since {since}"
                    assert read(owner.pk, since, tz=tz, source=mode) == expected, where
                    assert (
                        queries.usage_summary(scope, owner.pk, since, tz=tz, source=mode) == summary
                    ), where


def test_every_read_mode_gives_each_zones_local_days_as_the_raw_rows_do(cursor, zoned_world):
    # The session's own zone must not matter.
    cursor.execute("SET LOCAL TimeZone = 'Asia/Kathmandu'")
    _assert_every_mode_matches_the_oracle(cursor, zoned_world)


def test_the_realtime_zoned_read_is_exact_with_changes_the_rollup_has_not_seen(cursor, zoned_world):
    runtime = zoned_world["runtime"]
    job = world.task(world.agent(runtime.workspace), runtime)
    # Stamped by the database after the tick: pending. At a half-hour zone's local midnight.
    TaskUsage.objects.create(
        task=job,
        provider="anthropic",
        model="opus",
        input_tokens=7,
        created_at=_local_midnight(datetime.date(2025, 3, 9), "Asia/Kolkata"),
    )
    changed = TaskUsage.objects.filter(task__runtime=runtime).order_by("created_at")
    first, second, third = changed[0], changed[1], changed[2]
    TaskUsage.objects.filter(pk=first.pk).update(input_tokens=5000)  # a correction
    TaskUsage.objects.filter(pk=second.pk).delete()  # queued by the delete trigger
    # Moved across a local midnight of Pacific/Chatham: its old bucket is queued.
    cursor.execute(
        "UPDATE task_usage SET created_at = %s WHERE id = %s",
        [_local_midnight(datetime.date(2025, 4, 6), "Pacific/Chatham") - MINUTE, third.pk],
    )

    _assert_every_mode_matches_the_oracle(cursor, zoned_world, modes=("raw", "realtime"))


@pytest.mark.parametrize("mode", MODES)
def test_a_utc_alias_read_from_the_quarters_equals_the_utc_days_of_the_daily_rollup(
    zoned_world, mode
):
    for scope, owner in zoned_world.items():
        read = queries.runtime_usage if scope == "runtime" else queries.workspace_usage
        assert read(owner.pk, EARLY, tz="Etc/UTC", source=mode) == read(
            owner.pk, EARLY, source=mode
        )


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "EST5EDT,M3.2.0,M11.1.0", "../UTC", ""])
def test_a_name_that_is_no_iana_time_zone_is_refused(db, name):
    with pytest.raises(queries.UnknownTimeZone, match="not a time zone name"):
        queries.runtime_usage(world.runtime(world.workspace()).pk, EARLY, tz=name)


@pytest.fixture
def viewer(client, django_user_model):
    user = django_user_model.objects.create_user("viewer")
    user.user_permissions.add(Permission.objects.get(codename="view_taskusagedaily"))
    client.force_login(user)
    return client


ZONED_ENDPOINTS = ("runtime-usage", "workspace-usage", "workspace-usage-summary")


@pytest.mark.parametrize("endpoint", ZONED_ENDPOINTS)
def test_the_api_refuses_an_unknown_zone_with_a_reason(viewer, endpoint):
    runtime = world.runtime(world.workspace())
    owner = runtime if endpoint == "runtime-usage" else runtime.workspace
    answer = viewer.get(
        reverse(f"usage_rollup:{endpoint}", args=[owner.pk]), {"tz": "Europe/Atlantis"}
    )
    assert answer.status_code == 400
    assert "'Europe/Atlantis' is not a time zone name" in answer.json()["error"]


@pytest.mark.parametrize("mode", MODES)
def test_the_api_counts_days_and_dates_in_the_zone_it_is_given(viewer, settings, mode):
    settings.USAGE_ROLLUP_READ_MODE = mode
    tz, days = "Asia/Kathmandu", 2
    ws = world.workspace()
    runtime, agent = world.runtime(ws), world.agent(ws)
    first_day = queries.today(tz) - days * DAY
    start = _local_midnight(first_day, tz)
    world.usage(world.task(agent, runtime), at=start, input_tokens=1)
    world.usage(
        world.task(agent, runtime), at=start - datetime.timedelta(microseconds=1), input_tokens=2
    )
    assert not rollup.tick(datetime.timedelta(0)).failed

    answer = viewer.get(
        reverse("usage_rollup:runtime-usage", args=[runtime.pk]), {"days": days, "tz": tz}
    )

    assert answer.status_code == 200
    assert [(row["date"], row["input_tokens"]) for row in answer.json()] == [
        (first_day.isoformat(), 1)
    ]


# Each UTC day's runs, checked minute by minute: every minute in exactly one run, and in a run
# with a local day only if that is its local day by AT TIME ZONE at its first and last instant.
_PARTS_AGAINST_AT_TIME_ZONE = """
    WITH parts AS (
        SELECT * FROM task_usage_local_day_parts(%(days)s::date[], %(tz)s)
    ),
    minutes AS (
        SELECT d.day, m.minute,
               d.day::timestamp AT TIME ZONE 'UTC' + m.minute * interval '1 minute' AS first_instant
          FROM unnest(%(days)s::date[]) AS d (day)
         CROSS JOIN generate_series(0, 1439) AS m (minute)
    )
    SELECT m.day, m.minute, count(p.*) AS runs,
           bool_and(p.local_date IS NULL
                    OR (p.local_date = (m.first_instant AT TIME ZONE %(tz)s)::date
                        AND p.local_date = ((m.first_instant + interval '59.999999 seconds')
                                            AT TIME ZONE %(tz)s)::date)) AS right_day,
           bool_and(p.local_date IS NOT NULL) AS whole
      FROM minutes m
      LEFT JOIN parts p
        ON p.bucket_date = m.day
       AND m.minute >= p.first_quarter * 15
       AND m.minute < p.end_quarter * 15
     GROUP BY m.day, m.minute
"""


def _days_around(days) -> list[datetime.date]:
    return sorted({day + n * DAY for day in days for n in (-1, 0, 1)})


@pytest.mark.parametrize("tz", sorted(ZONES))
def test_each_utc_day_divides_into_runs_of_its_zones_local_days(cursor, tz):
    days = _days_around(ZONES[tz])
    cursor.execute(_PARTS_AGAINST_AT_TIME_ZONE, {"days": days, "tz": tz})
    minutes = cursor.fetchall()

    assert len(minutes) == 1440 * len(days)
    assert all(runs == 1 for _, _, runs, _, _ in minutes), "a minute in no run, or in two"
    assert all(right for *_, right, _ in minutes), "a minute in a run of another local day"
    assert all(whole for *_, whole in minutes), "an edge in a zone whose offsets are quarter hours"


# No IANA zone does this (so the reads refuse the name; the function takes it): offsets of +0:50
# and +1:50, summer time ending at 00:30, back to 23:30 of the day before. On 25 October 2025
# (UTC) the local day turns the 26th at 22:10, back to the 25th at 22:40 (the clock change), and
# the 26th again at 23:10: three quarters that lie in no one local day.
ODD_RULE = "AAA-0:50BBB-1:50,M3.5.0/2,M10.5.0/0:30"
ODD_DAY = datetime.date(2025, 10, 25)


def test_a_quarter_whose_local_day_changes_and_changes_back_inside_it_is_an_edge(cursor):
    rule, day = ODD_RULE, ODD_DAY
    cursor.execute(
        "SELECT first_quarter, end_quarter, local_date"
        " FROM task_usage_local_day_parts(%s, %s) ORDER BY first_quarter",
        [[day], rule],
    )
    the_26th = day + DAY
    assert cursor.fetchall() == [
        (0, 88, day),
        (88, 89, None),
        (89, 90, the_26th),
        (90, 91, None),
        (91, 92, day),
        (92, 93, None),
        (93, 96, the_26th),
    ]
    cursor.execute(_PARTS_AGAINST_AT_TIME_ZONE, {"days": [day], "tz": rule})
    assert all(runs == 1 and right for _, _, runs, right, _ in cursor.fetchall())


def test_every_read_mode_reads_the_edges_of_an_offset_of_no_whole_quarter_hours(
    cursor, monkeypatch
):
    # The reads take only IANA names; this one stands in for an offset no zone has had since
    # 1972, so that the edges' raw rows are read: each quarter with a local midnight or the
    # clock change in it, beside another tenant's rows of the same quarter and slice.
    monkeypatch.setattr(queries, "_known_zones", lambda: frozenset({ODD_RULE}))
    ws, other_ws = world.workspace(), world.workspace()
    runtime, other = world.runtime(ws), world.runtime(other_ws)
    agent, other_agent = world.agent(ws), world.agent(other_ws)
    start = datetime.datetime.combine(ODD_DAY, datetime.time(0), UTC)
    at = [start + datetime.timedelta(hours=12)]
    for turn in (datetime.timedelta(hours=22, minutes=m) for m in (10, 40, 70)):
        at += [start + turn - MINUTE, start + turn, start + turn + MINUTE]
    for n, moment in enumerate(at):
        world.usage(world.task(agent, runtime), at=moment, input_tokens=10**n)
        world.usage(world.task(other_agent, other), at=moment, input_tokens=7)
    assert not rollup.tick(datetime.timedelta(0)).failed
    # A row the tick has not seen, in an edge quarter: every mode reads it from the raw rows.
    world.usage(world.task(agent, runtime), at=start + datetime.timedelta(hours=22, minutes=12))

    for since in (ODD_DAY - DAY, ODD_DAY + DAY):
        expected = expected_usage(cursor, "runtime", runtime.pk, since, ODD_RULE)
        assert expected, "the oracle has no rows: the test would prove nothing"
        for mode in MODES:
            read = queries.runtime_usage(runtime.pk, since, tz=ODD_RULE, source=mode)
            assert read == expected, f"{mode} read since {since}"


def _transitions(path) -> list[tuple[int, int]]:
    """(UTC second, offset after) of each clock change in a TZif file's 64-bit section."""
    data = path.read_bytes()
    counts = struct.unpack(">6l", data[20:44])
    isut, isstd, leap, times, types, chars = counts
    start = 44 + times * 5 + types * 6 + chars + leap * 8 + isstd + isut
    isut, isstd, leap, times, types, chars = struct.unpack(">6l", data[start + 20 : start + 44])
    at = start + 44
    moments = struct.unpack(f">{times}q", data[at : at + 8 * times])
    indexes = data[at + 8 * times : at + 9 * times]
    offsets_at = at + 9 * times
    offsets = [
        struct.unpack(">l", data[offsets_at + 6 * n : offsets_at + 6 * n + 4])[0]
        for n in range(types)
    ]
    return [(moment, offsets[index]) for moment, index in zip(moments, indexes, strict=True)]


def test_no_zone_changes_its_clock_twice_in_one_utc_day():
    # task_usage_local_day_parts finds a day's change of clock by the offsets at its two ends:
    # two changes in one UTC day that cancel out would not show. None in the zone database.
    folder = next(pathlib.Path(path) for path in zoneinfo.TZPATH if pathlib.Path(path).is_dir())
    twice = []
    for name in sorted(zoneinfo.available_timezones()):
        days = [moment // 86400 for moment, _ in _transitions(folder / name)]
        twice += [(name, day) for day, count in collections.Counter(days).items() if count > 1]
    # The files were read: the zone database and one zone's 186 clock changes since 1883.
    assert len(zoneinfo.available_timezones()) > 400
    assert len(_transitions(folder / "America/Los_Angeles")) > 100
    assert not twice, f"UTC days with two clock changes: {twice[:5]}"
