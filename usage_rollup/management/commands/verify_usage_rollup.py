import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from usage_rollup import verify


class Command(BaseCommand):
    help = (
        "Compare task_usage_daily with the raw aggregate of task_usage, bucket by bucket, and "
        "exit non-zero if any bucket is wrong. Buckets the rollup has not caught up with yet "
        "(queued, or written since the watermark) are counted as pending, not wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", type=date, help="first UTC day to check, YYYY-MM-DD (default: all)"
        )
        parser.add_argument(
            "--until", type=date, help="last UTC day to check, included (default: all)"
        )
        parser.add_argument(
            "--repair",
            action="store_true",
            help="queue every wrong bucket so the next tick recomputes it",
        )
        parser.add_argument(
            "--slice-days", type=int, default=7, help="days compared per query (default 7)"
        )
        parser.add_argument("--database", default="default", choices=tuple(connections))

    def handle(self, *args, since, until, repair, slice_days, database, **options):
        try:
            report = verify.verify(
                since, until, repair=repair, slice_days=slice_days, using=database
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        except DatabaseError as error:
            raise CommandError(f"could not verify the rollup: {error}".strip()) from error

        if report.since is None:
            self.stdout.write("No usage and no rollup rows: nothing to verify.")
            return
        self.stdout.write(f"Checked {report.since} to {report.until}.")
        for difference in report.shown:
            self.stdout.write(f"  {difference.describe()}")
        if report.wrong > len(report.shown):
            self.stdout.write(f"  ... and {report.wrong - len(report.shown)} more.")
        if report.pending:
            self.stdout.write(
                f"{report.pending} bucket(s) pending: queued or written since the watermark; "
                "the next tick brings them up to date."
            )
        if report.queued:
            self.stdout.write(f"Queued {report.queued} bucket(s): the next tick recomputes them.")
        if report.differs:
            raise CommandError(f"{report.wrong} bucket(s) of the rollup differ from the raw rows.")
        self.stdout.write(self.style.SUCCESS("The rollup equals the raw aggregate."))


def date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"{value!r} is not a date of the form YYYY-MM-DD") from error
