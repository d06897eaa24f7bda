"""Every figure of the benchmark, measured on one history in one database: one size of
`python -m benchmarks`, which runs this module once per size, each in its own process (Django is
set up on one database per process), and reads the figures it prints as JSON on its last line.

    python -m benchmarks.figures --rows 100000 --db-name usage_bench_100k

Times are wall clock of the SQL statement, measured in one session; the median of several
repetitions where the operation can be repeated (see Repeats). Every change a figure makes to the
history is taken back (or rolled back) and rolled up, so the database can be reused by the next
run while it still holds exactly --rows usage rows.
"""

import argparse
import contextlib
import dataclasses
import datetime
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from benchmarks import read_modes

# A steady daily rate up to ten years: a larger history is a longer one (10M rows: 3,650 days).
# A larger one still is ten years of a platform with many tenants at a higher rate (100M rows:
# 27,400 a day; 500 workspaces of two runtimes and two agents each, a task's agent in its
# runtime's workspace): a hundred years would not fit task_usage's CHECK, which starts at 2000.
ROWS_PER_DAY = 2_740
LONGEST_DAYS = 3_650
PLATFORM_TENANTS = {"workspaces": 500, "runtimes": 1_000, "agents": 1_000}
# Histories larger than this are measured with Repeats.at_scale().
SCALE_ROWS = 10_000_000
# The issue whose delete the tick after a delete recomputes: its usage spans this many days.
ISSUE_DAYS = 30
ISSUE_TASKS = 100
NEW_ROWS = 1_000
CHANGED_SHARE_OF_A_DAY = 0.01

# The rollup's pgtrigger triggers live on these tables; DISABLE TRIGGER USER leaves the
# foreign keys' own triggers (the cascades) firing.
TRIGGER_TABLES = ("task_usage", "agent_task_queue", "agent")

# Day of a usage row the way the rollup's bucket has it, and the raw aggregate (the oracle's).
AGGREGATE = """
    SELECT task_usage_utc_day(tu.created_at) AS bucket_date, a.workspace_id, t.runtime_id,
           tu.provider, tu.model,
           sum(tu.input_tokens)::bigint AS input_tokens,
           sum(tu.output_tokens)::bigint AS output_tokens,
           sum(tu.cache_read_tokens)::bigint AS cache_read_tokens,
           sum(tu.cache_write_tokens)::bigint AS cache_write_tokens,
           count(*)::bigint AS event_count
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
      JOIN agent a ON a.id = t.agent_id
     WHERE t.runtime_id IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5
"""
KEY = "bucket_date, workspace_id, runtime_id, provider, model"
TOTALS = "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, event_count"

TICK = "SELECT rollup_task_usage_daily(interval '0 seconds')"


@dataclasses.dataclass(frozen=True)
class Repeats:
    """How many times each figure is measured, and how big its operations are."""

    reads: int = 20
    ticks: int = 9
    refreshes: int = 3
    floors: int = 2
    requests: int = 100
    clients: int = 4
    inserts_per_client: int = 1_000
    bulk_tasks: int = 10_000
    # The insert rates are measured against a copy of task_usage, rows and indexes included.
    insert_rates: bool = True
    # The materialized view's work_mem for its creation and refreshes; None: the server's.
    refresh_work_mem: str | None = None

    @classmethod
    def smoke(cls) -> "Repeats":
        return cls(
            reads=3, ticks=2, refreshes=1, requests=20, inserts_per_client=50, bulk_tasks=200
        )

    @classmethod
    def at_scale(cls) -> "Repeats":
        """Beyond ten million rows: a raw read takes seconds, a refresh or a floor minutes, and
        a copy of task_usage tens of gigabytes (the insert rates do not depend on the history's
        length: its 10M figures stand). The materialized view gets 1GB of work_mem: at the
        default 4MB, building its aggregate of 100M rows spilled more temporary files (its hash
        join's batches and its sort) than the 19 GB a disk holding the history and the rollup
        had left here; with more memory it is also faster, so its ratio to the tick is smaller."""
        return cls(
            reads=5,
            refreshes=1,
            floors=1,
            requests=20,
            insert_rates=False,
            refresh_work_mem="1GB",
        )

    @classmethod
    def for_history(cls, rows: int, smoke: bool) -> "Repeats":
        if smoke:
            return cls.smoke()
        return cls.at_scale() if rows > SCALE_ROWS else cls()


def shape_for(rows: int):
    """The synthetic.HistoryShape of a history of `rows` usage rows (see ROWS_PER_DAY)."""
    from usage_rollup.source import synthetic

    days = max(1, round(rows / ROWS_PER_DAY))
    if days <= LONGEST_DAYS:
        return synthetic.HistoryShape(rows=rows, days=days)
    return synthetic.HistoryShape(rows=rows, days=LONGEST_DAYS, **PLATFORM_TENANTS)


def _timed(cursor, sql: str, params=None) -> float:
    started = time.perf_counter()
    cursor.execute(sql, params)
    return time.perf_counter() - started


def _tick(cursor) -> float:
    """One tick of the entry point with no lag, in its own transaction; its wall time."""
    return _timed(cursor, TICK)


def _parents(cursor) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    cursor.execute("SELECT id FROM agent ORDER BY name")
    agents = [row[0] for row in cursor.fetchall()]
    cursor.execute("SELECT id FROM agent_runtime ORDER BY name")
    return agents, [row[0] for row in cursor.fetchall()]


def add_tasks(cursor, tasks: int, days: int, issue: uuid.UUID | None = None) -> list[uuid.UUID]:
    """`tasks` new tasks spread over agents, runtimes and the last `days` days, one usage row
    each (models in turn), committed with the caller's transaction; their ids."""
    from usage_rollup.source import synthetic

    agents, runtimes = _parents(cursor)
    cursor.execute(
        """
        WITH task AS (
            INSERT INTO agent_task_queue (agent_id, issue_id, runtime_id, status, created_at)
            SELECT (%(agents)s::uuid[])[1 + g %% cardinality(%(agents)s::uuid[])], %(issue)s,
                   (%(runtimes)s::uuid[])[1 + (g * 7) %% cardinality(%(runtimes)s::uuid[])],
                   'done',
                   now() - (g %% %(days)s) * interval '1 day' - random() * interval '1 hour'
              FROM generate_series(1, %(tasks)s) AS g
            RETURNING id, created_at
        )
        INSERT INTO task_usage (task_id, provider, model, input_tokens, output_tokens,
                                created_at)
        SELECT task.id, m.provider, m.model, 1000, 100, task.created_at
          FROM (SELECT id, created_at, row_number() OVER () AS n FROM task) AS task
          JOIN unnest(%(providers)s::text[], %(models)s::text[]) WITH ORDINALITY
               AS m(provider, model, i) ON m.i = 1 + task.n %% cardinality(%(models)s::text[])
        RETURNING task_id
        """,
        {
            "agents": agents,
            "runtimes": runtimes,
            "issue": issue,
            "days": days,
            "tasks": tasks,
            "providers": [provider for provider, _ in synthetic.MODELS],
            "models": [model for _, model in synthetic.MODELS],
        },
    )
    return [row[0] for row in cursor.fetchall()]


def add_issue(cursor, tasks: int, days: int) -> uuid.UUID:
    """A new issue with `tasks` tasks (one usage row each) over the last `days` days."""
    cursor.execute(
        """
        INSERT INTO issue (workspace_id, title)
        SELECT workspace_id, 'Benchmark issue' FROM agent ORDER BY name LIMIT 1
        RETURNING id
        """
    )
    (issue,) = cursor.fetchone()
    add_tasks(cursor, tasks, days, issue)
    return issue


@contextlib.contextmanager
def _bench_issue(cursor, tasks: int, days: int) -> Iterator[uuid.UUID]:
    """An issue that exists, rolled up, while the block runs, and is gone (and rolled up) after."""
    issue = add_issue(cursor, tasks, days)
    _tick(cursor)
    try:
        yield issue
    finally:
        cursor.execute("DELETE FROM issue WHERE id = %s", [issue])
        _tick(cursor)


def tick_after_new_rows(cursor, repeats: Repeats) -> float:
    """A tick after NEW_ROWS fresh usage rows of today, with fresh rows each time."""
    samples = []
    for _ in range(repeats.ticks):
        tasks = add_tasks(cursor, NEW_ROWS, days=1)
        samples.append(_tick(cursor))
        cursor.execute("DELETE FROM agent_task_queue WHERE id = ANY(%s)", [tasks])
        _tick(cursor)
    return statistics.median(samples)


def tick_after_one_correction(cursor, runtime_id: uuid.UUID, repeats: Repeats) -> float:
    """A tick after one corrected row of the busiest runtime, a week old (a different row each
    time; the correction stamps updated_at and leaves the tokens as they were)."""
    samples = []
    for offset in range(repeats.ticks):
        cursor.execute(
            """
            UPDATE task_usage SET input_tokens = input_tokens
             WHERE id = (SELECT tu.id FROM task_usage tu
                           JOIN agent_task_queue t ON t.id = tu.task_id
                          WHERE t.runtime_id = %s
                            AND task_usage_utc_day(tu.created_at) = task_usage_utc_day(now()) - 7
                          ORDER BY tu.id OFFSET %s LIMIT 1)
            """,
            [runtime_id, offset],
        )
        samples.append(_tick(cursor))
    return statistics.median(samples)


def tick_after_issue_delete(cursor, repeats: Repeats) -> float:
    """A tick after deleting an issue whose usage spans ISSUE_DAYS days (a new issue each time)."""
    samples = []
    for _ in range(repeats.ticks):
        issue = add_issue(cursor, ISSUE_TASKS, ISSUE_DAYS)
        _tick(cursor)
        cursor.execute("DELETE FROM issue WHERE id = %s", [issue])
        samples.append(_tick(cursor))
    return statistics.median(samples)


def _change_share_of_yesterday(cursor) -> None:
    cursor.execute(
        """
        UPDATE task_usage SET input_tokens = input_tokens
         WHERE id IN (SELECT id FROM task_usage
                       WHERE task_usage_utc_day(created_at) = task_usage_utc_day(now()) - 1
                       ORDER BY random()
                       LIMIT greatest(1, %s * (SELECT count(*) FROM task_usage
                                  WHERE task_usage_utc_day(created_at)
                                        = task_usage_utc_day(now()) - 1)))
        """,
        [CHANGED_SHARE_OF_A_DAY],
    )


def refresh_against_tick(cursor, repeats: Repeats) -> dict[str, float]:
    """After 1% of yesterday's rows changed: a tick, and REFRESH MATERIALIZED VIEW CONCURRENTLY
    of the same aggregate (with the unique index CONCURRENTLY needs)."""
    refresh_memory = (
        f"SET work_mem = '{repeats.refresh_work_mem}'"
        if repeats.refresh_work_mem
        else "RESET work_mem"
    )
    cursor.execute("DROP MATERIALIZED VIEW IF EXISTS bench_usage_daily")
    cursor.execute(refresh_memory)
    cursor.execute(f"CREATE MATERIALIZED VIEW bench_usage_daily AS {AGGREGATE}")
    cursor.execute(f"CREATE UNIQUE INDEX ON bench_usage_daily ({KEY})")
    cursor.execute("ANALYZE bench_usage_daily")
    ticks, refreshes = [], []
    try:
        for _ in range(repeats.refreshes):
            _change_share_of_yesterday(cursor)
            cursor.execute("RESET work_mem")
            ticks.append(_tick(cursor))
            cursor.execute(refresh_memory)
            refreshes.append(
                _timed(cursor, "REFRESH MATERIALIZED VIEW CONCURRENTLY bench_usage_daily")
            )
    finally:
        cursor.execute("RESET work_mem")
        cursor.execute("DROP MATERIALIZED VIEW bench_usage_daily")
    return {"tick_1pct_day": statistics.median(ticks), "refresh_mv": statistics.median(refreshes)}


def backfill_against_floor(cursor, repeats: Repeats) -> dict[str, float]:
    """The full backfill from an empty rollup, against two floors (the best of `repeats.floors`
    runs each):
    one INSERT ... SELECT ... GROUP BY of the same aggregate into a copy of task_usage_daily with
    its indexes, and one CREATE TABLE AS of it (one pass, no index to fill)."""
    from usage_rollup import rollup

    floors, bare_floors = [], []
    for _ in range(repeats.floors):
        cursor.execute("DROP TABLE IF EXISTS bench_floor")
        cursor.execute("CREATE TABLE bench_floor (LIKE task_usage_daily INCLUDING ALL)")
        floors.append(
            _timed(
                cursor,
                f"INSERT INTO bench_floor ({KEY}, {TOTALS}, updated_at) "
                f"SELECT {KEY}, {TOTALS}, now() FROM ({AGGREGATE}) AS raw",
            )
        )
        cursor.execute("DROP TABLE bench_floor")
        bare_floors.append(_timed(cursor, f"CREATE TABLE bench_floor AS {AGGREGATE}"))
        cursor.execute("DROP TABLE bench_floor")
    cursor.execute("TRUNCATE task_usage_daily, task_usage_daily_dirty, task_usage_daily_quarters")
    started = time.perf_counter()
    rollup.backfill()
    backfill = time.perf_counter() - started
    rollup.tick(datetime.timedelta(0))  # what the backfill's stamp left behind
    return {
        "backfill": backfill,
        "backfill_floor": min(floors),
        "backfill_floor_bare": min(bare_floors),
    }


# A copy of task_usage, its rows included (an index of a million rows costs more to insert into
# than an empty one), with what any table of usage has (primary key, the unique key of a row, the
# foreign key to its task) but neither the rollup's two indexes nor its triggers.
_PLAIN_USAGE = """
DROP TABLE IF EXISTS bench_plain_usage;
CREATE TABLE bench_plain_usage (LIKE task_usage INCLUDING DEFAULTS);
INSERT INTO bench_plain_usage SELECT * FROM task_usage;
ALTER TABLE bench_plain_usage
    ADD PRIMARY KEY (id),
    ADD UNIQUE (task_id, provider, model),
    ADD FOREIGN KEY (task_id) REFERENCES agent_task_queue (id) ON DELETE CASCADE;
ANALYZE bench_plain_usage;
"""

_INSERT_USAGE = """
INSERT INTO {table} (task_id, provider, model, input_tokens, output_tokens)
VALUES (%s, 'bench', %s, 1000, 100)
"""

# As a client of another language writes usage: it stamps updated_at from its own clock, which
# the rollup's insert trigger replaces with the database's.
_INSERT_USAGE_CLIENT_STAMPED = """
INSERT INTO {table} (task_id, provider, model, input_tokens, output_tokens, updated_at)
VALUES (%s, 'bench', %s, 1000, 100, now() - interval '1 hour')
"""


def _insert_rate(
    database_url: str, statement: str, tasks: list, repeats: Repeats, run: str
) -> float:
    """Usage rows per second that `repeats.clients` sessions insert with `statement`, each row in
    its own transaction (as agents report usage), every session on its own connection."""
    import psycopg

    ready = threading.Barrier(repeats.clients + 1)
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                ready.wait()
                for i in range(repeats.inserts_per_client):
                    task = tasks[(n * 7919 + i * 104729) % len(tasks)]
                    conn.execute(statement, [task, f"bench-{run}-{n}-{i}"])
        except BaseException as error:  # reported by the caller, not lost in the thread
            errors.append(error)
            ready.abort()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(repeats.clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return repeats.clients * repeats.inserts_per_client / seconds


def insert_throughput(cursor, database_url: str, repeats: Repeats) -> dict[str, float]:
    """Insert rates into task_usage and into its plain copy, in alternating rounds (median)."""
    cursor.execute(_PLAIN_USAGE)
    cursor.execute("SELECT id FROM agent_task_queue ORDER BY id LIMIT 5000")
    tasks = [row[0] for row in cursor.fetchall()]
    statements = {
        "insert_plain": _INSERT_USAGE.format(table="bench_plain_usage"),
        "insert_rollup": _INSERT_USAGE.format(table="task_usage"),
        "insert_rollup_client_stamped": _INSERT_USAGE_CLIENT_STAMPED.format(table="task_usage"),
    }
    rates: dict[str, list[float]] = {figure: [] for figure in statements}
    try:
        for run in range(3):
            for figure, statement in statements.items():
                rates[figure].append(
                    _insert_rate(database_url, statement, tasks, repeats, f"{figure}-{run}")
                )
    finally:
        cursor.execute("DROP TABLE bench_plain_usage")
        cursor.execute("DELETE FROM task_usage WHERE provider = 'bench'")
        _tick(cursor)
    return {figure: statistics.median(samples) for figure, samples in rates.items()}


def _with_and_without_triggers(cursor, operation: Callable[[], float]) -> dict[str, float]:
    """The operation's time with the rollup's triggers and with them disabled, each in a
    transaction that is rolled back (the median of three, alternating)."""
    from django.db import transaction

    timings: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(3):
        for kind in ("without", "with"):
            with contextlib.suppress(_RolledBack), transaction.atomic():
                if kind == "without":
                    for table in TRIGGER_TABLES:
                        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
                timings[kind].append(operation())
                raise _RolledBack
    return {kind: statistics.median(samples) for kind, samples in timings.items()}


class _RolledBack(Exception):
    """Raised to roll a measured transaction back."""


def bulk_changes(cursor, repeats: Repeats) -> dict[str, float]:
    """Deleting an issue of `bulk_tasks` usage rows, moving its `bulk_tasks` tasks to another
    runtime, and updating the status of 1,000 of them one statement at a time, with and without
    the rollup's triggers."""
    _, runtimes = _parents(cursor)
    figures = {}
    with _bench_issue(cursor, repeats.bulk_tasks, ISSUE_DAYS) as issue:
        cursor.execute(
            "UPDATE agent_task_queue SET runtime_id = %s WHERE issue_id = %s", [runtimes[0], issue]
        )
        _tick(cursor)
        deleted = _with_and_without_triggers(
            cursor, lambda: _timed(cursor, "DELETE FROM issue WHERE id = %s", [issue])
        )
        moved = _with_and_without_triggers(
            cursor,
            lambda: _timed(
                cursor,
                "UPDATE agent_task_queue SET runtime_id = %s WHERE issue_id = %s",
                [runtimes[1], issue],
            ),
        )
        # The task table's statement-level trigger fires for every UPDATE (PostgreSQL allows no
        # column list with transition tables): its price on a platform's own status updates.
        cursor.execute(
            "SELECT id FROM agent_task_queue WHERE issue_id = %s LIMIT %s", [issue, 1000]
        )
        tasks = [row[0] for row in cursor.fetchall()]
        statuses = _with_and_without_triggers(
            cursor,
            lambda: sum(
                _timed(cursor, "UPDATE agent_task_queue SET status = 'running' WHERE id = %s", [t])
                for t in tasks
            ),
        )
    for kind in ("with", "without"):
        figures[f"delete_issue_{kind}"] = deleted[kind]
        figures[f"reassign_{kind}"] = moved[kind]
        figures[f"status_updates_{kind}"] = statuses[kind]
    return figures


def reads_and_endpoint(runtime_id: uuid.UUID, database_url: str, repeats: Repeats) -> dict:
    """The read modes' latency (30 and 90 days) and the endpoint's requests per second, with
    nothing pending and with fresh writes not rolled up (benchmarks/read_modes.py)."""
    args = argparse.Namespace(
        repeat=repeats.reads, requests=repeats.requests, concurrency=repeats.clients
    )
    cookie = read_modes.session_cookie()
    path = f"/api/runtimes/{runtime_id}/usage?days={read_modes.ENDPOINT_DAYS}"
    figures = {}
    with contextlib.ExitStack() as servers:
        ports = {
            mode: servers.enter_context(read_modes.serve(mode, database_url, 2, cookie, path))
            for mode in read_modes.MODES
        }
        states = {"": None, "_pending": NEW_ROWS}
        for suffix, pending_rows in states.items():
            pending = pending_rows and read_modes.add_pending_writes(runtime_id, pending_rows)
            try:
                results = read_modes.measure_modes(runtime_id, ports, path, cookie, args)
            finally:
                if pending:
                    read_modes.take_back(pending)
            for mode, result in results.items():
                for days, latency in result.latency.items():
                    figures[f"read_{mode}_{days}{suffix}"] = latency.median_ms / 1000
                figures[f"endpoint_{mode}{suffix}"] = result.throughput.per_second
    return figures


# A zone offset by half an hour: each of its local days takes two UTC days' running sums by
# quarter hour (issue 13; benchmarks/zones.py measures more zones and modes).
ZONE = "Asia/Kolkata"


def zoned_reads(runtime_id: uuid.UUID, repeats: Repeats) -> dict:
    """The rollup read of 30 and 90 days in ZONE, beside the UTC one of the same run."""
    return {
        f"read_rollup_{days}_zoned": read_modes.measure_read(
            runtime_id, days, "rollup", repeats.reads, tz=ZONE
        ).median_ms
        / 1000
        for days in read_modes.READ_DAYS
    }


def measure(args: argparse.Namespace) -> dict:
    """Build or reuse the history of `args.rows` rows and measure every figure on it."""
    database_url = read_modes.bench_database_url(args.db_name)
    read_modes.setup_django(database_url)
    from django.core.management import call_command
    from django.db import connection

    from usage_rollup import queries
    from usage_rollup.source import synthetic

    repeats = Repeats.for_history(args.rows, args.smoke)
    if args.fresh:
        call_command("migrate", verbosity=0)
        synthetic.reset_all()  # prepare_history finds no rows and writes the history anew
    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    shape = shape_for(args.rows)
    read_modes.prepare_history(shape, say, backfill=False)
    figures: dict = {"rows": args.rows, "days": shape.days}
    runtime_id = queries.busiest_runtime()
    record = StepRecord(args.db_name, args.rows, resume=args.resume and not args.fresh)
    with connection.cursor() as cursor:
        steps = [
            # The backfill first: on a history just written it is the history's only one (100M
            # rows are not rolled up twice), and every later figure meets a rollup just built.
            ("backfill", lambda: backfill_against_floor(cursor, repeats)),
            (
                "ticks",
                lambda: {
                    "tick_new_rows": tick_after_new_rows(cursor, repeats),
                    "tick_correction": tick_after_one_correction(cursor, runtime_id, repeats),
                    "tick_issue_delete": tick_after_issue_delete(cursor, repeats),
                },
            ),
            ("writes", lambda: insert_throughput(cursor, database_url, repeats)),
            ("bulk", lambda: bulk_changes(cursor, repeats)),
            ("reads", lambda: reads_and_endpoint(runtime_id, database_url, repeats)),
            ("zoned reads", lambda: zoned_reads(runtime_id, repeats)),
            # Last: at 100M it takes longest, and each step's figures are already printed.
            ("refresh", lambda: refresh_against_tick(cursor, repeats)),
        ]
        for name, step in steps:
            if name == "writes" and not repeats.insert_rates:
                continue
            measured = record.steps.get(name)
            if measured is None:
                say(f"  {args.rows:,} rows: {name}...")
                measured = step()
                record.add(name, measured)
                say(f"  {args.rows:,} rows: {name}: {json.dumps(measured)}")
            else:
                say(f"  {args.rows:,} rows: {name}: measured by an earlier run, kept")
            figures.update(measured)
    return figures


class StepRecord:
    """Each step's figures as it ends, in a file per database, so that a run that stops (a 100M
    run takes hours) can be resumed: --resume keeps the steps the file holds for a history of the
    same size, and runs the others. Every step takes back what it changes, so steps measured in
    different runs meet the same history."""

    def __init__(self, db_name: str, rows: int, resume: bool) -> None:
        self.path = read_modes.REPO / ".artifacts" / "benchmarks" / f"steps_{db_name}.json"
        self.rows = rows
        kept = json.loads(self.path.read_text()) if resume and self.path.exists() else {}
        self.steps: dict[str, dict] = kept.get("steps", {}) if kept.get("rows") == rows else {}
        self._write()

    def add(self, name: str, measured: dict) -> None:
        self.steps[name] = measured
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"rows": self.rows, "steps": self.steps}, indent=1))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, required=True, help="usage rows in the history")
    parser.add_argument("--db-name", required=True, help="the size's own database")
    parser.add_argument("--fresh", action="store_true", help="generate the history anew")
    parser.add_argument("--smoke", action="store_true", help="few repetitions, small operations")
    parser.add_argument(
        "--resume", action="store_true", help="keep the steps an unfinished run measured"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(measure(parse_args(argv)), default=str))


if __name__ == "__main__":
    main()
