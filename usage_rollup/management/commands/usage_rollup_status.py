import dataclasses
import datetime
import json
import math

from django.core.management.base import BaseCommand, CommandError

from usage_rollup import rollup
from usage_rollup.management.cli import add_database_argument, command_errors, counted, seconds


def _jsonable(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, float) and math.isinf(value):
        return None  # the lag before the first tick: JSON has no Infinity
    return value


def _when(value: datetime.datetime | None) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if value else "never"


class Command(BaseCommand):
    help = (
        "Show the rollup's health: watermark and lag, dirty queue, last run, pg_cron job. "
        "With --max-lag, exit non-zero when the rollup is staler than that (a health check)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print one JSON object"
        )
        parser.add_argument(
            "--max-lag",
            type=seconds,
            metavar="SECONDS",
            help="exit 1 when the watermark is more than this many seconds behind the clock",
        )
        add_database_argument(parser)

    def handle(self, *args, as_json, max_lag, database, **options):
        with command_errors("reading the rollup's state"):
            current = rollup.state(database)
        if as_json:
            self._print_json(current)
        else:
            self._print_text(current)
        if max_lag is None or current.lag_seconds <= max_lag.total_seconds():
            return
        if current.watermark_at is None:
            raise CommandError("the rollup never ran: backfill, then schedule its ticks")
        raise CommandError(
            f"the rollup is stale: {current.lag_seconds:.1f} s behind the clock, more than "
            f"--max-lag {max_lag.total_seconds():g} s"
        )

    def _print_json(self, current: rollup.RollupState) -> None:
        fields = dataclasses.asdict(
            current, dict_factory=lambda pairs: {name: _jsonable(value) for name, value in pairs}
        )
        fields["last_run_seconds"] = current.last_run_seconds
        self.stdout.write(json.dumps(fields, sort_keys=True))

    def _print_text(self, current: rollup.RollupState) -> None:
        if current.watermark_at is None:
            self.stdout.write(
                self.style.WARNING("Watermark:   none, the rollup never ran (backfill, then tick)")
            )
        else:
            self.stdout.write(
                f"Watermark:   {_when(current.watermark_at)}, "
                f"{current.lag_seconds:.1f} s behind the clock"
            )
        queue = f"Dirty queue: {counted(current.dirty_buckets, 'bucket')}"
        if current.oldest_dirty_age_seconds is not None:
            queue += f", the oldest queued {current.oldest_dirty_age_seconds:.1f} s ago"
        self.stdout.write(queue)
        last_run = f"Last run:    started {_when(current.last_run_started_at)}"
        if current.last_run_seconds is not None:
            last_run += f", took {current.last_run_seconds:.3f} s"
        if current.last_run_rows is not None:
            last_run += f", {current.last_run_rows:,} rollup rows changed"
        self.stdout.write(last_run)
        if current.last_error is None:
            self.stdout.write(
                f"Last error:  none ({counted(current.failed_runs, 'failed run')} in all)"
            )
        else:
            self.stdout.write(
                self.style.ERROR(
                    f"Last error:  {current.last_error} at {_when(current.last_error_at)} "
                    f"({counted(current.failed_runs, 'failed run')} in all)"
                )
            )
        self.stdout.write(f"pg_cron:     {self._cron_line(current)}")

    def _cron_line(self, current: rollup.RollupState) -> str:
        if not current.pg_cron_installed:
            return "not installed in this database (tick with manage.py rollup_usage --loop)"
        if not current.cron_jobs:
            return "installed, no job calls the rollup (run manage.py schedule_usage_rollup)"
        return "; ".join(
            f"job {job.jobid} {job.name!r} at {job.schedule!r}, "
            f"{'active' if job.active else 'INACTIVE'}, last run "
            + (f"{job.last_status} at {_when(job.last_started_at)}" if job.last_status else "none")
            for job in current.cron_jobs
        )
