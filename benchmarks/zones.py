"""Zones: days in a viewer's time zone (issue 13), what the reads and the quarter-hour rollup cost.

    python -m benchmarks.zones                  # a history of 100,000 rows (36 days)
    python -m benchmarks.zones --rows 1m        # 1,000,000 rows (365 days)

A database of its own (usage_bench_zones on the project's server) holding the main benchmark's
synthetic history (`benchmarks/figures.py`: 2,740 rows a day, the busiest runtime about 40% of
them), reused while it holds --rows rows. Reads are the busiest runtime's 30 and 90 days through
usage_rollup.queries: UTC days from the daily rollup (today's read), and the days of
Asia/Kolkata (offset by 5:30) and America/Los_Angeles (whole hours, a clock change in the 90
days) from the running sums by quarter hour, against the raw read in that zone; the median of
--repeats reads each. The maintenance figures run the recompute that writes both tables
(sql/task_usage_daily_recompute_slices.v4.sql) and, installed in this database for the
comparison and replaced after, the daily-only one (v2): a tick after 1,000 new rows
(figures.tick_after_new_rows) and a full backfill from an empty rollup, each way.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks import figures, read_modes
from benchmarks.run import ARTIFACTS, parse_size

DB_NAME = "usage_bench_zones"
READ_DAYS = read_modes.READ_DAYS
ZONES = ("Asia/Kolkata", "America/Los_Angeles")
DAILY_ONLY = "task_usage_daily_recompute_slices.v2.sql"
WITH_QUARTERS = "task_usage_daily_recompute_slices.v4.sql"


def _read_ms(runtime_id, days: int, tz: str, mode: str, repeats: int) -> float:
    return read_modes.measure_read(runtime_id, days, mode, repeats, tz=tz).median_ms


def _install(cursor, name: str) -> None:
    from usage_rollup.operations import SQL_DIR

    cursor.execute((SQL_DIR / name).read_text())


def _backfill_seconds(cursor) -> float:
    from usage_rollup import rollup

    cursor.execute("TRUNCATE task_usage_daily, task_usage_daily_dirty, task_usage_daily_quarters")
    started = time.perf_counter()
    rollup.backfill()
    return time.perf_counter() - started


def measure(runtime_id, args: argparse.Namespace) -> dict[str, float]:
    from django.db import connection

    from usage_rollup import queries

    found: dict[str, float] = {}
    with connection.cursor() as cursor:
        # As autovacuum leaves them: the reads are index-only scans once the pages are all-visible.
        cursor.execute("VACUUM ANALYZE task_usage_daily, task_usage_daily_quarters")
    for days in READ_DAYS:
        found[f"read {days} d, UTC, rollup (daily)"] = _read_ms(
            runtime_id, days, queries.UTC, "rollup", args.repeats
        )
        for tz in ZONES:
            for mode in ("rollup", "realtime", "raw"):
                found[f"read {days} d, {tz}, {mode}"] = _read_ms(
                    runtime_id, days, tz, mode, args.repeats
                )
    repeats = figures.Repeats(ticks=args.repeats)
    with connection.cursor() as cursor:
        try:
            _install(cursor, DAILY_ONLY)
            found["tick after 1,000 new rows, daily only (v2)"] = 1000 * (
                figures.tick_after_new_rows(cursor, repeats)
            )
            found["full backfill, daily only (v2)"] = _backfill_seconds(cursor)
        finally:
            _install(cursor, WITH_QUARTERS)
        # The daily-only recompute left the quarters behind: the backfill rebuilds them.
        found["full backfill, with quarters (v4)"] = _backfill_seconds(cursor)
        found["tick after 1,000 new rows, with quarters (v4)"] = 1000 * (
            figures.tick_after_new_rows(cursor, repeats)
        )
    return found


def table(found: dict[str, float]) -> str:
    lines = []
    for days in READ_DAYS:
        utc = found[f"read {days} d, UTC, rollup (daily)"]
        lines.append(f"read {days} d, UTC, rollup (daily)           {utc:9.2f} ms")
        for tz in ZONES:
            raw = found[f"read {days} d, {tz}, raw"]
            for mode in ("rollup", "realtime", "raw"):
                value = found[f"read {days} d, {tz}, {mode}"]
                lines.append(
                    f"read {days} d, {tz:19}, {mode:8} {value:9.2f} ms"
                    f"  {value / utc:6.2f}x the UTC rollup read,"
                    f" {raw / value:7.2f}x faster than raw"
                )
    for figure, unit in (("tick after 1,000 new rows", "ms"), ("full backfill", "s")):
        before = found[f"{figure}, daily only (v2)"]
        after = found[f"{figure}, with quarters (v4)"]
        lines.append(
            f"{figure}: daily only {before:.2f} {unit}, with quarters {after:.2f} {unit}"
            f" ({after / before:.2f}x; bar <=2x)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=parse_size, default=100_000, help="usage rows (100k)")
    parser.add_argument("--repeats", type=int, default=9, help="runs per figure (median)")
    parser.add_argument("--out", type=Path, default=ARTIFACTS, help="folder for the table")
    args = parser.parse_args(argv)
    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731

    read_modes.setup_django(read_modes.bench_database_url(DB_NAME))
    runtime_id = read_modes.prepare_history(figures.shape_for(args.rows), say)
    found = measure(runtime_id, args)
    printed = f"{args.rows:,} usage rows, busiest runtime\n" + table(found)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "zones.json").write_text(json.dumps(found, indent=1))
    (args.out / "zones.txt").write_text(printed + "\n")
    print(printed)


if __name__ == "__main__":
    main()
