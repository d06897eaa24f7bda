import dataclasses
import datetime
import json
import math
import uuid

from django.core.management.base import CommandError

from usage_rollup import rollup
from usage_rollup.health import health_problems, status_lines
from usage_rollup.management.cli import (
    STALENESS,
    RollupCommand,
    add_database_argument,
    command_errors,
)

# The figures RollupState derives from its fields, which --json prints beside them.
DERIVED = ("last_run_seconds", "watermark_ahead_now_seconds", "backfill_status")


def _jsonable(value):
    if isinstance(value, datetime.date):  # a datetime too
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float) and math.isinf(value):
        return None  # the lag before the first tick: JSON has no Infinity
    return value


class Command(RollupCommand):
    help = (
        "Show the rollup's health: watermark and lag, the clock, dirty queue, set-aside "
        "buckets, last run, the latest backfill, pg_cron job. With --max-lag, exit non-zero "
        "when the rollup is staler than that, its watermark is ahead of the clock, a backfill "
        "is unfinished or buckets are set aside (a health check)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print one JSON object"
        )
        parser.add_argument(
            "--max-lag",
            type=STALENESS,
            metavar="SECONDS",
            help="exit 1 when the watermark is more than this many seconds behind the clock "
            f"({STALENESS.bounds}) or ahead of it, when a backfill is unfinished or when "
            "buckets are set aside",
        )
        add_database_argument(parser)

    def handle(self, *args, as_json, max_lag, database, **options):
        with command_errors("reading the rollup's state"):
            current = rollup.state(database)
        if as_json:
            self._print_json(current)
        else:
            self._print_text(current)
        if max_lag is None:
            return
        problems = health_problems(current, max_lag.total_seconds())
        if problems:
            raise CommandError("; ".join(problems))

    def _print_json(self, current: rollup.RollupState) -> None:
        fields = dataclasses.asdict(
            current, dict_factory=lambda pairs: {name: _jsonable(value) for name, value in pairs}
        )
        fields.update((name, _jsonable(getattr(current, name))) for name in DERIVED)
        self.stdout.write(json.dumps(fields, sort_keys=True))

    def _print_text(self, current: rollup.RollupState) -> None:
        styles = {"ok": str, "warning": self.style.WARNING, "error": self.style.ERROR}
        for line in status_lines(current):
            self.stdout.write(styles[line.level](str(line)))
