"""The rollup's health for people: the status lines `usage_rollup_status` prints and the admin's
health panel shows, one level (ok, warning, error) that colours them, and the problems that fail
the health check `usage_rollup_status --max-lag`."""

import dataclasses
import datetime
import math
from typing import Literal

from usage_rollup.rollup import RollupState
from usage_rollup.verification import describe_bucket

Level = Literal["ok", "warning", "error"]


@dataclasses.dataclass(frozen=True)
class StatusLine:
    """One line of the status: a label ("Watermark"), its text, and how alarming it is."""

    label: str
    text: str
    level: Level = "ok"

    def __str__(self) -> str:
        return f"{self.label + ':':<13}{self.text}"


def counted(number: int, noun: str) -> str:
    """`1 tick`, `3 ticks`: a count with its noun, for sentences about the rollup."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def when(value: datetime.datetime | None) -> str:
    """A moment to the second, or "never"."""
    return value.isoformat(sep=" ", timespec="seconds") if value else "never"


_SEVERITY: tuple[Level, ...] = ("ok", "warning", "error")


def lag_level(lag_seconds: float, alert_seconds: float) -> Level:
    """Green within half the alert threshold, amber up to it, red past it."""
    if lag_seconds > alert_seconds:
        return "error"
    return "warning" if lag_seconds > alert_seconds / 2 else "ok"


def worst(lines: list[StatusLine]) -> Level:
    """The level of the most alarming line: the colour of the whole status."""
    return max((line.level for line in lines), key=_SEVERITY.index, default="ok")


# A step back of the clock stays a warning this long after a tick found and recovered from it.
CLOCK_STEP_WARNING = datetime.timedelta(hours=24)


def _standby_line(replay_lag: float) -> StatusLine:
    trails = (
        "has replayed no commit since it started"
        if math.isinf(replay_lag)
        else f"replays {replay_lag:.1f} s behind its primary"
    )
    return StatusLine(
        "Server", f"a hot standby: it {trails}; ticks, backfills and repairs run on the primary"
    )


def status_lines(state: RollupState, alert_seconds: float | None = None) -> list[StatusLine]:
    """The rollup's state as lines: watermark and lag, the clock, the dirty queue, set-aside
    buckets, the last run, the last error, the latest backfill, pg_cron.

    With alert_seconds the watermark line is levelled by the lag against it; without, it is only
    a warning when the rollup never ran (the status command leaves the threshold to --max-lag).
    """
    lines = []
    if state.watermark_at is None:
        lines.append(
            StatusLine("Watermark", "none, the rollup never ran (backfill, then tick)", "warning")
        )
    else:
        lines.append(
            StatusLine(
                "Watermark",
                f"{when(state.watermark_at)}, {state.lag_seconds:.1f} s behind the clock",
                "ok" if alert_seconds is None else lag_level(state.lag_seconds, alert_seconds),
            )
        )
    lines.append(_clock_line(state))
    if state.standby_replay_lag_seconds is not None:
        lines.insert(0, _standby_line(state.standby_replay_lag_seconds))
    queue = counted(state.dirty_buckets, "bucket")
    if state.oldest_dirty_age_seconds is not None:
        queue += f", the oldest queued {state.oldest_dirty_age_seconds:.1f} s ago"
    lines.append(StatusLine("Dirty queue", queue))
    lines.append(_set_aside_line(state))
    last_run = f"started {when(state.last_run_started_at)}"
    if state.last_run_seconds is not None:
        last_run += f", took {state.last_run_seconds:.3f} s"
    if state.last_run_rows is not None:
        last_run += f", {state.last_run_rows:,} rollup rows changed"
    lines.append(StatusLine("Last run", last_run))
    failures = f"({counted(state.failed_runs, 'failed run')} in all)"
    if state.last_error is None:
        lines.append(StatusLine("Last error", f"none {failures}"))
    else:
        lines.append(
            StatusLine(
                "Last error",
                f"{state.last_error} at {when(state.last_error_at)} {failures}",
                "error",
            )
        )
    lines.append(_backfill_line(state))
    lines.append(StatusLine("pg_cron", _cron_text(state)))
    return lines


def health_problems(state: RollupState, max_lag_seconds: float) -> list[str]:
    """What fails the health check `usage_rollup_status --max-lag`: a rollup that never ran or
    is staler than the threshold, a watermark ahead of the clock, an unfinished backfill,
    set-aside buckets. Empty when it passes."""
    problems = []
    if state.watermark_at is None:
        problems.append("the rollup never ran: backfill, then schedule its ticks")
    elif state.lag_seconds > max_lag_seconds:
        problems.append(
            f"the rollup is stale: {state.lag_seconds:.1f} s behind the clock, more than "
            f"--max-lag {max_lag_seconds:g} s"
        )
    if state.watermark_ahead_now_seconds > 0:
        problems.append(_ahead_text(state))
    if state.backfill_status == "unfinished":
        problems.append(f"a backfill {_backfill_progress(state)}")
    if state.set_aside_buckets:
        problems.append(
            f"{counted(state.set_aside_buckets, 'bucket')} set aside, out of the rollup: "
            "usage_rollup_status names them"
        )
    return problems


def _ahead_text(state: RollupState) -> str:
    return (
        f"the watermark is {state.watermark_ahead_now_seconds:.1f} s ahead of the database "
        "clock, which stepped back: the next tick recovers"
    )


def _clock_line(state: RollupState) -> StatusLine:
    if state.watermark_ahead_now_seconds > 0:
        return StatusLine("Clock", _ahead_text(state), "error")
    if state.watermark_ahead_at is None:
        return StatusLine("Clock", "no step back seen")
    seen = (
        f"stepped back at {when(state.watermark_ahead_at)}: the watermark was "
        f"{state.watermark_ahead_seconds or 0:.1f} s ahead of it and a tick recovered "
        f"({counted(state.clock_steps_back, 'step')} back in all)"
    )
    recent = state.read_at - state.watermark_ahead_at <= CLOCK_STEP_WARNING
    return StatusLine("Clock", seen, "warning" if recent else "ok")


def _set_aside_line(state: RollupState) -> StatusLine:
    if not state.set_aside_buckets:
        return StatusLine("Set aside", "none")
    named = "; ".join(
        f"{describe_bucket(bucket.key)}: {bucket.error}" for bucket in state.set_aside
    )
    more = state.set_aside_buckets - len(state.set_aside)
    return StatusLine(
        "Set aside",
        f"{counted(state.set_aside_buckets, 'bucket')} cannot be computed and stay out of the "
        f"rollup, retried by every tick: {named}" + (f"; and {more:,} more" if more > 0 else ""),
        "error",
    )


def _slices(state: RollupState) -> str:
    total = state.backfill_slices_total
    return f"{state.backfill_slices_done or 0:,} of {'?' if total is None else f'{total:,}'} slices"


def _backfill_progress(state: RollupState) -> str:
    return (
        f"started {when(state.backfill_started_at)}, {_slices(state)}, not finished: "
        "run backfill_task_usage_daily again"
    )


def _backfill_line(state: RollupState) -> StatusLine:
    status = state.backfill_status
    if status == "never":
        return StatusLine("Backfill", "none")
    if status == "unfinished":
        return StatusLine("Backfill", _backfill_progress(state), "error")
    if status == "running":
        return StatusLine(
            "Backfill",
            f"running since {when(state.backfill_started_at)}, {_slices(state)} done, "
            f"heartbeat {when(state.backfill_heartbeat_at)}",
        )
    return StatusLine("Backfill", f"finished {when(state.backfill_finished_at)}, {_slices(state)}")


def _cron_text(state: RollupState) -> str:
    if not state.pg_cron_installed:
        return "not installed in this database (tick with manage.py rollup_usage --loop)"
    if not state.cron_jobs_readable:
        return (
            "installed, its jobs not readable by this role (GRANT USAGE ON SCHEMA cron to read"
            " them; pg_cron shows a role only its own jobs)"
        )
    if not state.cron_jobs:
        return "installed, no job calls the rollup (run manage.py schedule_usage_rollup)"
    return "; ".join(
        f"job {job.jobid} {job.name!r} at {job.schedule!r}, "
        f"{'active' if job.active else 'INACTIVE'}, last run "
        + (f"{job.last_status} at {when(job.last_started_at)}" if job.last_status else "none")
        for job in state.cron_jobs
    )
