"""Every read mode returns the raw rows: realtime at every moment, the rollup after every tick.

Both tests commit for real (a tick only covers committed rows, stamped before it began): a
hypothesis state machine that writes a random history one change at a time, and writers and a
ticker racing a reader that compares realtime and raw inside one REPEATABLE READ snapshot.
"""

import concurrent.futures
import datetime
import itertools
import random
import threading
import time
import uuid

import psycopg
import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.committed import flush_statistics, index_reads, small_tenant_beside_a_busy_day
from tests.oracle import assert_rollup_matches_oracle
from tests.read_oracle import ZONES, expected_usage
from usage_rollup import queries

WORKSPACES, RUNTIMES, AGENTS, ISSUES = 2, 3, 3, 2
MODELS = ("opus", "haiku", "sonnet")
PROVIDERS = ("anthropic", "openai")
HISTORY_DAYS = 6

EMPTY_EVERYTHING = """
    TRUNCATE workspace, agent_runtime, agent, issue, agent_task_queue, task_usage,
             task_usage_daily, task_usage_daily_dirty, task_usage_daily_quarters;
    DELETE FROM task_usage_rollup_state;
"""

pick = st.integers(min_value=0, max_value=30)
tokens = st.integers(min_value=0, max_value=1000)
days_back = st.integers(min_value=0, max_value=HISTORY_DAYS)
# Rows up to half a day off now, so that they fall on either side of local midnights.
minutes_off = st.integers(min_value=-720, max_value=720)
task_drafts = st.lists(
    st.tuples(
        pick,  # agent
        st.none() | pick,  # runtime
        pick,  # issue
        st.lists(
            st.tuples(
                st.sampled_from(PROVIDERS), st.sampled_from(MODELS), days_back, tokens, minutes_off
            ),
            min_size=1,
            max_size=3,
            unique_by=lambda usage: usage[:2],
        ),
    ),
    min_size=2,
    max_size=8,
)


def _one(items: list, index: int):
    return items[index % len(items)] if items else None


def _ids(sql: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


def _execute(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


class ReadParity(RuleBasedStateMachine):
    """Random changes to committed usage; after each, every owner's reads are compared."""

    def __init__(self) -> None:
        super().__init__()
        # Ids in order of creation, so that picking "the n-th task" replays the same way.
        self._serial = itertools.count(1)
        with connection.cursor() as cursor:
            cursor.execute(EMPTY_EVERYTHING)  # the rollup starts as never run: no state row

    @initialize(drafts=task_drafts, since_days=days_back, tz=st.sampled_from(ZONES))
    def write_a_history(self, drafts, since_days, tz) -> None:
        # The days of one zone per example (UTC among them), counted in that zone.
        self.tz = tz
        self.since = queries.today(tz) - datetime.timedelta(days=since_days)
        with connection.cursor() as cursor:
            self.workspaces = []
            for n in range(WORKSPACES):
                cursor.execute(
                    "INSERT INTO workspace (id, name, slug) VALUES (%s, %s, %s) RETURNING id",
                    [self._new_id(), f"w{n}", f"w{n}"],
                )
                self.workspaces.append(cursor.fetchone()[0])
            self.runtimes = self._insert_owned("agent_runtime", "name", RUNTIMES, cursor)
            agents = self._insert_owned("agent", "name", AGENTS, cursor)
            issues = self._insert_owned("issue", "title", ISSUES, cursor)
            for agent, runtime, issue, usage in drafts:
                cursor.execute(
                    """
                    INSERT INTO agent_task_queue (id, agent_id, runtime_id, issue_id)
                    VALUES (%s, %s, %s, %s) RETURNING id
                    """,
                    [
                        self._new_id(),
                        _one(agents, agent),
                        None if runtime is None else _one(self.runtimes, runtime),
                        _one(issues, issue),
                    ],
                )
                job = cursor.fetchone()[0]
                for provider, model, days, amount, minutes in usage:
                    # Written back then: stamped before any tick, as the first tick expects.
                    cursor.execute(
                        """
                        INSERT INTO task_usage (id, task_id, provider, model, input_tokens,
                                                output_tokens, created_at, updated_at)
                        VALUES (%(id)s, %(job)s, %(provider)s, %(model)s, %(amount)s,
                                %(amount)s %% 7,
                                now() - %(days)s * interval '1 day'
                                      + %(minutes)s * interval '1 minute',
                                now() - %(days)s * interval '1 day')
                        """,
                        {
                            "id": self._new_id(),
                            "job": job,
                            "provider": provider,
                            "model": model,
                            "amount": amount,
                            "days": days,
                            "minutes": minutes,
                        },
                    )

    def _insert_owned(self, table: str, column: str, count: int, cursor) -> list:
        ids = [self._new_id() for _ in range(count)]
        for n, id_ in enumerate(ids):
            cursor.execute(
                f"INSERT INTO {table} (id, workspace_id, {column}) VALUES (%s, %s, %s)",
                [id_, self.workspaces[n % len(self.workspaces)], f"{table} {n}"],
            )
        return ids

    def _new_id(self) -> uuid.UUID:
        return uuid.UUID(int=next(self._serial))

    def _reads_agree(self, modes: tuple[str, ...]) -> None:
        with connection.cursor() as cursor:
            for scope, owners in (("runtime", self.runtimes), ("workspace", self.workspaces)):
                read = queries.runtime_usage if scope == "runtime" else queries.workspace_usage
                for owner in owners:  # deleted ones too: their rows must be gone from each read
                    expected = expected_usage(cursor, scope, owner, self.since, self.tz)
                    for mode in modes:
                        rows = read(owner, self.since, tz=self.tz, source=mode)
                        assert rows == expected, f"{mode} read of {scope} {owner} differs"

    @invariant()
    def realtime_and_raw_reads_equal_the_oracle(self) -> None:
        if hasattr(self, "since"):
            self._reads_agree(("raw", "realtime"))

    @rule(
        task=pick,
        provider=st.sampled_from(PROVIDERS),
        model=st.sampled_from(MODELS),
        days=days_back,
        amount=tokens,
        minutes=minutes_off,
    )
    def report_usage(self, task, provider, model, days, amount, minutes) -> None:
        """New usage, maybe late (of a past day), or a correction of the same key."""
        job = _one(_ids("SELECT id FROM agent_task_queue ORDER BY id"), task)
        if job is not None:
            _execute(
                """
                INSERT INTO task_usage (id, task_id, provider, model, input_tokens, created_at)
                VALUES (%s, %s, %s, %s, %s,
                        now() - %s * interval '1 day' + %s * interval '1 minute')
                ON CONFLICT (task_id, provider, model)
                DO UPDATE SET input_tokens = task_usage.input_tokens + excluded.input_tokens
                """,
                [self._new_id(), job, provider, model, amount, days, minutes],
            )

    @rule(usage=pick, amount=tokens)
    def correct_usage(self, usage, amount) -> None:
        row = _one(_ids("SELECT id FROM task_usage ORDER BY id"), usage)
        _execute("UPDATE task_usage SET cache_read_tokens = %s WHERE id = %s", [amount, row])

    @rule(usage=pick, days=st.integers(min_value=-2, max_value=2))
    def move_usage_to_another_day(self, usage, days) -> None:
        row = _one(_ids("SELECT id FROM task_usage ORDER BY id"), usage)
        _execute(
            "UPDATE task_usage SET created_at = created_at + %s * interval '1 day' WHERE id = %s",
            [days, row],
        )

    @rule(usage=pick)
    def delete_usage(self, usage) -> None:
        row = _one(_ids("SELECT id FROM task_usage ORDER BY id"), usage)
        _execute("DELETE FROM task_usage WHERE id = %s", [row])

    @rule(task=pick, runtime=st.none() | pick)
    def reassign_task(self, task, runtime) -> None:
        job = _one(_ids("SELECT id FROM agent_task_queue ORDER BY id"), task)
        target = (
            None
            if runtime is None
            else _one(_ids("SELECT id FROM agent_runtime ORDER BY id"), runtime)
        )
        _execute("UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s", [target, job])

    @rule(task=pick, agent=pick)
    def hand_task_to_another_agent(self, task, agent) -> None:
        job = _one(_ids("SELECT id FROM agent_task_queue ORDER BY id"), task)
        target = _one(_ids("SELECT id FROM agent ORDER BY id"), agent)
        if target is not None:
            _execute("UPDATE agent_task_queue SET agent_id = %s WHERE id = %s", [target, job])

    @rule(agent=pick, workspace=pick)
    def move_agent_to_another_workspace(self, agent, workspace) -> None:
        target = _one(_ids("SELECT id FROM agent ORDER BY id"), agent)
        _execute(
            "UPDATE agent SET workspace_id = %s WHERE id = %s",
            [_one(self.workspaces, workspace), target],
        )

    @rule(agent=pick, runtime=pick)
    def start_a_task(self, agent, runtime) -> None:
        owner = _one(_ids("SELECT id FROM agent ORDER BY id"), agent)
        if owner is not None:
            _execute(
                "INSERT INTO agent_task_queue (id, agent_id, runtime_id) VALUES (%s, %s, %s)",
                [
                    self._new_id(),
                    owner,
                    _one(_ids("SELECT id FROM agent_runtime ORDER BY id"), runtime),
                ],
            )

    @rule(table=st.sampled_from(["issue", "agent", "agent_runtime"]), index=pick)
    def delete_a_parent(self, table, index) -> None:
        # A fixed table name from the sampled list; the id is a parameter.
        target = _one(_ids(f"SELECT id FROM {table} ORDER BY id"), index)
        _execute(f"DELETE FROM {table} WHERE id = %s", [target])

    @rule()
    def tick(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")
            assert cursor.fetchone()[0] is not None
            assert_rollup_matches_oracle(cursor)
        self._reads_agree(("rollup",))

    @rule()
    def window_over_everything(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rollup_task_usage_daily_window('-infinity', 'infinity')")
            assert_rollup_matches_oracle(cursor)
        self._reads_agree(("rollup",))

    @precondition(lambda self: hasattr(self, "since"))
    @rule()
    def lose_the_state_row(self) -> None:
        """As a flush of the tables would: the rollup then reads as never run."""
        _execute("DELETE FROM task_usage_rollup_state", [])


@pytest.mark.django_db(transaction=True)
def test_every_read_mode_equals_the_raw_rows_at_every_step_of_a_random_history():
    run_state_machine_as_test(
        ReadParity,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# The concurrent test: writers and a ticker on their own connections, and a reader.

READER_SNAPSHOTS = 60


def _write_randomly(conn: psycopg.Connection, stop: threading.Event, seed: int) -> int:
    """Small transactions of random changes, some held open across ticks, until told to stop;
    returns how many committed."""
    chance, committed = random.Random(seed), 0
    while not stop.is_set():
        try:
            with conn.transaction():
                for _ in range(chance.randint(1, 3)):
                    _random_change(conn, chance)
                if chance.random() < 0.3:
                    time.sleep(chance.random() * 0.02)  # open while ticks run
            committed += 1
        except psycopg.errors.DeadlockDetected:
            pass  # its changes rolled back: both reads agree on that too
    return committed


def _random_change(conn: psycopg.Connection, chance: random.Random) -> None:
    task = conn.execute("SELECT id FROM agent_task_queue ORDER BY random() LIMIT 1").fetchone()[0]
    kind = chance.choice(["report", "report", "correct", "delete", "reassign", "move"])
    if kind == "report":
        conn.execute(
            """
            INSERT INTO task_usage (task_id, provider, model, input_tokens, created_at)
            VALUES (%s, 'anthropic', %s, %s, now() - %s * interval '1 day')
            ON CONFLICT (task_id, provider, model)
            DO UPDATE SET input_tokens = task_usage.input_tokens + excluded.input_tokens
            """,
            [task, chance.choice(MODELS), chance.randint(1, 100), chance.randint(0, 3)],
        )
    elif kind == "correct":
        conn.execute(
            "UPDATE task_usage SET output_tokens = output_tokens + 1 WHERE task_id = %s", [task]
        )
    elif kind == "delete":
        conn.execute(
            "DELETE FROM task_usage WHERE id = (SELECT id FROM task_usage WHERE task_id = %s "
            "LIMIT 1)",
            [task],
        )
    elif kind == "reassign":
        conn.execute(
            """
            UPDATE agent_task_queue
               SET runtime_id = (SELECT id FROM agent_runtime ORDER BY random() LIMIT 1)
             WHERE id = %s
            """,
            [task],
        )
    else:
        conn.execute(
            """
            UPDATE agent SET workspace_id = (SELECT id FROM workspace ORDER BY random() LIMIT 1)
             WHERE id = (SELECT agent_id FROM agent_task_queue WHERE id = %s)
            """,
            [task],
        )


def _tick_repeatedly(conn: psycopg.Connection, stop: threading.Event) -> int:
    """Ticks without a lag until told to stop; returns how many changed the rollup."""
    changed = 0
    while not stop.is_set():
        changed += bool(conn.execute("SELECT rollup_task_usage_daily('0 seconds')").fetchone()[0])
        time.sleep(0.005)
    return changed


def _build_world(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        INSERT INTO workspace (name, slug) SELECT 'w' || n, 'w' || n FROM generate_series(1, 2) n;
        INSERT INTO agent_runtime (workspace_id, name)
        SELECT id, 'runtime ' || n FROM workspace, generate_series(1, 2) n;
        INSERT INTO agent (workspace_id, name)
        SELECT id, 'agent ' || n FROM workspace, generate_series(1, 2) n;
        INSERT INTO agent_task_queue (agent_id, runtime_id)
        SELECT a.id, r.id FROM agent a, agent_runtime r, generate_series(1, 3);
        INSERT INTO task_usage (task_id, model, input_tokens, created_at, updated_at)
        SELECT id, 'opus', 10, now() - interval '2 days', now() - interval '2 days'
          FROM agent_task_queue;
        """
    )
    conn.execute("SELECT rollup_task_usage_daily('0 seconds')")


@pytest.mark.django_db(transaction=True)
def test_realtime_equals_raw_in_every_snapshot_while_writers_and_ticks_commit(session):
    _build_world(session())
    owners = [("runtime", id_) for id_ in _ids("SELECT id FROM agent_runtime")]
    owners += [("workspace", id_) for id_ in _ids("SELECT id FROM workspace")]
    stop = threading.Event()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=3)
    writers = [pool.submit(_write_randomly, session(), stop, seed) for seed in (1, 2)]
    ticker = pool.submit(_tick_repeatedly, session(), stop)

    differences, stale_snapshots = [], 0
    try:
        for snapshot in range(READER_SNAPSHOTS):
            # Each snapshot reads the days of another zone (UTC's, every seventh).
            tz = ZONES[snapshot % len(ZONES)]
            since = queries.today(tz) - datetime.timedelta(days=3)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                for scope, owner in owners:
                    read = queries.runtime_usage if scope == "runtime" else queries.workspace_usage
                    raw = read(owner, since, tz=tz, source="raw")
                    if read(owner, since, tz=tz, source="realtime") != raw:
                        differences.append((tz, scope, owner))
                    stale_snapshots += read(owner, since, tz=tz, source="rollup") != raw
            time.sleep(0.01)
    finally:
        stop.set()
        pool.shutdown()

    assert differences == []
    # The race was real: writers committed, ticks rolled up, and some snapshots caught the
    # rollup behind (a writer thread's error would be raised here by result()).
    assert all(writer.result() > 0 for writer in writers)
    assert ticker.result() > 0
    assert stale_snapshots > 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")
        assert_rollup_matches_oracle(cursor)


def test_a_small_tenants_realtime_read_reads_its_own_rows_not_the_busy_day(session):
    writer, observer = session(), session()
    small_task = small_tenant_beside_a_busy_day(writer)
    (runtime,) = writer.execute(
        "SELECT runtime_id FROM agent_task_queue WHERE id = %s", [small_task]
    ).fetchone()
    # One row of the small tenant corrected and not rolled up yet: its slice is stale.
    writer.execute("UPDATE task_usage SET input_tokens = 5 WHERE task_id = %s", [small_task])
    since = datetime.date(2025, 1, 1)
    flush_statistics(writer)
    before = index_reads(observer)

    realtime = queries.runtime_usage(runtime, since, source="realtime")

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    read = {name: count - before[name] for name, count in index_reads(observer).items()}
    assert realtime == queries.runtime_usage(runtime, since, source="raw")
    assert [row["input_tokens"] for row in realtime] == [19 + 5]
    # Choosing the scope's own path: its 20 tasks, the stale slice counted only up to 21 of its
    # 4,020 rows; then the 20 tasks' rows, by task: not the other tenant's 4,000.
    assert read["task_usage_day_model_idx"] <= 21 + 5  # and a few dead index entries
    # Its 20 tasks' entries and a few dead ones (PostgreSQL 15 has read up to 33): never 4,000.
    assert read["task_usage_task_provider_model_key"] <= 2 * 20
    # A count that stops early may scan for its first rows where the planner expects them at
    # once (here the busy slice is nearly the whole table): it reads a few rows, never the day.
    assert read["task_usage rows read by sequential scans"] <= 50
