"""The read modes side by side: how long a runtime's usage read takes in raw, rollup and realtime
mode, with nothing pending and with fresh writes not yet rolled up, and how many requests per
second the runtime endpoint serves in each mode from a real WSGI server (gunicorn) on loopback.

    python benchmarks/read_modes.py --rows 1000000          # about a minute to build, once
    python benchmarks/read_modes.py --rows 5000 --requests 50 --db-name usage_bench_smoke

The history lives in a database of its own (--db-name) on the project's server (DATABASE_URL,
else the embedded one), built with usage_rollup.source.synthetic and reused while it has --rows
rows.
The functions below measure in whatever database Django is set up with; run() sets that up,
which is why they import the project inside: Django must be set up on the benchmark's database
first, and run as a script, the checkout must be on the path first.
"""

import argparse
import concurrent.futures
import contextlib
import dataclasses
import datetime
import http.client
import importlib
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
MODES = ("raw", "rollup", "realtime")
READ_DAYS = (30, 90)
ENDPOINT_DAYS = 90
BENCH_USER = "usage-bench"


@dataclasses.dataclass(frozen=True)
class Latency:
    median_ms: float
    p95_ms: float
    rows: list[dict]


@dataclasses.dataclass(frozen=True)
class Throughput:
    requests: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


@dataclasses.dataclass(frozen=True)
class ModeResult:
    """One read mode in one state of the table."""

    latency: dict[int, Latency]  # by days read
    throughput: Throughput
    equals_raw: bool


@dataclasses.dataclass(frozen=True)
class PendingWrites:
    """Writes made after the last tick, and how to take them back."""

    task_ids: list[uuid.UUID]
    moved_task: uuid.UUID | None
    moved_from: uuid.UUID | None


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure_read(
    runtime_id: uuid.UUID,
    days: int,
    mode: str,
    repeat: int,
    using: str = "default",
    tz: str = "UTC",
) -> Latency:
    """Median and 95th percentile of `repeat` runtime usage reads over the last `days` days of
    the time zone `tz`."""
    from usage_rollup import queries

    since = queries.period_start(days, tz)
    queries.runtime_usage(runtime_id, since, tz=tz, source=mode, using=using)  # warm the cache
    samples, rows = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        rows = queries.runtime_usage(runtime_id, since, tz=tz, source=mode, using=using)
        samples.append((time.perf_counter() - started) * 1000)
    return Latency(statistics.median(samples), _percentile(samples, 0.95), rows)


def add_pending_writes(runtime_id: uuid.UUID, rows: int, using: str = "default") -> PendingWrites:
    """Fresh usage on new tasks of the runtime (two rows a task), and a task of another runtime
    from about ten days ago moved to it: all committed, none rolled up yet."""
    from django.db import connections, transaction

    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO agent_task_queue (agent_id, runtime_id, status)
            SELECT (SELECT id FROM agent ORDER BY id LIMIT 1), %s, 'done'
              FROM generate_series(1, (%s + 1) / 2)
            RETURNING id
            """,
            [runtime_id, rows],
        )
        task_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            """
            INSERT INTO task_usage (task_id, provider, model, input_tokens, output_tokens)
            SELECT t.id, 'anthropic', m.model, 1000, 100
              FROM unnest(%s::uuid[]) WITH ORDINALITY AS t(id, n)
             CROSS JOIN (VALUES ('claude-sonnet-4'), ('claude-opus-4')) AS m(model)
             LIMIT %s
            """,
            [task_ids, rows],
        )
        cursor.execute(
            """
            SELECT t.id, t.runtime_id FROM agent_task_queue t
             WHERE t.runtime_id <> %s
               AND t.created_at < now() - interval '10 days'
               AND EXISTS (SELECT FROM task_usage WHERE task_id = t.id)
             ORDER BY t.created_at DESC LIMIT 1
            """,
            [runtime_id],
        )
        moved = cursor.fetchone()
        if moved:
            cursor.execute(
                "UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s", [runtime_id, moved[0]]
            )
    return PendingWrites(task_ids, *(moved or (None, None)))


def take_back(pending: PendingWrites, using: str = "default") -> None:
    """Undo `add_pending_writes` and roll everything up, leaving the history as it was."""
    from django.db import connections, transaction

    from usage_rollup import rollup

    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("DELETE FROM agent_task_queue WHERE id = ANY(%s)", [pending.task_ids])
        if pending.moved_task:
            cursor.execute(
                "UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s",
                [pending.moved_from, pending.moved_task],
            )
    rollup.tick(datetime.timedelta(0), using)


def measure_endpoint(
    port: int, path: str, cookie: str, requests: int, concurrency: int
) -> Throughput:
    """Send `requests` GETs from `concurrency` threads; every answer must be a 200."""

    def get(_: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)
        try:
            conn.request("GET", path, headers={"Cookie": cookie})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        statuses = list(pool.map(get, range(requests)))
    seconds = time.perf_counter() - started
    failed = [status for status in statuses if status != 200]
    if failed:
        raise RuntimeError(f"{len(failed)} of {requests} requests failed, e.g. HTTP {failed[0]}")
    return Throughput(requests, seconds)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A raw read of 90 days at 100M rows takes ~30 s, gunicorn's default worker timeout, and with more
# clients than workers a request also waits for the one before it: workers and clients wait this
# long for an answer.
REQUEST_TIMEOUT_SECONDS = 600
SERVER_START_SECONDS = 60


@contextlib.contextmanager
def serve(mode: str, database_url: str, workers: int, cookie: str, probe: str) -> Iterator[int]:
    """A gunicorn serving the project in read mode `mode`, on loopback; yields its port once it
    has answered `probe` with a 200."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "USAGE_ROLLUP_READ_MODE": mode,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "project.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            str(REQUEST_TIMEOUT_SECONDS),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
    )
    try:
        _wait_until_listening(server, port, mode)
        measure_endpoint(port, probe, cookie, 1, 1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_listening(server: subprocess.Popen, port: int, mode: str) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if server.poll() is not None:
            raise RuntimeError(
                f"gunicorn for {mode} mode exited with status {server.returncode} before it "
                "listened (is it installed? pip install -e '.[bench]')"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"gunicorn for {mode} mode did not listen within {SERVER_START_SECONDS} s"
            )
        time.sleep(0.2)


def bench_database_url(name: str) -> str:
    """The URL of database `name` on the project's server, which is created if missing."""
    import psycopg
    from psycopg import sql

    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        from project import settings

        server_url = settings.embedded_database_url()
    try:
        conn = psycopg.connect(server_url, autocommit=True)
    except psycopg.OperationalError as error:
        raise SystemExit(
            f"the benchmark cannot reach its server: {error}\n"
            "DATABASE_URL names a PostgreSQL server the benchmark may create databases on; "
            "unset, the embedded one is used"
        ) from error
    with conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def setup_django(database_url: str) -> None:
    """Set Django up in this process on the database at `database_url`."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    if "project.settings" in sys.modules:  # imported to find the server: read the URL again
        importlib.reload(sys.modules["project.settings"])
    import django

    django.setup()


# Sessions writing a history's chunks side by side: one per core, at most four.
WRITERS = min(4, os.cpu_count() or 1)


def prepare_history(shape, say=print, backfill: bool = True) -> uuid.UUID | None:
    """A synthetic history of exactly `shape.rows` usage rows (a synthetic.HistoryShape), rolled
    up unless `backfill` is false and the rollup is not built yet; returns its busiest runtime
    (None when the rollup is left empty)."""
    from django.core.management import call_command
    from django.db import connection

    from usage_rollup import queries, rollup
    from usage_rollup.source import synthetic

    call_command("migrate", verbosity=0)
    if synthetic.usage_row_count() != shape.rows:
        synthetic.reset_all()
        say(f"Writing {shape.rows:,} usage rows over {shape.days} days...")
        started = time.perf_counter()

        def progress(written: int) -> None:
            say(
                f"  {written:,} of {shape.rows:,} usage rows ({written / shape.rows:.0%}), "
                f"{time.perf_counter() - started:.0f} s"
            )

        try:
            synthetic.generate_history(shape, progress=progress, writers=WRITERS)
        except BaseException:
            synthetic.reset_all()  # what the writers committed before the error
            raise
        say(f"  written in {time.perf_counter() - started:.1f} s")
        # As a live table's pages are, all-visible, and so that autovacuum's first pass over a
        # table just written (27 GB at 100M rows) does not run beside the figures.
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) task_usage, agent_task_queue")
        say(f"  vacuumed in {time.perf_counter() - started:.1f} s")
    if rollup.state().watermark_at is None:
        if not backfill:
            return None
        started = time.perf_counter()
        rollup.backfill()
        say(f"  backfilled in {time.perf_counter() - started:.1f} s")
    rollup.tick(datetime.timedelta(0))
    return queries.busiest_runtime()


def session_cookie() -> str:
    """A Cookie header signing in a superuser of the benchmark database."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.filter(username=BENCH_USER).first()
    if user is None:
        user = User.objects.create_superuser(BENCH_USER, email=None, password=None)
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def measure_modes(
    runtime_id: uuid.UUID, ports: dict[str, int], path: str, cookie: str, args: argparse.Namespace
) -> dict[str, ModeResult]:
    """Every mode's read latency over each period, and its endpoint's requests per second."""
    latency = {
        mode: {days: measure_read(runtime_id, days, mode, args.repeat) for days in READ_DAYS}
        for mode in MODES
    }
    results = {}
    for mode in MODES:
        measure_endpoint(ports[mode], path, cookie, args.concurrency * 2, args.concurrency)  # warm
        results[mode] = ModeResult(
            latency=latency[mode],
            throughput=measure_endpoint(ports[mode], path, cookie, args.requests, args.concurrency),
            equals_raw=all(latency[mode][d].rows == latency["raw"][d].rows for d in READ_DAYS),
        )
    return results


def table(results: dict[str, dict[str, ModeResult]], caption: str) -> str:
    """The results as one table: a line per state of the table and read mode."""
    head = (
        f"{'state':<24} {'mode':<9}"
        + "".join(f" {f'{d} d median':>12} {f'{d} d p95':>9}" for d in READ_DAYS)
        + f" {'÷ raw (90 d)':>12} {'req/s':>8} {'equals raw':>10}"
    )
    lines = [caption, head, "-" * len(head)]
    for state, by_mode in results.items():
        raw_median = by_mode["raw"].latency[READ_DAYS[-1]].median_ms
        for mode, result in by_mode.items():
            cells = "".join(
                f" {result.latency[d].median_ms:>12.2f} {result.latency[d].p95_ms:>9.2f}"
                for d in READ_DAYS
            )
            ratio = result.latency[READ_DAYS[-1]].median_ms / raw_median
            equal = "yes" if result.equals_raw else "no (stale)"
            lines.append(
                f"{state:<24} {mode:<9}{cells} {ratio:>12.3f} "
                f"{result.throughput.per_second:>8.1f} {equal:>10}"
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    """Build or reuse the history, measure every mode in both states, and return the table."""
    database_url = bench_database_url(args.db_name)
    setup_django(database_url)
    from django.db import connection

    from usage_rollup.source import synthetic

    runtime_id = prepare_history(synthetic.HistoryShape(rows=args.rows, days=args.days))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM task_usage tu JOIN agent_task_queue t ON t.id = tu.task_id "
            "WHERE t.runtime_id = %s",
            [runtime_id],
        )
        (runtime_rows,) = cursor.fetchone()
    cookie = session_cookie()
    path = f"/api/runtimes/{runtime_id}/usage?days={ENDPOINT_DAYS}"

    results = {}
    with contextlib.ExitStack() as servers:
        ports = {
            mode: servers.enter_context(serve(mode, database_url, args.workers, cookie, path))
            for mode in MODES
        }
        results["nothing pending"] = measure_modes(runtime_id, ports, path, cookie, args)
        pending = add_pending_writes(runtime_id, args.pending_rows)
        try:
            results[f"{args.pending_rows:,} rows + 1 reassign"] = measure_modes(
                runtime_id, ports, path, cookie, args
            )
        finally:
            take_back(pending)
    caption = (
        f"Runtime usage reads on {args.rows:,} usage rows over {args.days} days (busiest "
        f"runtime: {runtime_rows:,} rows); latency in ms, in process; req/s of GET "
        f"/api/runtimes/<id>/usage?days={ENDPOINT_DAYS} from gunicorn ({args.workers} workers) "
        f"on loopback, {args.concurrency} clients, {args.requests} requests per mode."
    )
    return table(results, caption)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="usage rows in the history")
    parser.add_argument("--days", type=int, default=365, help="days the history spans")
    parser.add_argument("--repeat", type=int, default=15, help="timed reads per mode and period")
    parser.add_argument("--requests", type=int, default=300, help="endpoint requests per mode")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--pending-rows", type=int, default=1000, help="fresh rows not rolled up")
    parser.add_argument("--db-name", default="usage_bench", help="the benchmark's own database")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    print(run(parse_args(argv)))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
