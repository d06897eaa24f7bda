"""A small committed world for tests that use several real sessions (tests/conftest.py's
`session` fixture): what one session writes, the others see once it commits."""

import dataclasses
import uuid

import psycopg

from tests.oracle import assert_rollup_matches_oracle
from usage_rollup import triggers
from usage_rollup.models import TaskUsage

DAY = "2026-03-10 12:00+00"

# The rollup's advisory lock as pg_locks shows it (usage_rollup.rollup.ROLLUP_LOCK_KEY).
ROLLUP_LOCK = "locktype = 'advisory' AND classid = 1970434924 AND objid = 1"


@dataclasses.dataclass(frozen=True)
class World:
    """Workspaces a and b; runtimes r1, r2 in a and r3 in b; agents ga in a and gb in b; an issue
    in a; task t1 (ga on r1, for the issue) and t2 (gb on r3), each with usage on two days."""

    a: uuid.UUID
    b: uuid.UUID
    r1: uuid.UUID
    r2: uuid.UUID
    r3: uuid.UUID
    ga: uuid.UUID
    gb: uuid.UUID
    issue: uuid.UUID
    t1: uuid.UUID
    t2: uuid.UUID


def _insert(conn: psycopg.Connection, sql: str, params: list) -> uuid.UUID:
    return conn.execute(sql + " RETURNING id", params).fetchone()[0]


def build(conn: psycopg.Connection) -> World:
    """Write the world in autocommit `conn` and roll it up with a tick."""
    ids = {}
    for name in ("a", "b"):
        ids[name] = _insert(
            conn, "INSERT INTO workspace (name, slug) VALUES (%s, %s)", [name, str(uuid.uuid4())]
        )
    for name, ws in (("r1", "a"), ("r2", "a"), ("r3", "b")):
        ids[name] = _insert(
            conn, "INSERT INTO agent_runtime (workspace_id, name) VALUES (%s, %s)", [ids[ws], name]
        )
    for name, ws in (("ga", "a"), ("gb", "b")):
        ids[name] = _insert(
            conn, "INSERT INTO agent (workspace_id, name) VALUES (%s, %s)", [ids[ws], name]
        )
    ids["issue"] = _insert(
        conn, "INSERT INTO issue (workspace_id, title) VALUES (%s, 'i')", [ids["a"]]
    )
    ids["t1"] = _insert(
        conn,
        "INSERT INTO agent_task_queue (agent_id, runtime_id, issue_id) VALUES (%s, %s, %s)",
        [ids["ga"], ids["r1"], ids["issue"]],
    )
    ids["t2"] = _insert(
        conn,
        "INSERT INTO agent_task_queue (agent_id, runtime_id) VALUES (%s, %s)",
        [ids["gb"], ids["r3"]],
    )
    # Stamped back then, not now: a tick's one-second re-read below the watermark would otherwise
    # recompute the whole world for a while and mask a lost invalidation.
    keep_client_updated_at(conn)
    for task in ("t1", "t2"):
        for model, days in (("opus", 0), ("haiku", 1)):
            conn.execute(
                """
                INSERT INTO task_usage (task_id, model, input_tokens, created_at, updated_at)
                VALUES (%s, %s, 10, %s::timestamptz + %s * interval '1 day',
                        %s::timestamptz + %s * interval '1 day')
                """,
                [ids[task], model, DAY, days, DAY, days],
            )
    conn.execute("SELECT set_config('pgtrigger.ignore', '', false)")
    tick(conn)
    return World(**ids)


def tick(conn: psycopg.Connection, lag: str = "0 seconds"):
    """One tick of the entry point on `conn`; its result."""
    return conn.execute("SELECT rollup_task_usage_daily(%s::interval)", [lag]).fetchone()[0]


def assert_exact(conn: psycopg.Connection) -> None:
    """The rollup equals the oracle, as `conn` sees them."""
    with conn.cursor() as cursor:
        assert_rollup_matches_oracle(cursor)


def queue_depth(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM task_usage_daily_dirty").fetchone()[0]


def watermark(conn: psycopg.Connection):
    return conn.execute("SELECT watermark_at FROM task_usage_rollup_state WHERE id = 1").fetchone()[
        0
    ]


def state_row(conn: psycopg.Connection) -> dict:
    """The rollup's state row, column name to value."""
    cur = conn.execute("SELECT * FROM task_usage_rollup_state WHERE id = 1")
    return dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))


def rollup_locks_held(conn: psycopg.Connection) -> int:
    return conn.execute(
        f"SELECT count(*) FROM pg_locks WHERE {ROLLUP_LOCK} AND granted"
    ).fetchone()[0]


# The insert trigger that stamps a client's updated_at with the database clock, as PostgreSQL
# names it: tests that write rows "back then" switch it off with pgtrigger's own switch,
# pgtrigger.ignore.
STAMP_TRIGGER = triggers.usage_inserted.get_pgid(TaskUsage)


def keep_client_updated_at(conn: psycopg.Connection) -> None:
    """Let `conn` insert usage with an updated_at of its own, as a row written back then: the
    insert trigger that stamps the database clock is ignored in this session."""
    conn.execute("SELECT set_config('pgtrigger.ignore', %s, false)", ["{" + STAMP_TRIGGER + "}"])


def index_reads(conn) -> dict[str, int]:
    """Cumulative reads of the source tables: index entries read per index, and sequential
    scans and the rows they read per table."""
    conn.execute("SET stats_fetch_consistency = none")
    reads = dict(conn.execute("SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes"))
    reads.update(
        conn.execute("SELECT relname || ' sequential scans', seq_scan FROM pg_stat_user_tables")
    )
    reads.update(
        conn.execute(
            "SELECT relname || ' rows read by sequential scans', seq_tup_read"
            " FROM pg_stat_user_tables"
        )
    )
    return reads


def flush_statistics(conn) -> None:
    # Flushed when the session next goes idle, before it answers this statement.
    conn.execute("SELECT pg_stat_force_next_flush()")


def _tenant(conn: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    """A workspace with a runtime and an agent, committed: (runtime id, agent id)."""
    ws = _insert(
        conn,
        "INSERT INTO workspace (name, slug) VALUES ('w', %s)",
        [str(uuid.uuid4())],
    )
    runtime = _insert(conn, "INSERT INTO agent_runtime (workspace_id, name) VALUES (%s, 'r')", [ws])
    agent = _insert(conn, "INSERT INTO agent (workspace_id, name) VALUES (%s, 'a')", [ws])
    return runtime, agent


def small_tenant_beside_a_busy_day(
    conn: psycopg.Connection, tenant_tasks: int = 20, busy_tasks: int = 4000
) -> uuid.UUID:
    """A small tenant (one runtime, `tenant_tasks` tasks, a row each) and another tenant's busy
    day (`busy_tasks` tasks, a row each) on the same day and model, stamped back then and rolled
    up; returns one of the small tenant's tasks."""
    small, busy = _tenant(conn), _tenant(conn)
    keep_client_updated_at(conn)
    (task,) = conn.execute(
        """
        WITH tasks AS (
            INSERT INTO agent_task_queue (runtime_id, agent_id)
            SELECT %s::uuid, %s::uuid FROM generate_series(1, %s)
            UNION ALL
            SELECT %s::uuid, %s::uuid FROM generate_series(1, %s)
            RETURNING id, runtime_id
        ),
        usage AS (
            INSERT INTO task_usage (task_id, model, input_tokens, created_at, updated_at)
            SELECT id, 'opus', 1, '2025-01-01 12:00+00', '2025-01-01 12:00+00' FROM tasks
        )
        SELECT id FROM tasks WHERE runtime_id = %s LIMIT 1
        """,
        [*small, tenant_tasks, *busy, busy_tasks, small[0]],
    ).fetchone()
    conn.execute("SELECT set_config('pgtrigger.ignore', '', false)")
    conn.execute("ANALYZE task_usage, agent_task_queue, agent")
    tick(conn)
    return task
