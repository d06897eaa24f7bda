"""What the rollup's management commands share: their base class, argument types with bounds,
and one error translation."""

import argparse
import contextlib
import datetime
import math
from collections.abc import Iterator

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from usage_rollup.health import counted
from usage_rollup.rollup import RollupError, error_summary


def add_database_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--database",
        default="default",
        choices=tuple(connections),
        help="the database alias to work on (default: default)",
    )


class _OneLineParser(CommandParser):
    """A parser that refuses a command line in one line, `<prog>: error: <why>`, exit status 2.

    argparse's own refusal first prints the usage of every option (a dozen lines for
    rollup_usage), which buries the reason; from call_command, Django's CommandError stays.
    """

    def error(self, message):
        if self.called_from_command_line:
            self.exit(2, f"{self.prog}: error: {message}\n")
        super().error(message)


class RollupCommand(BaseCommand):
    """The base of the rollup's commands: a refused option is one line on stderr."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Django constructs its CommandParser itself and takes no other class.
        parser.__class__ = _OneLineParser
        return parser


class Seconds:
    """An argparse type: a number of seconds from 0 (above 0 without `zero`) up to `maximum`."""

    def __init__(self, maximum: datetime.timedelta, *, zero: bool = True) -> None:
        self.maximum = maximum
        self.zero = zero

    @property
    def bounds(self) -> str:
        lowest = "from 0 to" if self.zero else "above 0, at most"
        limit = self.maximum.total_seconds()
        return f"{lowest} {limit:,.0f} ({counted(self.maximum.days, 'day')})"

    def __call__(self, text: str) -> datetime.timedelta:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        # Checked before the timedelta is made, which overflows past 999,999,999 days; a value
        # above 0 that rounds to 0 microseconds is still 0.
        limit = self.maximum.total_seconds()
        if not 0 <= value <= limit or not (self.zero or datetime.timedelta(seconds=value)):
            raise argparse.ArgumentTypeError(
                f"must be a number of seconds {self.bounds}, not {text!r}"
            )
        return datetime.timedelta(seconds=value)


class WholeNumber:
    """An argparse type: a whole number from 1 to `maximum`."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    @property
    def bounds(self) -> str:
        return f"from 1 to {self.maximum:,}"

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 1 <= value <= self.maximum:
            raise argparse.ArgumentTypeError(f"must be a whole number {self.bounds}, not {text!r}")
        return value


# The bounds of the commands' options (the README lists them). Each is wide enough for any real
# use and narrow enough that nothing computed from a value inside it overflows: Python's dates
# and timedeltas, PostgreSQL's timestamps (now() minus the lag), its integers.
LAG = Seconds(datetime.timedelta(days=31))  # a safety lag is minutes; a month is past any use
INTERVAL = Seconds(datetime.timedelta(days=1), zero=False)  # a loop is a scheduler: 0 spins
STALENESS = Seconds(datetime.timedelta(days=3650))  # --max-lag: ten years
COUNT = WholeNumber(10**9)  # rows one tick reads, ticks one loop runs
SLICE_DAYS = WholeNumber(3660)  # days one verification query compares: ten years
MONTHS_BACK = WholeNumber(1200)  # a century
DEMO_ROWS = WholeNumber(10**8)  # ten times the largest benchmark history
DEMO_DAYS = WholeNumber(3650)  # the days of the largest benchmark history
# Days and times named on the command line (--since, --until, --from, --to).
FIRST_DAY = datetime.date(1970, 1, 1)
LAST_DAY = datetime.date(2199, 12, 31)
DAYS = f"from {FIRST_DAY} to {LAST_DAY}"


def utc_date(text: str) -> datetime.date:
    """An argparse type: a UTC calendar day, YYYY-MM-DD, from FIRST_DAY to LAST_DAY."""
    try:
        value = datetime.date.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or not FIRST_DAY <= value <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"must be a UTC day {DAYS} (YYYY-MM-DD), not {text!r}")
    return value


_FIRST_MOMENT = datetime.datetime.combine(FIRST_DAY, datetime.time(), datetime.UTC)
_END_MOMENT = datetime.datetime.combine(
    LAST_DAY + datetime.timedelta(days=1), datetime.time(), datetime.UTC
)


def utc_datetime(text: str) -> datetime.datetime:
    """An argparse type: an ISO 8601 date or time (without a zone, UTC) from the start of
    FIRST_DAY to the end of LAST_DAY."""
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    if value is None or not _FIRST_MOMENT <= value < _END_MOMENT:
        raise argparse.ArgumentTypeError(
            f"must be an ISO date or time {DAYS} (UTC), such as "
            f"2026-01-31 or 2026-01-31T12:00Z, not {text!r}"
        )
    return value


@contextlib.contextmanager
def command_errors(doing: str) -> Iterator[None]:
    """Turn the core's refusals and database errors into a one-line CommandError."""
    try:
        yield
    except (RollupError, ValueError) as error:
        raise CommandError(str(error)) from error
    except DatabaseError as error:
        raise CommandError(f"{doing} failed in the database: {error_summary(error)}") from error
