"""The rollup's health for people: the status lines `usage_rollup_status` prints and the admin's
health panel shows, and one level (ok, warning, error) that colours them."""

import dataclasses
import datetime
from typing import Literal

from usage_rollup.rollup import RollupState

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


def status_lines(state: RollupState, alert_seconds: float | None = None) -> list[StatusLine]:
    """The rollup's state as lines: watermark and lag, dirty queue, last run, last error, pg_cron.

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
    queue = counted(state.dirty_buckets, "bucket")
    if state.oldest_dirty_age_seconds is not None:
        queue += f", the oldest queued {state.oldest_dirty_age_seconds:.1f} s ago"
    lines.append(StatusLine("Dirty queue", queue))
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
    lines.append(StatusLine("pg_cron", _cron_text(state)))
    return lines


def _cron_text(state: RollupState) -> str:
    if not state.pg_cron_installed:
        return "not installed in this database (tick with manage.py rollup_usage --loop)"
    if not state.cron_jobs:
        return "installed, no job calls the rollup (run manage.py schedule_usage_rollup)"
    return "; ".join(
        f"job {job.jobid} {job.name!r} at {job.schedule!r}, "
        f"{'active' if job.active else 'INACTIVE'}, last run "
        + (f"{job.last_status} at {when(job.last_started_at)}" if job.last_status else "none")
        for job in state.cron_jobs
    )
