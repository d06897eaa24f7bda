"""Run a statement in the background and wait until PostgreSQL says it is blocked on a lock:
how the interleaving and fault tests put two sessions in a chosen order."""

import concurrent.futures
import time

import psycopg

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)


def in_background(conn: psycopg.Connection, sql: str, params=None) -> concurrent.futures.Future:
    """Start `sql` on `conn` in a thread; the future holds its first row (or its error)."""

    def run():
        cursor = conn.execute(sql, params)
        return cursor.fetchone() if cursor.description else None

    return _pool.submit(run)


def wait_until_blocked(
    observer: psycopg.Connection,
    pid: int,
    timeout: float = 10,
    unless_done: concurrent.futures.Future | None = None,
) -> None:
    """Return once backend `pid` waits on a heavyweight lock (a table, row or advisory lock),
    or, if `unless_done` is given, once that statement has finished without waiting."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if unless_done is not None and unless_done.done():
            return
        (waiting,) = observer.execute(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone() or (False,)
        if waiting:
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} never blocked on a lock")


def poll(conn: psycopg.Connection, sql: str, timeout: float = 10):
    """Repeat `sql` until it returns a row; that row's first value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(sql).fetchone()
        if row is not None:
            return row[0]
        time.sleep(0.02)
    raise AssertionError(f"no row from: {sql}")


def settle(future: concurrent.futures.Future, timeout: float = 30):
    """The background statement's result; its exception is raised here."""
    return future.result(timeout=timeout)
