import dataclasses
import datetime
import json
import math

from django.core.management.base import CommandError

from usage_rollup import rollup
from usage_rollup.health import status_lines
from usage_rollup.management.cli import (
    MAX_STALENESS,
    RollupCommand,
    add_database_argument,
    command_errors,
    seconds,
)


def _jsonable(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, float) and math.isinf(value):
        return None  # the lag before the first tick: JSON has no Infinity
    return value


class Command(RollupCommand):
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
            type=seconds(MAX_STALENESS),
            metavar="SECONDS",
            help="exit 1 when the watermark is more than this many seconds behind the clock "
            "(0 to 315360000, ten years)",
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
        styles = {"ok": str, "warning": self.style.WARNING, "error": self.style.ERROR}
        for line in status_lines(current):
            self.stdout.write(styles[line.level](str(line)))
