"""Tenancy: what one tenant's change and read cost while the other tenants have a busy day.

    python -m benchmarks.tenancy                    # busy days of 20,000 and 1,000,000 rows
    python -m benchmarks.tenancy --busy 2k,20k      # smaller and quicker

A database of its own (usage_bench_tenancy on the project's server), built anew on every run:
500 workspaces of 2 runtimes and an agent each (1,000 runtimes), every id from the database's
gen_random_uuid(). Two tenants are watched: a small one (one runtime, 200 tasks, a row each over
the last 30 days, 10 of them in one issue) and a large one (one runtime, 20,000 tasks over a year,
1,336 of them in one issue spread over the year). The other 998 runtimes get a year of history
(200,000 rows) and then a busy day, yesterday, in the tenants' providers and models, grown to
each --busy size in turn; everything is rolled up before measuring.

Each figure is the median of --repeats runs of one transaction that makes the change, times the
statement, and rolls back, so every run meets the same database. A tick is timed as its window
(rollup_task_usage_daily_window over the transaction's own changes, what a tick recomputes), once
as it is now and once as window v3 did it (every dirty bucket's whole day-and-model slice,
installed here as bench_window_whole_slices): the two, side by side, on the same change. Reads
go through usage_rollup.queries, 30 days, the realtime one with one pending row of the tenant.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks import figures as main_figures
from benchmarks import read_modes
from benchmarks.run import ARTIFACTS, parse_size, size_label

DB_NAME = "usage_bench_tenancy"
WORKSPACES = 500
SMALL_TASKS = 200
SMALL_ISSUE_TASKS = 10
LARGE_TASKS = 20_000
LARGE_ISSUE_TASKS = 1_336
OTHERS_HISTORY = 200_000
MODELS = ("opus", "sonnet", "haiku")
PROVIDERS = ("anthropic", "openai")
READ_DAYS = 30

# Window v3, for comparison: every dirty bucket's whole (day, provider, model) slice. Its body is
# the released file's, renamed; the recompute it calls computes whole slices when no single
# bucket is listed, as v3's did.
WINDOW_V3 = "rollup_task_usage_daily_window.v3.sql"


def _timed(cursor, sql: str, params=None) -> float:
    started = time.perf_counter()
    cursor.execute(sql, params)
    return time.perf_counter() - started


class Bench:
    def __init__(self, cursor, repeats: int) -> None:
        self.cursor = cursor
        self.repeats = repeats

    def median(self, change: str, measured, params=None) -> float:
        """Median over the repeats of: BEGIN, the change, the timed `measured`, ROLLBACK."""
        times = []
        for _ in range(self.repeats):
            self.cursor.execute("BEGIN")
            try:
                self.cursor.execute(change, params)
                times.append(measured())
            finally:
                self.cursor.execute("ROLLBACK")
        return statistics.median(times)

    def windows(self, change: str, params=None) -> dict[str, float]:
        """The change's window now, and as v3 (whole slices) did it."""
        window = "SELECT {}(now(), now() + interval '1 microsecond')"
        return {
            "now": self.median(
                change,
                lambda: _timed(self.cursor, window.format("rollup_task_usage_daily_window")),
                params,
            ),
            "v3": self.median(
                change,
                lambda: _timed(self.cursor, window.format("bench_window_whole_slices")),
                params,
            ),
        }


def build(cursor, say) -> dict:
    """The platform, the two tenants and the others' year of history; returns the tenants."""
    cursor.execute(
        "INSERT INTO workspace (name, slug) SELECT 'w' || g, 'w' || g"
        " FROM generate_series(1, %s) AS g",
        [WORKSPACES],
    )
    cursor.execute(
        "INSERT INTO agent_runtime (workspace_id, name) SELECT id, name || '-' || r"
        " FROM workspace, generate_series(1, 2) AS r"
    )
    cursor.execute("INSERT INTO agent (workspace_id, name) SELECT id, name FROM workspace")
    cursor.execute(
        """
        SELECT w.id, rt.id, a.id
          FROM workspace w
          JOIN agent_runtime rt ON rt.workspace_id = w.id AND rt.name = w.name || '-1'
          JOIN agent a ON a.workspace_id = w.id
         WHERE w.slug IN ('w1', 'w2')
         ORDER BY w.slug
        """
    )
    (s_ws, s_rt, s_agent), (l_ws, l_rt, l_agent) = cursor.fetchall()
    tenants = {
        "small": {"workspace": s_ws, "runtime": s_rt, "agent": s_agent},
        "large": {"workspace": l_ws, "runtime": l_rt, "agent": l_agent},
    }
    for name, tasks, issue_tasks, days in (
        ("small", SMALL_TASKS, SMALL_ISSUE_TASKS, READ_DAYS),
        ("large", LARGE_TASKS, LARGE_ISSUE_TASKS, 365),
    ):
        tenant = tenants[name]
        cursor.execute(
            "INSERT INTO issue (workspace_id, title) VALUES (%s, %s) RETURNING id",
            [tenant["workspace"], f"{name} issue"],
        )
        tenant["issue"] = cursor.fetchone()[0]
        # Task g's one row is g days ago (modulo the span): yesterday's included; every
        # `tasks // issue_tasks`-th task is the issue's, spread over the whole span.
        cursor.execute(
            """
            WITH tasks AS (
                INSERT INTO agent_task_queue (agent_id, runtime_id, issue_id)
                SELECT %(agent)s, %(runtime)s,
                       CASE WHEN g %% (%(tasks)s / %(issue_tasks)s) = 0 THEN %(issue)s::uuid END
                  FROM generate_series(1, %(tasks)s) AS g
                RETURNING id
            )
            INSERT INTO task_usage (task_id, provider, model, input_tokens, output_tokens,
                                    created_at)
            SELECT id, 'anthropic', (%(models)s::text[])[1 + n %% 3], 100 + n %% 50, 20,
                   date_trunc('day', now()) - (1 + n %% %(days)s) * interval '1 day'
                                            + (n %% 86400) * interval '1 second'
              FROM (SELECT id, row_number() OVER () AS n FROM tasks) AS t
            """,
            {**tenant, "tasks": tasks, "issue_tasks": issue_tasks, "days": days,
             "models": list(MODELS)},
        )  # fmt: skip
    say(f"  the others' year of history ({OTHERS_HISTORY:,} rows)...")
    add_others_usage(cursor, tenants, OTHERS_HISTORY, days=365)
    return tenants


def add_others_usage(cursor, tenants: dict, rows: int, days: int) -> None:
    """`rows` usage rows of the 998 other runtimes, a task each, over the last `days` days (1:
    yesterday only), in every provider and model the tenants use."""
    cursor.execute(
        """
        WITH others AS (
            SELECT rt.id AS runtime_id, a.id AS agent_id,
                   row_number() OVER (ORDER BY rt.id) - 1 AS k
              FROM agent_runtime rt
              JOIN agent a ON a.workspace_id = rt.workspace_id
             WHERE rt.id <> ALL(%(tenants)s)
        ),
        tasks AS (
            INSERT INTO agent_task_queue (agent_id, runtime_id)
            SELECT o.agent_id, o.runtime_id
              FROM generate_series(1, %(rows)s) AS g
              JOIN others o ON o.k = g %% (SELECT count(*) FROM others)
            RETURNING id
        )
        INSERT INTO task_usage (task_id, provider, model, input_tokens, output_tokens,
                                created_at)
        SELECT id, (%(providers)s::text[])[1 + n %% 2], (%(models)s::text[])[1 + n %% 3],
               100 + n %% 50, 20,
               date_trunc('day', now()) - (1 + n %% %(days)s) * interval '1 day'
                                        + (n %% 86400) * interval '1 second'
          FROM (SELECT id, row_number() OVER () AS n FROM tasks) AS t
        """,
        {
            "tenants": [tenants["small"]["runtime"], tenants["large"]["runtime"]],
            "rows": rows,
            "days": days,
            "providers": list(PROVIDERS),
            "models": list(MODELS),
        },
    )


def settle(cursor) -> None:
    from django.core.management import call_command

    cursor.execute("ANALYZE")
    call_command("backfill_task_usage_daily", verbosity=0)
    cursor.execute("SELECT rollup_task_usage_daily(interval '0 seconds')")
    cursor.execute("ANALYZE")


def measure_at(cursor, tenants: dict, repeats: int) -> dict[str, float]:
    """Every figure on the database as it is (one busy-day size)."""
    from usage_rollup import queries

    bench = Bench(cursor, repeats)
    small, large = tenants["small"], tenants["large"]
    yesterday = "date_trunc('day', now()) - interval '1 day'"
    figures = {}
    new_rows = f"""
        INSERT INTO task_usage (task_id, provider, model, input_tokens, created_at)
        SELECT id, 'openai', 'opus', 7, {yesterday} + interval '1 hour'
          FROM agent_task_queue WHERE runtime_id = %(runtime)s
    """
    correction = f"""
        UPDATE task_usage SET input_tokens = input_tokens + 1
         WHERE id = (SELECT tu.id FROM task_usage tu
                       JOIN agent_task_queue t ON t.id = tu.task_id
                      WHERE t.runtime_id = %(runtime)s
                        AND tu.created_at >= {yesterday}
                      LIMIT 1)
    """
    delete_issue = "DELETE FROM issue WHERE id = %(issue)s"
    for name, change, tenant in (
        ("small_tick_new_rows", new_rows, small),
        ("small_tick_correction", correction, small),
        ("small_tick_issue_delete", delete_issue, small),
        ("large_tick_correction", correction, large),
        ("large_tick_year_issue_delete", delete_issue, large),
    ):
        for version, seconds in bench.windows(change, tenant).items():
            figures[f"{name}_{version}"] = seconds

    since = queries.period_start(READ_DAYS)
    for name, tenant in (("small", small), ("large", large)):
        for mode in ("raw", "rollup", "realtime"):

            def read(mode=mode, tenant=tenant) -> float:
                started = time.perf_counter()
                queries.runtime_usage(tenant["runtime"], since, source=mode)
                return time.perf_counter() - started

            pending = correction if mode == "realtime" else "SELECT 1"
            figures[f"{name}_read_{mode}"] = bench.median(pending, read, tenant)
    return figures


FIGURES = (
    ("small tenant: tick after its 200 new rows", "small_tick_new_rows"),
    ("small tenant: tick after one corrected row", "small_tick_correction"),
    ("small tenant: tick after deleting one of its issues", "small_tick_issue_delete"),
    ("large tenant: tick after one corrected row", "large_tick_correction"),
    ("large tenant: tick after deleting its year-long issue", "large_tick_year_issue_delete"),
)
READS = (
    ("small tenant: read 30 d, raw", "small_read_raw"),
    ("small tenant: read 30 d, rollup", "small_read_rollup"),
    ("small tenant: read 30 d, realtime (one pending row)", "small_read_realtime"),
    ("large tenant: read 30 d, raw", "large_read_raw"),
    ("large tenant: read 30 d, rollup", "large_read_rollup"),
    ("large tenant: read 30 d, realtime (one pending row)", "large_read_realtime"),
)


BACKFILL = (
    ("CREATE TABLE AS ... GROUP BY, one pass, no indexes", "backfill_floor_bare"),
    ("full backfill (x the one pass)", "backfill"),
)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def table(results: dict[int, dict[str, float]]) -> str:
    sizes = sorted(results)
    first, last = sizes[0], sizes[-1]
    head = ["figure", *(f"busy {size_label(s)}: now / v3" for s in sizes)]
    head += [f"now {size_label(last)}/{size_label(first)}", "bar"]
    lines = []
    for title, key in FIGURES:
        cells = [f"{_ms(results[s][key + '_now'])} / {_ms(results[s][key + '_v3'])}" for s in sizes]
        growth = results[last][key + "_now"] / results[first][key + "_now"]
        bar = ""
        if key.startswith("small"):
            bar = f"within 1.5x: {'met' if growth <= 1.5 else 'MISSED'}"
        lines.append([title, *cells, f"{growth:.2f}x", bar])
    for title, key in READS:
        cells = [_ms(results[s][key]) for s in sizes]
        growth = results[last][key] / results[first][key]
        bar = ""
        if key.endswith("realtime"):
            raw_key = key.replace("realtime", "raw")
            ok = all(results[s][key] <= results[s][raw_key] for s in sizes)
            bar = f"at most raw: {'met' if ok else 'MISSED'}"
        lines.append([title, *cells, f"{growth:.2f}x", bar])
    for title, key in BACKFILL:
        cells = [_ms(results[s][key]) for s in sizes]
        if key == "backfill":
            cells = [
                f"{c} ({results[s]['backfill'] / results[s]['backfill_floor_bare']:.2f}x)"
                for c, s in zip(cells, sizes, strict=True)
            ]
        lines.append([title, *cells, f"{results[last][key] / results[first][key]:.2f}x", ""])
    widths = [max(len(str(row[i])) for row in [head, *lines]) for i in range(len(head))]
    render = lambda row: " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))  # noqa: E731
    return "\n".join([render(head), "-" * len(render(head)), *map(render, lines)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--busy",
        type=lambda text: sorted(parse_size(size) for size in text.split(",")),
        default=[20_000, 1_000_000],
        help="busy-day sizes in usage rows of the other tenants (default: 20k,1M)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--out", type=Path, default=ARTIFACTS, help="folder for the table")
    args = parser.parse_args(argv)
    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731

    database_url = read_modes.bench_database_url(DB_NAME)
    read_modes.setup_django(database_url)
    from django.core.management import call_command
    from django.db import connection

    from usage_rollup.operations import SQL_DIR

    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE")
        cursor.execute("CREATE SCHEMA public")
        call_command("migrate", verbosity=0)
        cursor.execute(
            (SQL_DIR / WINDOW_V3)
            .read_text()
            .replace(
                "FUNCTION rollup_task_usage_daily_window(", "FUNCTION bench_window_whole_slices("
            )
        )
        say("Building the platform and the tenants...")
        tenants = build(cursor, say)
        results, busy_so_far = {}, 0
        for busy in args.busy:
            say(f"A busy day of {busy:,} rows...")
            add_others_usage(cursor, tenants, busy - busy_so_far, days=1)
            busy_so_far = busy
            settle(cursor)
            results[busy] = measure_at(cursor, tenants, args.repeats)
            say(f"  the backfill against one pass, busy day of {busy:,} rows...")
            results[busy].update(main_figures.backfill_against_floor(cursor))
    printed = table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tenancy.json").write_text(json.dumps(results, indent=1))
    (args.out / "tenancy.txt").write_text(printed + "\n")
    print(printed)


if __name__ == "__main__":
    main()
