import contextlib
import datetime
import signal

from django.core.management.base import CommandError

from usage_rollup import rollup
from usage_rollup.health import counted
from usage_rollup.management.cli import (
    COUNT,
    DAYS,
    INTERVAL,
    LAG,
    RollupCommand,
    add_database_argument,
    command_errors,
    utc_datetime,
)

DEFAULT_INTERVAL = datetime.timedelta(seconds=60)


@contextlib.contextmanager
def _stop_on_signals():
    """Yield a should_stop() that turns true on SIGTERM or SIGINT, which no longer interrupt:
    a tick under way finishes, and the loop ends before the next one."""
    received = []
    handlers = {
        signum: signal.signal(signum, lambda signum, frame: received.append(signum))
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield lambda: bool(received)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


class Command(RollupCommand):
    help = (
        "Roll up usage: one tick of rollup_task_usage_daily() by default, --catch-up to tick "
        "until the rollup is current, --loop to tick on an interval where pg_cron is not "
        "installed, or --from/--to to recompute an explicit window."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--lag",
            type=LAG,
            metavar="SECONDS",
            default=rollup.DEFAULT_LAG,
            help=f"seconds the watermark stays behind the clock, {LAG.bounds} (default: 300)",
        )
        parser.add_argument(
            "--max-rows",
            type=COUNT,
            metavar="N",
            help=f"changed rows one tick reads at most, {COUNT.bounds} (default: "
            "USAGE_ROLLUP_TICK_MAX_ROWS, else the database's usage_rollup.tick_max_rows)",
        )
        parser.add_argument(
            "--catch-up",
            action="store_true",
            help="tick, each in its own transaction, until the watermark reaches now - lag",
        )
        parser.add_argument(
            "--loop", action="store_true", help="tick every --interval seconds until stopped"
        )
        parser.add_argument(
            "--interval",
            type=INTERVAL,
            metavar="SECONDS",
            help=f"seconds between the ticks of --loop, {INTERVAL.bounds} (default: 60)",
        )
        parser.add_argument(
            "--max-ticks",
            type=COUNT,
            metavar="N",
            help=f"end --loop after this many ticks, {COUNT.bounds}",
        )
        parser.add_argument(
            "--from",
            dest="window_from",
            type=utc_datetime,
            metavar="TIME",
            help=f"window start (with --to), {DAYS}",
        )
        parser.add_argument(
            "--to",
            dest="window_to",
            type=utc_datetime,
            metavar="TIME",
            help=f"window end, exclusive, {DAYS}",
        )
        add_database_argument(parser)

    def handle(self, *args, **options):
        self.verbosity = options["verbosity"]
        window = options["window_from"], options["window_to"]
        if (window[0] is None) != (window[1] is None):
            raise CommandError("--from and --to go together")
        modes = [options["catch_up"], options["loop"], window[0] is not None]
        if sum(modes) > 1:
            raise CommandError("choose one of --catch-up, --loop and --from/--to")
        if not options["loop"] and (options["interval"], options["max_ticks"]) != (None, None):
            raise CommandError("--max-ticks and --interval go with --loop")
        database = options["database"]
        with command_errors("the rollup"):
            if window[0] is not None:
                self._window(*window, database)
            elif options["loop"]:
                self._loop(options, database)
            elif options["catch_up"]:
                self._catch_up(options, database)
            else:
                self._tick(options, database)

    def _describe(self, result: rollup.TickResult) -> str:
        start = result.window_start.isoformat() if result.window_start else "the oldest row"
        end = result.window_end.isoformat() if result.window_end else "?"
        return (
            f"{result.rows:,} rollup rows changed, window {start} .. {end}, "
            f"lag {result.lag.total_seconds():g} s (the rollup is {result.lag_seconds:.1f} s "
            "behind the clock)"
        )

    def _report(self, result: rollup.TickResult) -> None:
        if result.failed:
            raise CommandError(f"the tick failed: {result.error}")
        if result.skipped:
            self.stdout.write("Skipped: another tick holds the rollup's lock and does the work.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Tick: {self._describe(result)}."))

    def _tick(self, options, database):
        result = rollup.tick(options["lag"], database, options["max_rows"])
        self._report(result)

    def _catch_up(self, options, database):
        def detail(result):
            if self.verbosity >= 2 and not (result.failed or result.skipped):
                self.stdout.write(f"  {self._describe(result)}")

        done = rollup.catch_up(options["lag"], database, options["max_rows"], on_tick=detail)
        if done.last.failed or done.last.skipped:
            self._report(done.last)
        elif done.caught_up:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Caught up in {counted(done.ticks, 'tick')}: "
                    f"{counted(done.rows_changed, 'rollup row')} changed, "
                    f"watermark {done.last.window_end.isoformat()}."
                )
            )
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"Stopped after {counted(done.ticks, 'tick')}: the watermark is held at "
                    f"{done.last.window_end.isoformat()} by a transaction open since then "
                    "(see pg_stat_activity); the next tick goes on once it ends."
                )
            )

    def _loop(self, options, database):
        on_standby = False

        def detail(result):
            # Said once when the loop starts waiting on a standby and once when it is promoted,
            # not at every tick of a wait that may last for days.
            nonlocal on_standby
            if (result.skip_reason == rollup.SKIPPED_ON_STANDBY) != on_standby:
                on_standby = not on_standby
                self.stdout.write(
                    self.style.WARNING(f"Waiting: {rollup.SKIPPED_ON_STANDBY}.")
                    if on_standby
                    else "The database is a primary now: ticking."
                )
            if self.verbosity >= 2:
                if result.failed:
                    self.stdout.write(self.style.ERROR(f"  tick failed: {result.error}"))
                elif not result.skipped:
                    self.stdout.write(f"  {self._describe(result)}")

        interval = (options["interval"] or DEFAULT_INTERVAL).total_seconds()
        self.stdout.write(f"Ticking every {interval:g} s until SIGTERM or SIGINT.")
        with _stop_on_signals() as should_stop:
            ticks = rollup.run_loop(
                interval,
                should_stop,
                lag=options["lag"],
                using=database,
                max_rows=options["max_rows"],
                max_ticks=options["max_ticks"],
                on_tick=detail,
            )
        self.stdout.write(self.style.SUCCESS(f"Stopped after {counted(ticks, 'tick')}."))

    def _window(self, start, end, database):
        rows = rollup.run_window(start, end, database)
        self.stdout.write(
            self.style.SUCCESS(
                f"Window {start.isoformat()} .. {end.isoformat()}: {rows:,} rollup rows changed."
            )
        )
