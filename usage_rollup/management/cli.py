"""What the rollup's management commands share: argument types and one error translation."""

import argparse
import contextlib
import datetime
from collections.abc import Iterator

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError, connections

from usage_rollup.rollup import RollupError, error_summary


def add_database_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--database",
        default="default",
        choices=tuple(connections),
        help="the database alias to work on (default: default)",
    )


def seconds(text: str) -> datetime.timedelta:
    """An argparse type: a non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, not {text!r}")
    return datetime.timedelta(seconds=value)


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return value


def utc_date(text: str) -> datetime.date:
    """An argparse type: a UTC calendar day, YYYY-MM-DD."""
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a day such as 2026-01-31, not {text!r}"
        ) from None


def utc_datetime(text: str) -> datetime.datetime:
    """An argparse type: an ISO 8601 date or time; without a zone, UTC."""
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an ISO date or time such as 2026-01-31 or 2026-01-31T12:00Z, not {text!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


@contextlib.contextmanager
def command_errors(doing: str) -> Iterator[None]:
    """Turn the core's refusals and database errors into a one-line CommandError."""
    try:
        yield
    except (RollupError, ValueError) as error:
        raise CommandError(str(error)) from error
    except DatabaseError as error:
        raise CommandError(f"{doing} failed in the database: {error_summary(error)}") from error
