from django.core.management.base import CommandError

from usage_rollup import rollup
from usage_rollup.health import counted
from usage_rollup.management.cli import (
    MONTHS_BACK,
    RollupCommand,
    add_database_argument,
    command_errors,
)
from usage_rollup.management.progress import BackfillProgress


class Command(RollupCommand):
    help = (
        "Recompute every bucket of the usage history in slices of bucket days, holding the "
        "rollup's lock, then stamp the watermark by the database clock. Safe to re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--slice",
            dest="unit",
            default="month",
            choices=rollup.SLICE_UNITS,
            help="days per transaction: a calendar month, week or day (default: month)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="print the slices and write nothing"
        )
        parser.add_argument(
            "--months-back",
            type=MONTHS_BACK,
            metavar="N",
            help=f"only the last N months of history, {MONTHS_BACK.bounds} (needs --force-partial)",
        )
        parser.add_argument(
            "--force-partial",
            action="store_true",
            help="allow --months-back: older usage stays out of the rollup for good",
        )
        add_database_argument(parser)

    def handle(self, *args, unit, dry_run, months_back, force_partial, database, **options):
        if months_back is not None and not (force_partial or dry_run):
            raise CommandError(
                "--months-back leaves older usage out of the rollup while the watermark moves "
                "past it, so later ticks never add it: add --force-partial if that is intended"
            )
        with command_errors("the backfill"):
            if dry_run:
                self._print_plan(*rollup.plan_backfill(unit, database, months_back))
            else:
                self._run(unit, database, months_back)

    def _print_plan(self, slices, stamp):
        for piece in slices:
            self.stdout.write(f"{piece.start} .. {piece.end}  {piece.rows:>12,} rows")
        total = sum(piece.rows for piece in slices)
        self.stdout.write(
            self.style.SUCCESS(
                f"Dry run: {counted(len(slices), 'slice')}, {counted(total, 'usage row')}; "
                "nothing was written."
            )
        )

    def _run(self, unit, database, months_back):
        progress = BackfillProgress(self.stderr._out)
        try:
            result = rollup.backfill(unit, database, observer=progress, months_back=months_back)
        except KeyboardInterrupt:
            raise CommandError(
                f"interrupted after {progress.done} of {progress.slices} slices: the slices done "
                "are kept, the one under way was rolled back and the watermark was not moved; "
                "run the command again to finish (it redoes every slice)"
            ) from None
        finally:
            progress.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"Backfill done: {counted(result.slices, 'slice')}, "
                f"{counted(result.rows_changed, 'rollup row')} changed, "
                f"watermark {result.watermark_at.isoformat()}."
            )
        )
