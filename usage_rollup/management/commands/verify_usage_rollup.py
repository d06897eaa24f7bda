from django.core.management.base import CommandError

from usage_rollup import verification
from usage_rollup.health import counted
from usage_rollup.management.cli import (
    DAYS,
    SLICE_DAYS,
    RollupCommand,
    add_database_argument,
    command_errors,
    utc_date,
)


class Command(RollupCommand):
    help = (
        "Compare task_usage_daily with the raw aggregate of task_usage, bucket by bucket, and "
        "exit non-zero if any bucket is wrong. Buckets the rollup has not caught up with yet "
        "(queued, or written since the watermark) are counted as pending, not wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            type=utc_date,
            metavar="DAY",
            help=f"first UTC day to check, {DAYS} (default: all)",
        )
        parser.add_argument(
            "--until",
            type=utc_date,
            metavar="DAY",
            help=f"last UTC day to check, included, {DAYS} (default: all)",
        )
        parser.add_argument(
            "--repair",
            action="store_true",
            help="queue every wrong bucket so the next tick recomputes it",
        )
        parser.add_argument(
            "--slice-days",
            type=SLICE_DAYS,
            metavar="N",
            default=7,
            help=f"days compared per query, {SLICE_DAYS.bounds} (default: 7)",
        )
        add_database_argument(parser)

    def handle(self, *args, since, until, repair, slice_days, database, **options):
        with command_errors("verifying the rollup"):
            report = verification.verify(
                since, until, repair=repair, slice_days=slice_days, using=database
            )

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
                f"{counted(report.pending, 'bucket')} pending: queued or written since the "
                "watermark; the next tick brings them up to date."
            )
        if report.queued:
            self.stdout.write(
                f"Queued {counted(report.queued, 'bucket')}: the next tick recomputes them."
            )
        if report.differs:
            verb = "differs" if report.wrong == 1 else "differ"
            raise CommandError(
                f"{counted(report.wrong, 'bucket')} of the rollup {verb} from the raw rows."
            )
        self.stdout.write(self.style.SUCCESS("The rollup equals the raw aggregate."))
