"""Concurrent writers, a zero-lag ticker and overlapping backfills, each on its own connection.

Writers run transactions of one to four operations; one in four stays open for up to 300 ms,
across ticks. When they stop, one more tick (not a full-history window) must leave the rollup
equal to the oracle, and after every tick no bucket that is not pending may differ.
`pytest tests/test_concurrency.py --soak-seconds 600` runs it for longer.
"""

import collections
import datetime
import random
import threading
import time

import psycopg
from django.db import connections

from tests import operations
from tests.committed import assert_exact, tick
from usage_rollup import rollup, verification

WRITERS = 3
ZONES = ("UTC", "Pacific/Kiritimati", "America/Los_Angeles")
# A transaction may lose a race with another writer (a deadlock between two reassignments, a row
# deleted under it): it rolls back, changes nothing, and the writer goes on.
LOST_RACES = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.ForeignKeyViolation,
    psycopg.errors.UniqueViolation,
)


def _writer(conn, seed: int, stop: threading.Event, counts: collections.Counter) -> None:
    choose = operations.RandomChooser(seed)
    pace = random.Random(seed)
    while not stop.is_set():
        done = 0
        try:
            for _ in range(choose.number(1, 4)):
                rare = choose.number(1, 200) == 1
                choose.pick((operations.delete_workspace,) if rare else operations.OPERATIONS)(
                    conn, choose
                )
                done += 1
            if pace.random() < 0.25:
                time.sleep(pace.uniform(0, 0.3))  # held open across ticks
            conn.commit()
            counts["transactions committed"] += 1
            counts["operations committed"] += done
        except LOST_RACES as lost:
            conn.rollback()
            counts[f"rolled back ({type(lost).__name__})"] += 1


def _ticker(conn, stop: threading.Event, counts: collections.Counter, wrong: list) -> None:
    """Tick, then check in one snapshot that every bucket the rollup is not still catching up
    with (queued, or written since the watermark) equals its raw rows: exact after every tick,
    not only at the end."""
    try:
        while not stop.is_set():
            counts["ticks"] += 1
            # 0 means nothing to do, or another tick or the backfill held the lock.
            if tick(conn):
                counts["ticks that changed rows"] += 1
            found = verification.differences(datetime.date.min, datetime.date.max)
            counts["buckets pending at a check"] += sum(diff.pending for diff in found)
            wrong.extend(diff.describe() for diff in found if not diff.pending)
    finally:
        connections.close_all()


def _backfiller(stop: threading.Event, counts: collections.Counter, every: float) -> None:
    try:
        while not stop.wait(every):
            rollup.backfill("week")
            counts["backfills"] += 1
    finally:
        connections.close_all()


def test_writers_a_zero_lag_ticker_and_backfills_leave_the_rollup_exact(session, soak_seconds):
    setup = session()
    operations.seed_world(setup, operations.RandomChooser(1))
    counts = collections.Counter()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_writer, args=(session(autocommit=False, timezone=ZONES[n]), n, stop, counts)
        )
        for n in range(WRITERS)
    ]
    wrong = []
    threads.append(threading.Thread(target=_ticker, args=(session(), stop, counts, wrong)))
    threads.append(threading.Thread(target=_backfiller, args=(stop, counts, soak_seconds / 3)))
    for thread in threads:
        thread.start()
    time.sleep(soak_seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    tick(setup)

    print(f"\nconcurrent run over {soak_seconds:.0f} s: {dict(counts)}")
    assert counts["operations committed"] > 50 and counts["ticks that changed rows"] > 0
    assert counts["backfills"] >= 1
    assert wrong == []
    assert_exact(setup)
