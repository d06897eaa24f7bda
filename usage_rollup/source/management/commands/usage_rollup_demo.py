import datetime

from django.core.management import call_command
from django.core.management.base import CommandError

from usage_rollup import queries, rollup
from usage_rollup.management.cli import (
    DEMO_DAYS,
    DEMO_ROWS,
    RollupCommand,
    add_database_argument,
    command_errors,
)
from usage_rollup.management.progress import BackfillProgress
from usage_rollup.source import synthetic


class Command(RollupCommand):
    help = (
        "Show the rollup at work: migrate, write a synthetic usage history (if the database has "
        "none), backfill, tick, and print a runtime's daily usage from the rollup beside the raw "
        "query, with both timings."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rows",
            type=DEMO_ROWS,
            default=200_000,
            help=f"usage rows to generate, {DEMO_ROWS.bounds} (default: 200,000)",
        )
        parser.add_argument(
            "--days",
            type=DEMO_DAYS,
            default=180,
            help=f"days of history to spread, {DEMO_DAYS.bounds} (default: 180)",
        )
        parser.add_argument(
            "--read-days",
            type=DEMO_DAYS,
            default=90,
            help=f"days of usage to read back, {DEMO_DAYS.bounds} (default: 90)",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="empty every usage and rollup table first, then generate (destroys data)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="run on a database that holds workspaces or usage the demo did not write "
            "(with --reset: delete them); without it the demo refuses",
        )
        add_database_argument(parser)

    def handle(self, *args, rows, days, read_days, reset, force, database, **options):
        with command_errors("the demo"):
            if not force:
                self._refuse_foreign_data(reset, database)
            self._run(synthetic.HistoryShape(rows=rows, days=days), read_days, reset, database)

    def _refuse_foreign_data(self, reset, database):
        found = synthetic.foreign_data(using=database)
        if found:
            harm = "delete them all" if reset else "write its history beside them and backfill"
            raise CommandError(
                f"the database holds data the demo did not write ({found}), and the demo would "
                f"{harm}: run it on a database of its own (DATABASE_URL, --database), or pass "
                "--force if that is what you want"
            )

    def _run(self, shape, read_days, reset, database):
        call_command("migrate", database=database, interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")

        existing = synthetic.usage_row_count(database)
        if existing and not reset:
            self.stdout.write(f"Using the existing history of {existing:,} usage rows.")
        else:
            if reset:
                synthetic.reset_all(database)
            self.stdout.write(f"Writing {shape.rows:,} usage rows over {shape.days} days...")
            started = datetime.datetime.now()
            synthetic.generate_history(shape, database)
            elapsed = (datetime.datetime.now() - started).total_seconds()
            self.stdout.write(f"  written in {elapsed:.1f} s")

        progress = BackfillProgress(self.stderr._out)
        try:
            result = rollup.backfill("month", database, observer=progress)
        finally:
            progress.close()
        self.stdout.write(
            f"Backfill: {result.slices} slices, {result.rows_changed:,} rollup rows written, "
            f"watermark {result.watermark_at:%Y-%m-%d %H:%M:%S}."
        )
        tick = rollup.tick(datetime.timedelta(0), database)
        self.stdout.write(f"Tick: {tick.rows} rollup rows changed.")

        runtime_id = queries.busiest_runtime(using=database)
        if runtime_id is None:
            self.stdout.write("No runtime has usage: nothing to read.")
            return
        since = queries.period_start(read_days)
        reads = queries.compare_reads(runtime_id, since, using=database)
        self._print_usage(runtime_id, since, reads)

    def _print_usage(self, runtime_id, since, reads):
        self.stdout.write(f"\nRuntime {runtime_id}, usage since {since} (newest 12 rows):")
        header = f"{'date':<10}  {'provider/model':<26} {'input':>12} {'output':>11}"
        header += f" {'cache read':>13} {'cache write':>12}"
        self.stdout.write(header)
        for row in reads.rollup_rows[:12]:
            self.stdout.write(
                f"{row['date']:%Y-%m-%d}  {row['provider'] + '/' + row['model']:<26} "
                f"{row['input_tokens']:>12,} {row['output_tokens']:>11,} "
                f"{row['cache_read_tokens']:>13,} {row['cache_write_tokens']:>12,}"
            )
        ratio = reads.raw_seconds / reads.rollup_seconds if reads.rollup_seconds else float("inf")
        self.stdout.write(
            f"\n{len(reads.rollup_rows)} rows. Rollup read {reads.rollup_seconds * 1000:.2f} ms, "
            f"raw read {reads.raw_seconds * 1000:.2f} ms ({ratio:.0f}x faster, best of 5)."
        )
        if reads.equal:
            self.stdout.write(self.style.SUCCESS("Rollup and raw reads are equal."))
        else:
            raise CommandError("the rollup and raw reads differ: run verify_usage_rollup")
