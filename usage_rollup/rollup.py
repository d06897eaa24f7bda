"""The rollup's core operations as plain functions: tick, window, backfill, status, scheduling.

Management commands, the admin and the metrics view are thin adapters over these. All the
rollup's writing happens in the SQL functions of `usage_rollup/sql/`; this module calls them,
reads their state, and drives them (in bounded steps, in a loop, over history in slices).
"""

import contextlib
import dataclasses
import datetime
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Literal, Protocol

from django.db import DatabaseError, OperationalError, connections, transaction

from usage_rollup import config, standby

# The advisory lock every writer of task_usage_daily takes (see rollup_task_usage_daily.v3.sql).
ROLLUP_LOCK_KEY = (1970434924, 1)

SLICE_UNITS = ("month", "week", "day")

# The entry point's own default lag (rollup_task_usage_daily.v3.sql).
DEFAULT_LAG = datetime.timedelta(minutes=5)

# The pg_cron job schedule_usage_rollup manages. Every minute: an idle tick costs milliseconds and
# a busy one is bounded by usage_rollup.tick_max_rows, so the rollup trails the clock by the lag
# plus at most a minute, and cron's finest standard granularity costs nothing.
CRON_JOB_NAME = "usage_rollup_tick"
CRON_COMMAND = "SELECT rollup_task_usage_daily()"
DEFAULT_CRON_SCHEDULE = "* * * * *"

# How often a waiting loop looks at its stop flag: a signal stops it within this.
_STOP_POLL_SECONDS = 0.25

tick_log = logging.getLogger("usage_rollup.tick")


class RollupError(Exception):
    """An operation the rollup cannot carry out as asked; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class TickResult:
    """One call of the entry point: rows changed, or skipped (another tick held the lock), or
    failed (its error is kept in the state row). The window is the watermark's move: from
    `window_start` (None before the first tick: from the oldest row) to `window_end`."""

    rows: int | None
    error: str | None
    skipped: bool = False
    skip_reason: str | None = None
    window_start: datetime.datetime | None = None
    window_end: datetime.datetime | None = None
    lag: datetime.timedelta = DEFAULT_LAG
    lag_seconds: float = float("inf")
    duration_seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.rows is None

    @property
    def moved(self) -> bool:
        return self.window_end is not None and self.window_end != self.window_start


@dataclasses.dataclass(frozen=True)
class CatchUpResult:
    ticks: int
    rows_changed: int
    caught_up: bool
    last: TickResult


@dataclasses.dataclass(frozen=True)
class CronJob:
    """A pg_cron job that calls the entry point, and its latest run as pg_cron logged it."""

    jobid: int
    name: str
    schedule: str
    command: str
    active: bool
    last_status: str | None
    last_started_at: datetime.datetime | None
    last_message: str | None


@dataclasses.dataclass(frozen=True)
class SetAsideBucket:
    """A bucket the rollup cannot compute (task_usage_daily_set_aside): left out, retried."""

    bucket_date: datetime.date
    workspace_id: uuid.UUID
    runtime_id: uuid.UUID
    provider: str
    model: str
    error: str
    first_failed_at: datetime.datetime
    last_failed_at: datetime.datetime
    attempts: int

    @property
    def key(self) -> tuple[datetime.date, uuid.UUID, uuid.UUID, str, str]:
        return (self.bucket_date, self.workspace_id, self.runtime_id, self.provider, self.model)


BackfillStatus = Literal["never", "running", "unfinished", "finished"]


@dataclasses.dataclass(frozen=True)
class RollupState:
    """The state row, the queue, the set-aside buckets and pg_cron, as one read saw them;
    `read_at` is the database clock (clock_timestamp()) at that read."""

    watermark_at: datetime.datetime | None
    lag_seconds: float
    last_run_started_at: datetime.datetime | None
    last_run_finished_at: datetime.datetime | None
    last_run_rows: int | None
    last_error: str | None
    failed_runs: int
    dirty_buckets: int
    oldest_dirty_at: datetime.datetime | None
    last_error_at: datetime.datetime | None = None
    oldest_dirty_age_seconds: float | None = None
    pg_cron_installed: bool = False
    # False where pg_cron is installed but this role may not read its jobs (pg_cron's schema
    # grants USAGE to nobody): cron_jobs is then empty because unknown, not because there is none.
    cron_jobs_readable: bool = True
    cron_jobs: tuple[CronJob, ...] = ()
    read_at: datetime.datetime | None = None
    # The last time a tick found the watermark ahead of the database clock, by how much, and how
    # many times in all; the tick recovered each time.
    watermark_ahead_at: datetime.datetime | None = None
    watermark_ahead_seconds: float | None = None
    clock_steps_back: int = 0
    # The latest backfill.
    backfill_started_at: datetime.datetime | None = None
    backfill_heartbeat_at: datetime.datetime | None = None
    backfill_lease_until: datetime.datetime | None = None
    backfill_finished_at: datetime.datetime | None = None
    backfill_slices_done: int | None = None
    backfill_slices_total: int | None = None
    # How many buckets are set aside, and the first SET_ASIDE_SHOWN of them.
    set_aside_buckets: int = 0
    set_aside: tuple[SetAsideBucket, ...] = ()
    # None on a primary; on a hot standby, how far it trails (standby.replay_lag_seconds).
    standby_replay_lag_seconds: float | None = None

    @property
    def last_run_seconds(self) -> float | None:
        if self.last_run_started_at is None or self.last_run_finished_at is None:
            return None
        return (self.last_run_finished_at - self.last_run_started_at).total_seconds()

    @property
    def watermark_ahead_now_seconds(self) -> float:
        """How far the watermark is ahead of the database clock now (the clock stepped back
        and no tick has recovered yet); 0 while it is behind, as it should be."""
        return max(0.0, -self.lag_seconds)

    @property
    def backfill_status(self) -> BackfillStatus:
        """never; finished (since it last started); running (its lease is live); else
        unfinished: it stopped, or its process died, before its last slice."""
        if self.backfill_started_at is None:
            return "never"
        if self.backfill_finished_at is not None and (
            self.backfill_finished_at >= self.backfill_started_at
        ):
            return "finished"
        if self.backfill_lease_until is not None and self.backfill_lease_until > self.read_at:
            return "running"
        return "unfinished"


@dataclasses.dataclass(frozen=True)
class Slice:
    """Bucket days [start, end) of a backfill, and the usage rows created on them."""

    start: datetime.date
    end: datetime.date
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


def require_installed(using: str = "default") -> None:
    """Raise RollupError unless the database has the rollup's tables and functions."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT to_regclass('task_usage_rollup_state') IS NOT NULL
               AND to_regprocedure('rollup_task_usage_daily(interval)') IS NOT NULL
            """
        )
        (installed,) = cursor.fetchone()
    if not installed:
        name = connections[using].settings_dict["NAME"]
        raise RollupError(
            f"the usage rollup is not installed in database {name!r}: run manage.py migrate first"
        )


def require_primary(using: str = "default") -> None:
    """Raise RollupError if the database is a hot standby: the rollup's maintenance writes, and a
    standby would refuse the first write with PostgreSQL's generic read-only error."""
    if standby.in_recovery(using):
        name = connections[using].settings_dict["NAME"]
        raise RollupError(
            f"database {name!r} (alias {using!r}) is a hot standby, which cannot write: run "
            "ticks, backfills, repairs and scheduling on the primary"
        )


def error_summary(error: Exception) -> str:
    """The first line of an error's message: a database error's hint and context lines are for
    logs read with the query at hand, not for one-line reports."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _log_tick(result: TickResult) -> None:
    """One line per tick, as key=value pairs a log pipeline can parse."""
    if result.skipped:
        tick_log.debug("tick skipped=true reason=%s", json.dumps(result.skip_reason))
        return
    tick_log.log(
        logging.ERROR if result.failed else logging.INFO,
        "tick rows=%s window_start=%s window_end=%s lag_setting_seconds=%g lag_seconds=%.3f "
        "duration_ms=%.1f error=%s",
        "null" if result.rows is None else result.rows,
        result.window_start.isoformat() if result.window_start else "null",
        result.window_end.isoformat() if result.window_end else "null",
        result.lag.total_seconds(),
        result.lag_seconds,
        result.duration_seconds * 1000,
        json.dumps(result.error),
    )


SKIPPED_FOR_TICK = "another tick holds the rollup's lock and does the work"
SKIPPED_FOR_BACKFILL = "a backfill is running (it holds its lease in the state row)"
SKIPPED_ON_STANDBY = "the database is a hot standby: waiting until it is promoted"


def _tick(
    lag: datetime.timedelta, max_rows: int | None, using: str, max_buckets: int | None = None
) -> TickResult:
    """One tick in its own transaction; the try-lock is taken first so that the watermark read
    before the call is the one the tick starts from."""
    started = time.monotonic()
    max_rows = max_rows or config.tick_max_rows()
    max_buckets = max_buckets or config.tick_max_buckets()
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        for name, value in (("tick_max_rows", max_rows), ("tick_max_buckets", max_buckets)):
            if value is not None:
                cursor.execute(
                    "SELECT set_config(%s, %s, true)", [f"usage_rollup.{name}", str(value)]
                )
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s), task_usage_rollup_backfill_running()",
            ROLLUP_LOCK_KEY,
        )
        locked, backfill_running = cursor.fetchone()
        if not locked or backfill_running:
            # A slice of a backfill holds the lock too: the lease says whose work it is.
            reason = SKIPPED_FOR_BACKFILL if backfill_running else SKIPPED_FOR_TICK
            result = TickResult(rows=0, error=None, skipped=True, skip_reason=reason, lag=lag)
            _log_tick(result)
            return result
        cursor.execute("SELECT watermark_at FROM task_usage_rollup_state WHERE id = 1")
        before = cursor.fetchone()
        cursor.execute("SELECT rollup_task_usage_daily(%s)", [lag])
        (rows,) = cursor.fetchone()
        cursor.execute(
            """
            SELECT watermark_at, last_error, task_usage_rollup_lag_seconds()
              FROM task_usage_rollup_state WHERE id = 1
            """
        )
        after, error, lag_seconds = cursor.fetchone()
    result = TickResult(
        rows=rows,
        error=error if rows is None else None,
        window_start=before[0] if before else None,
        window_end=after,
        lag=lag,
        lag_seconds=lag_seconds,
        duration_seconds=time.monotonic() - started,
    )
    _log_tick(result)
    return result


def tick(
    lag: datetime.timedelta = DEFAULT_LAG,
    using: str = "default",
    max_rows: int | None = None,
    max_buckets: int | None = None,
) -> TickResult:
    """Run one tick of the entry point `rollup_task_usage_daily(p_lag)`, bounded by max_rows
    changed rows and max_buckets queue entries (defaults: the USAGE_ROLLUP_TICK_MAX_ROWS and
    USAGE_ROLLUP_TICK_MAX_BUCKETS settings, else the database's)."""
    require_primary(using)
    require_installed(using)
    return _tick(lag, max_rows, using, max_buckets)


def _oldest_queued_before(cursor, moment: datetime.datetime) -> int | None:
    """The lowest queue id among the entries queued before `moment`, or None when none is left.

    A tick drains the lowest ids first, so this rises as the queue drains. It reads from the
    head of the primary key, where those entries are: not a count of a queue that may hold
    millions of entries, which would be paid again after every tick of a catch-up.
    """
    cursor.execute("SELECT min(id) FROM task_usage_daily_dirty WHERE enqueued_at < %s", [moment])
    return cursor.fetchone()[0]


def catch_up(
    lag: datetime.timedelta = DEFAULT_LAG,
    using: str = "default",
    max_rows: int | None = None,
    on_tick: Callable[[TickResult], None] | None = None,
    max_buckets: int | None = None,
) -> CatchUpResult:
    """Tick until the watermark reaches now() - lag and the queue holds nothing that was queued
    before the start, each tick its own short transaction; stop early when a tick fails, is
    skipped, or can move neither the watermark nor the queue."""
    require_primary(using)
    require_installed(using)
    with connections[using].cursor() as cursor:
        # A fixed target: with lag 0 and writers always open, now() would never be reached.
        cursor.execute("SELECT clock_timestamp() - %s, clock_timestamp()", [lag])
        target, started = cursor.fetchone()
        oldest = _oldest_queued_before(cursor, started)
    ticks, rows = 0, 0
    while True:
        result = _tick(lag, max_rows, using, max_buckets)
        ticks += 1
        rows += result.rows or 0
        if on_tick is not None:
            on_tick(result)
        with connections[using].cursor() as cursor:
            oldest, oldest_before = _oldest_queued_before(cursor, started), oldest
        caught_up = result.window_end is not None and result.window_end >= target and oldest is None
        # Neither the watermark nor the queue's head moved (or the queue is empty): an open
        # transaction holds the watermark, and the head entry, if any, is held by a writer.
        stuck = not result.moved and oldest == oldest_before
        if caught_up or result.failed or result.skipped or stuck:
            return CatchUpResult(ticks=ticks, rows_changed=rows, caught_up=caught_up, last=result)


def _sleep_unless_stopped(seconds: float, should_stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not should_stop():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(remaining, _STOP_POLL_SECONDS))


def run_loop(
    interval: float,
    should_stop: Callable[[], bool],
    lag: datetime.timedelta = DEFAULT_LAG,
    using: str = "default",
    max_rows: int | None = None,
    max_ticks: int | None = None,
    on_tick: Callable[[TickResult], None] | None = None,
    max_buckets: int | None = None,
) -> int:
    """Tick every `interval` seconds until should_stop() or max_ticks; returns the ticks run.

    Several loops, on several hosts, are safe together: the entry point's try-lock lets one tick
    at a time and the others skip. A lost connection is logged and the next tick reconnects, so
    a database restart does not end the scheduler. On a hot standby it ticks nothing and waits,
    each result skipped with SKIPPED_ON_STANDBY, until the standby is promoted.
    """
    require_installed(using)
    ticks = 0
    while not should_stop():
        try:
            if standby.in_recovery(using):
                result = TickResult(
                    rows=0, error=None, skipped=True, skip_reason=SKIPPED_ON_STANDBY, lag=lag
                )
                _log_tick(result)
            else:
                result = _tick(lag, max_rows, using, max_buckets)
        except DatabaseError as error:
            connections[using].close()
            result = TickResult(rows=None, error=error_summary(error), lag=lag)
            _log_tick(result)
        ticks += 1
        if on_tick is not None:
            on_tick(result)
        if max_ticks is not None and ticks >= max_ticks:
            break
        _sleep_unless_stopped(interval, should_stop)
    return ticks


def run_window(start: datetime.datetime, end: datetime.datetime, using: str = "default") -> int:
    """Recompute the buckets of rows changed in [start, end) and the queued ones; rows changed."""
    if start > end:
        raise ValueError(f"the window starts at {start} after it ends at {end}")
    require_primary(using)
    require_installed(using)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT rollup_task_usage_daily_window(%s, %s)", [start, end])
        return cursor.fetchone()[0]


_CRON_JOBS = """
SELECT j.jobid, j.jobname, j.schedule, j.command, j.active,
       d.status, d.start_time, d.return_message
  FROM cron.job j
  LEFT JOIN LATERAL (SELECT status, start_time, return_message
                       FROM cron.job_run_details r
                      WHERE r.jobid = j.jobid
                      ORDER BY r.runid DESC
                      LIMIT 1) d ON true
 WHERE j.jobname = %s OR j.command ~ 'rollup_task_usage_daily\\s*\\('
 ORDER BY j.jobid
"""


def _pg_cron_installed(cursor) -> bool:
    cursor.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron')")
    return cursor.fetchone()[0]


# Whether pg_cron is installed, and whether this role may read its jobs: USAGE on the schema
# cron (pg_cron grants it to nobody) and SELECT on its two tables. The catalogs are read by oid,
# which needs no USAGE on the schema, where a cron.job name would fail without it.
_PG_CRON_ACCESS = """
SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') AS installed,
       EXISTS (SELECT FROM pg_namespace n
                WHERE n.nspname = 'cron' AND has_schema_privilege(n.oid, 'USAGE')
                  AND (SELECT count(*) FROM pg_class c
                        WHERE c.relnamespace = n.oid AND c.relname IN ('job', 'job_run_details')
                          AND has_table_privilege(c.oid, 'SELECT')) = 2) AS readable
"""


def _cron_jobs(cursor) -> tuple[CronJob, ...]:
    cursor.execute(_CRON_JOBS, [CRON_JOB_NAME])
    return tuple(CronJob(*row) for row in cursor.fetchall())


# How many set-aside buckets state() names (all are counted).
SET_ASIDE_SHOWN = 3

# One snapshot of the state row and the queue; read_at is the clock every age is measured by.
_STATE = f"""
SELECT s.watermark_at, task_usage_rollup_lag_seconds() AS lag_seconds, s.last_run_started_at,
       s.last_run_finished_at, s.last_run_rows, s.last_error,
       coalesce(s.failed_runs, 0) AS failed_runs, q.depth AS dirty_buckets,
       q.oldest AS oldest_dirty_at, s.last_error_at,
       extract(epoch FROM c.read_at - q.oldest)::double precision AS oldest_dirty_age_seconds,
       c.read_at, s.watermark_ahead_at, s.watermark_ahead_seconds,
       coalesce(s.clock_steps_back, 0) AS clock_steps_back, s.backfill_started_at,
       s.backfill_heartbeat_at, s.backfill_lease_until, s.backfill_finished_at,
       s.backfill_slices_done, s.backfill_slices_total,
       (SELECT count(*) FROM task_usage_daily_set_aside) AS set_aside_buckets,
       {standby.REPLAY_LAG} AS standby_replay_lag_seconds
  FROM (VALUES (1)) AS one (id)
  LEFT JOIN task_usage_rollup_state s USING (id)
 CROSS JOIN (SELECT clock_timestamp() AS read_at) c
 CROSS JOIN (SELECT count(*) AS depth, min(enqueued_at) AS oldest
               FROM task_usage_daily_dirty) q
"""

_SET_ASIDE = """
SELECT bucket_date, workspace_id, runtime_id, provider, model, error, first_failed_at,
       last_failed_at, attempts
  FROM task_usage_daily_set_aside
 ORDER BY first_failed_at, bucket_date, workspace_id, runtime_id, provider, model
 LIMIT %s
"""


def state(using: str = "default") -> RollupState:
    """The rollup's progress and health, as the state row, the lag function, the queue, the
    set-aside buckets and pg_cron say. A missing state row (the first tick creates it) reads as
    a rollup that never ran. Reads only."""
    require_installed(using)
    with connections[using].cursor() as cursor:
        cursor.execute(_STATE)
        names = [column.name for column in cursor.description]
        fields = dict(zip(names, cursor.fetchone(), strict=True))
        cursor.execute(_SET_ASIDE, [SET_ASIDE_SHOWN])
        set_aside = tuple(SetAsideBucket(*row) for row in cursor.fetchall())
        cursor.execute(_PG_CRON_ACCESS)
        installed, readable = cursor.fetchone()
        readable = readable or not installed
        jobs = _cron_jobs(cursor) if installed and readable else ()
    return RollupState(
        **fields,
        set_aside=set_aside,
        pg_cron_installed=installed,
        cron_jobs_readable=readable,
        cron_jobs=jobs,
    )


def _require_pg_cron(cursor, using: str) -> None:
    if not _pg_cron_installed(cursor):
        name = connections[using].settings_dict["NAME"]
        raise RollupError(
            f"pg_cron is not installed in database {name!r} (it needs "
            f"shared_preload_libraries = 'pg_cron', cron.database_name = '{name}' and "
            "CREATE EXTENSION pg_cron there); without it, run manage.py rollup_usage --loop "
            "under a process supervisor instead"
        )


def schedule(every: str = DEFAULT_CRON_SCHEDULE, using: str = "default") -> CronJob:
    """Schedule the entry point with pg_cron as job CRON_JOB_NAME, replacing its schedule if it
    exists (pg_cron's cron.schedule updates a job of the same name and user)."""
    require_primary(using)
    require_installed(using)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        _require_pg_cron(cursor, using)
        cursor.execute("SELECT cron.schedule(%s, %s, %s)", [CRON_JOB_NAME, every, CRON_COMMAND])
        (jobid,) = cursor.fetchone()
        return next(job for job in _cron_jobs(cursor) if job.jobid == jobid)


def unschedule(using: str = "default") -> bool:
    """Remove the CRON_JOB_NAME job of this user; False when there was none."""
    require_primary(using)
    require_installed(using)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        _require_pg_cron(cursor, using)
        cursor.execute(
            """
            SELECT cron.unschedule(jobid) FROM cron.job
             WHERE jobname = %s AND username = current_user
            """,
            [CRON_JOB_NAME],
        )
        return bool(cursor.fetchall())


def _months_before(day: datetime.date, months: int) -> datetime.date:
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    first_of_next = datetime.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last_day = (first_of_next - datetime.timedelta(days=1)).day
    return datetime.date(year, month + 1, min(day.day, last_day))


_HISTORY_BOUNDS = """
SELECT least((SELECT min(task_usage_utc_day(created_at)) FROM task_usage),
             (SELECT min(bucket_date) FROM task_usage_daily)),
       greatest((SELECT max(task_usage_utc_day(created_at)) FROM task_usage),
                (SELECT max(bucket_date) FROM task_usage_daily))
"""


def history_bounds(using: str = "default") -> tuple[datetime.date | None, datetime.date | None]:
    """The first and last day that has raw usage or a rollup row.

    Each bound is one probe of an index: the day index on task_usage, the bucket key (which
    starts with bucket_date) on task_usage_daily.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(_HISTORY_BOUNDS)
        return cursor.fetchone()


def plan_backfill(
    unit: str = "month", using: str = "default", months_back: int | None = None
) -> tuple[list[Slice], datetime.datetime]:
    """The backfill's slices of bucket days, and the watermark it may stamp when done.

    Slices are days of created_at (the bucket day), from the oldest to the newest day that has
    usage rows or rollup rows, or only the last `months_back` months of them. Not updated_at: on
    a database that predates the rollup every row carries the migration's updated_at, and one
    slice would hold all of history. The stamp is the database clock, held back by any
    transaction open now: a row of such a transaction may commit behind the slices after they ran.
    """
    if unit not in SLICE_UNITS:
        raise ValueError(f"unknown slice {unit!r}: choose one of {', '.join(SLICE_UNITS)}")
    if months_back is not None and months_back < 1:
        raise ValueError(f"months back must be at least 1, not {months_back}")
    # A standby's sessions are not the primary's: its horizon, hence the stamp, would be wrong.
    require_primary(using)
    require_installed(using)
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT least(clock_timestamp(), task_usage_rollup_horizon()),
                   (clock_timestamp() AT TIME ZONE 'UTC')::date
            """
        )
        stamp, today = cursor.fetchone()
        # The bounds are read after the stamp, in a later snapshot: a writer that was open when
        # the stamp was taken and has committed since is seen here, so its rows' days are
        # inside the slices. (A writer still open then stamps its rows at or after the stamp.)
        first, last = history_bounds(using)
        if months_back is not None and first is not None:
            first = max(first, _months_before(today, months_back))
        if first is None or first > last:
            return [], stamp
        # Only slices that hold a day with usage or rollup rows: one probe of each index per
        # slice, so a stray row decades away costs two probes, not a walk over empty months.
        cursor.execute(
            """
            WITH RECURSIVE slices(lo) AS (
                SELECT date_trunc(%(unit)s, %(first)s::date)::date
                 UNION ALL
                SELECT date_trunc(%(unit)s, n.day)::date
                  FROM slices,
                       LATERAL (SELECT (slices.lo + %(step)s::interval)::date AS hi) AS h,
                       LATERAL (SELECT least(
                                    (SELECT min(task_usage_utc_day(created_at)) FROM task_usage
                                      WHERE task_usage_utc_day(created_at) >= h.hi),
                                    (SELECT min(bucket_date) FROM task_usage_daily
                                      WHERE bucket_date >= h.hi)) AS day) AS n
                 WHERE n.day IS NOT NULL
            )
            SELECT lo, (lo + %(step)s::interval)::date AS hi,
                   (SELECT count(*) FROM task_usage
                     WHERE task_usage_utc_day(created_at) >= lo
                       AND task_usage_utc_day(created_at) < (lo + %(step)s::interval)::date)
              FROM slices
             ORDER BY lo
            """,
            {"unit": unit, "first": first, "step": f"1 {unit}"},
        )
        return [Slice(lo, hi, rows) for lo, hi, rows in cursor.fetchall()], stamp


def _backfill_call(sql: str, params: list, using: str):
    """One statement of the backfill in its own transaction, waiting at most
    USAGE_ROLLUP_BACKFILL_LOCK_TIMEOUT seconds for a lock (a tick or window under way)."""
    timeout = config.backfill_lock_timeout()
    try:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{timeout * 1000}ms"])
            cursor.execute(sql, params)
            return cursor.fetchone()[0]
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        if "lock timeout" in str(error):
            raise RollupError(
                f"another session has held the rollup's lock for {timeout:g} s (a long tick or "
                "window; pg_stat_activity shows it): let it finish and run the backfill again"
            ) from error
        raise RollupError(error_summary(error)) from error


def backfill(
    unit: str = "month",
    using: str = "default",
    observer: BackfillObserver | None = None,
    months_back: int | None = None,
) -> BackfillResult:
    """Recompute every bucket of history in slices of bucket days, then stamp the watermark.

    The backfill holds a lease in the state row (ticks skip while it is live), never a lock
    beyond one transaction: each slice is its own short transaction that renews the lease, so a
    pooler in transaction mode is safe, a second backfill is refused, and one that dies leaves a
    lease that runs out (USAGE_ROLLUP_BACKFILL_LEASE_SECONDS). The run can stop between slices
    (an interrupted slice rolls back, the watermark stays, the state row shows it unfinished)
    and be run again from the start: every slice replaces buckets, never adds to them. With
    `months_back`, older days are left as they are while the watermark passes them: a partial
    backfill, for history that is to be abandoned.
    """
    slices, stamp = plan_backfill(unit, using, months_back)
    owner = uuid.uuid4()
    lease = datetime.timedelta(seconds=config.backfill_lease_seconds())
    _backfill_call(
        "SELECT rollup_task_usage_daily_backfill_begin(%s, %s, %s)",
        [owner, len(slices), lease],
        using,
    )
    try:
        if observer is not None:
            observer.planned(slices)
        changed = 0
        for piece in slices:
            rows = _backfill_call(
                "SELECT rollup_task_usage_daily_backfill_slice(%s, %s, %s, %s)",
                [owner, piece.start, piece.end, lease],
                using,
            )
            changed += rows
            if observer is not None:
                observer.sliced(piece, rows)
        watermark = _backfill_call(
            "SELECT rollup_task_usage_daily_backfill_finish(%s, %s)", [owner, stamp], using
        )
    except BaseException:
        # Give the lease up so that ticks resume now; a broken connection cannot, and the lease
        # runs out by itself.
        with contextlib.suppress(DatabaseError):
            _backfill_call("SELECT rollup_task_usage_daily_backfill_abandon(%s)", [owner], using)
        raise
    return BackfillResult(slices=len(slices), rows_changed=changed, watermark_at=watermark)
