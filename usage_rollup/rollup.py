"""The rollup's core operations as plain functions: tick, window, backfill and status.

Management commands and the admin are thin adapters over these. All the rollup's writing happens
in the SQL functions of `usage_rollup/sql/`; this module calls them and reads their state.
"""

import dataclasses
import datetime
from collections.abc import Iterator
from typing import Protocol

from django.db import connections, transaction

# The advisory lock every writer of task_usage_daily takes (see rollup_task_usage_daily.v1.sql).
ROLLUP_LOCK_KEY = (1970434924, 1)

SLICE_UNITS = ("month", "week", "day")


@dataclasses.dataclass(frozen=True)
class TickResult:
    """One call of the entry point: rows changed, or skipped (another tick held the lock), or
    failed (its error is kept in the state row)."""

    rows: int | None
    error: str | None

    @property
    def failed(self) -> bool:
        return self.rows is None


@dataclasses.dataclass(frozen=True)
class RollupState:
    watermark_at: datetime.datetime | None
    lag_seconds: float
    last_run_started_at: datetime.datetime | None
    last_run_finished_at: datetime.datetime | None
    last_run_rows: int | None
    last_error: str | None
    failed_runs: int
    dirty_buckets: int
    oldest_dirty_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class Slice:
    start: datetime.datetime
    end: datetime.datetime
    rows: int


class BackfillObserver(Protocol):
    """Told of a backfill's plan before it starts and of each slice when it is done."""

    def planned(self, slices: list[Slice]) -> None: ...

    def sliced(self, piece: Slice, rows_changed: int) -> None: ...


@dataclasses.dataclass(frozen=True)
class BackfillResult:
    slices: int
    rows_changed: int
    watermark_at: datetime.datetime | None


def tick(
    lag: datetime.timedelta = datetime.timedelta(minutes=5), using: str = "default"
) -> TickResult:
    """Run one tick of the entry point `rollup_task_usage_daily(p_lag)`."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT rollup_task_usage_daily(%s)", [lag])
        (rows,) = cursor.fetchone()
        error = None
        if rows is None:
            cursor.execute("SELECT last_error FROM task_usage_rollup_state WHERE id = 1")
            (error,) = cursor.fetchone()
    return TickResult(rows=rows, error=error)


def run_window(start: datetime.datetime, end: datetime.datetime, using: str = "default") -> int:
    """Recompute the buckets of rows changed in [start, end) and the queued ones; rows changed."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT rollup_task_usage_daily_window(%s, %s)", [start, end])
        return cursor.fetchone()[0]


def state(using: str = "default") -> RollupState:
    """The rollup's progress and health, as the state row, the lag function and the queue say.

    A missing state row (the first tick creates it) reads as a rollup that never ran.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT s.watermark_at, task_usage_rollup_lag_seconds(), s.last_run_started_at,
                   s.last_run_finished_at, s.last_run_rows, s.last_error,
                   coalesce(s.failed_runs, 0),
                   (SELECT count(*) FROM task_usage_daily_dirty),
                   (SELECT min(enqueued_at) FROM task_usage_daily_dirty)
              FROM (VALUES (1)) AS one (id)
              LEFT JOIN task_usage_rollup_state s USING (id)
            """
        )
        return RollupState(*cursor.fetchone())


def _slice_starts(first: datetime.datetime, unit: str) -> Iterator[datetime.datetime]:
    """Calendar-aligned UTC slice boundaries from the slice that contains `first` onwards."""
    day = first.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "month":
        start = day.replace(day=1)
        while True:
            yield start
            start = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    step = datetime.timedelta(days=7 if unit == "week" else 1)
    start = day - datetime.timedelta(days=day.weekday()) if unit == "week" else day
    while True:
        yield start
        start += step


def plan_backfill(
    unit: str = "month", using: str = "default"
) -> tuple[list[Slice], datetime.datetime]:
    """The backfill's slices over all of history, and the watermark it may stamp when done.

    Windows find rows by updated_at, so the slices cover updated_at from the oldest row up to
    the stamp or the newest row, whichever is later. The stamp is the database clock, held back
    by any transaction open now: a row of such a transaction may commit behind the slices after
    they ran.
    """
    if unit not in SLICE_UNITS:
        raise ValueError(f"unknown slice {unit!r}: choose one of {', '.join(SLICE_UNITS)}")
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT least(clock_timestamp(), task_usage_rollup_horizon())")
        (stamp,) = cursor.fetchone()
        # Read after the stamp, in a later snapshot: a writer that was open when the stamp was
        # taken and has committed since is seen here, and its rows fall inside the slices.
        cursor.execute("SELECT min(updated_at), max(updated_at) FROM task_usage")
        first, last = cursor.fetchone()
        if first is None:
            return [], stamp
        end = max(last + datetime.timedelta(microseconds=1), stamp)
        bounds = []
        for start in _slice_starts(first, unit):
            if start >= end:
                break
            bounds.append(start)
        ends = bounds[1:] + [end]
        cursor.execute(
            """
            SELECT b.i, count(tu.id)
              FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS b(lo, hi, i)
              LEFT JOIN task_usage tu ON tu.updated_at >= b.lo AND tu.updated_at < b.hi
             GROUP BY b.i
             ORDER BY b.i
            """,
            [bounds, ends],
        )
        counts = [rows for _, rows in cursor.fetchall()]
    return [Slice(lo, hi, rows) for lo, hi, rows in zip(bounds, ends, counts, strict=True)], stamp


def backfill(
    unit: str = "month", using: str = "default", observer: BackfillObserver | None = None
) -> BackfillResult:
    """Roll up all of history in slices, then stamp the watermark.

    Holds the rollup's advisory lock for the whole run (ticks return 0 meanwhile); each slice is
    its own short transaction through the window function, so the run can stop between slices
    and be run again: every window replaces buckets, never adds to them.
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", ROLLUP_LOCK_KEY)
    try:
        slices, stamp = plan_backfill(unit, using)
        if observer is not None:
            observer.planned(slices)
        changed = 0
        for piece in slices:
            rows = run_window(piece.start, piece.end, using)
            changed += rows
            if observer is not None:
                observer.sliced(piece, rows)
        with transaction.atomic(using=using), connection.cursor() as cursor:
            # A queue-only window drains what was queued while the slices ran.
            cursor.execute("SELECT rollup_task_usage_daily_window(%s, %s)", [stamp, stamp])
            changed += cursor.fetchone()[0]
            cursor.execute(
                """
                UPDATE task_usage_rollup_state
                   SET watermark_at = greatest(coalesce(watermark_at, %(stamp)s), %(stamp)s)
                 WHERE id = 1
             RETURNING watermark_at
                """,
                {"stamp": stamp},
            )
            (watermark,) = cursor.fetchone()
        return BackfillResult(slices=len(slices), rows_changed=changed, watermark_at=watermark)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", ROLLUP_LOCK_KEY)
