"""Every operation that can change usage, written once for the hypothesis state machine and the
concurrent writers. Each takes a psycopg connection and a Chooser (hypothesis draws, or a seeded
random), picks existing rows itself, and does nothing when what it needs does not exist."""

import contextlib
import random
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

import psycopg

PROVIDERS = ("", "anthropic", "openai")
MODELS = ("opus", "haiku", "gpt-5")
# UTC day edges, as instants and as literals read in the session's own time zone.
STAMPS = (
    "2026-03-10 23:59:59.999999+00",
    "2026-03-11 00:00:00+00",
    "2026-03-11 00:00:00.000001+00",
    "2026-03-10 23:30:00",
    "2026-03-11 00:30:00",
    "2026-01-01 00:00:00+14",
    "2025-12-31 23:59:59-10",
)


class Chooser(Protocol):
    def pick(self, options: Sequence):
        """One of `options`, or None when there are none."""

    def number(self, low: int, high: int) -> int: ...

    def new_id(self) -> uuid.UUID: ...


class RandomChooser:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def pick(self, options: Sequence):
        return self.random.choice(options) if options else None

    def number(self, low: int, high: int) -> int:
        return self.random.randint(low, high)

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=self.random.getrandbits(128), version=4)


def _ids(conn: psycopg.Connection, table: str) -> list:
    return [row[0] for row in conn.execute(f"SELECT id FROM {table} ORDER BY id")]


def _one(conn: psycopg.Connection, choose: Chooser, table: str):
    return choose.pick(_ids(conn, table))


def _stamp(choose: Chooser) -> str | None:
    """created_at for a usage row: now() (None), hours in the past, or a UTC day edge."""
    kind = choose.pick(("now", "past", "edge"))
    if kind == "now":
        return None
    if kind == "past":
        return f"{choose.number(0, 2000)} hours ago"
    return choose.pick(STAMPS)


def _stamp_sql(stamp: str | None) -> str:
    if stamp is None:
        return "now()"
    if stamp.endswith("ago"):
        return f"now() - interval '{stamp.removesuffix(' ago')}'"
    return f"'{stamp}'::timestamptz"


def add_workspace(conn, choose):
    # Ids come from the chooser, never the database: the rows are picked in id order, and the
    # state machine must pick the same rows when hypothesis replays the same draws.
    workspace = choose.new_id()
    conn.execute(
        "INSERT INTO workspace (id, name, slug) VALUES (%s, 'w', %s)", [workspace, str(workspace)]
    )


def add_runtime(conn, choose):
    if (workspace := _one(conn, choose, "workspace")) is not None:
        conn.execute(
            "INSERT INTO agent_runtime (id, workspace_id, name) VALUES (%s, %s, 'r')",
            [choose.new_id(), workspace],
        )


def add_agent(conn, choose):
    if (workspace := _one(conn, choose, "workspace")) is not None:
        conn.execute(
            "INSERT INTO agent (id, workspace_id, name) VALUES (%s, %s, 'a')",
            [choose.new_id(), workspace],
        )


def add_issue(conn, choose):
    if (workspace := _one(conn, choose, "workspace")) is not None:
        conn.execute(
            "INSERT INTO issue (id, workspace_id, title) VALUES (%s, %s, 'i')",
            [choose.new_id(), workspace],
        )


def add_task(conn, choose):
    agent = _one(conn, choose, "agent")
    if agent is None:
        return
    runtime = choose.pick([None, *_ids(conn, "agent_runtime")])
    issue = choose.pick([None, *_ids(conn, "issue")])
    conn.execute(
        "INSERT INTO agent_task_queue (id, agent_id, runtime_id, issue_id) VALUES (%s, %s, %s, %s)",
        [choose.new_id(), agent, runtime, issue],
    )


def write_usage(conn, choose):
    """Insert a usage row, or correct the existing one of that (task, provider, model)."""
    task = _one(conn, choose, "agent_task_queue")
    if task is None:
        return
    conn.execute(
        f"""
        INSERT INTO task_usage (id, task_id, provider, model, input_tokens, output_tokens,
                                cache_read_tokens, cache_write_tokens, created_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, {_stamp_sql(_stamp(choose))})
        ON CONFLICT (task_id, provider, model) DO UPDATE
           SET input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
               cache_read_tokens = excluded.cache_read_tokens,
               cache_write_tokens = excluded.cache_write_tokens
        """,
        [
            choose.new_id(),
            task,
            choose.pick(PROVIDERS),
            choose.pick(MODELS),
            *(choose.number(0, 999) for _ in range(4)),
        ],
    )


def correct_usage(conn, choose):
    if (row := _one(conn, choose, "task_usage")) is not None:
        conn.execute(
            "UPDATE task_usage SET output_tokens = output_tokens + %s WHERE id = %s",
            [choose.number(1, 50), row],
        )


def delete_usage(conn, choose):
    if (row := _one(conn, choose, "task_usage")) is not None:
        conn.execute("DELETE FROM task_usage WHERE id = %s", [row])


def change_usage_key(conn, choose):
    """Move a usage row to another day, provider, model or task (its old bucket empties)."""
    row = _one(conn, choose, "task_usage")
    if row is None:
        return
    column = choose.pick(("created_at", "provider", "model", "task_id"))
    if column == "created_at":
        value_sql, params = _stamp_sql(_stamp(choose)), []
    elif column == "task_id":
        value_sql, params = "%s", [_one(conn, choose, "agent_task_queue")]
    else:
        value_sql, params = "%s", [choose.pick(PROVIDERS if column == "provider" else MODELS)]
    # A move onto an existing (task, provider, model) breaks the unique key: that one rolls back.
    with contextlib.suppress(psycopg.errors.UniqueViolation), conn.transaction():
        conn.execute(f"UPDATE task_usage SET {column} = {value_sql} WHERE id = %s", [*params, row])


def reassign_runtime(conn, choose):
    if (task := _one(conn, choose, "agent_task_queue")) is not None:
        runtime = choose.pick([None, *_ids(conn, "agent_runtime")])
        conn.execute("UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s", [runtime, task])


def reassign_agent(conn, choose):
    task, agent = _one(conn, choose, "agent_task_queue"), _one(conn, choose, "agent")
    if task is not None and agent is not None:
        conn.execute("UPDATE agent_task_queue SET agent_id = %s WHERE id = %s", [agent, task])


def move_agent(conn, choose):
    agent, workspace = _one(conn, choose, "agent"), _one(conn, choose, "workspace")
    if agent is not None and workspace is not None:
        conn.execute("UPDATE agent SET workspace_id = %s WHERE id = %s", [workspace, agent])


def _deleting(table: str) -> Callable:
    def delete(conn, choose):
        if (row := _one(conn, choose, table)) is not None:
            conn.execute(f"DELETE FROM {table} WHERE id = %s", [row])

    delete.__name__ = f"delete_{table}"
    return delete


delete_task = _deleting("agent_task_queue")
delete_issue = _deleting("issue")
delete_agent = _deleting("agent")
delete_runtime = _deleting("agent_runtime")
delete_workspace = _deleting("workspace")


def truncate_usage(conn, choose):
    conn.execute("TRUNCATE task_usage")


def seed_world(conn, choose: Chooser) -> None:
    """Two workspaces with runtimes, agents, issues, tasks on runtimes, and some usage."""
    for _ in range(2):
        add_workspace(conn, choose)
    for operation, times in ((add_runtime, 3), (add_agent, 3), (add_issue, 2)):
        for _ in range(times):
            operation(conn, choose)
    for _ in range(6):
        add_task(conn, choose)
    conn.execute(
        "UPDATE agent_task_queue SET runtime_id ="
        " (SELECT id FROM agent_runtime ORDER BY id LIMIT 1) WHERE runtime_id IS NULL"
    )
    for _ in range(12):
        write_usage(conn, choose)


# Weighted towards what happens most: usage written and corrected; deletes of whole workspaces are
# rare enough that the world does not keep emptying.
OPERATIONS = (
    *[write_usage] * 6,
    *[correct_usage] * 2,
    delete_usage,
    change_usage_key,
    reassign_runtime,
    reassign_agent,
    move_agent,
    *[add_task] * 3,
    add_agent,
    add_runtime,
    add_issue,
    add_workspace,
    delete_task,
    delete_issue,
    delete_agent,
    delete_runtime,
)
RARE_OPERATIONS = (delete_workspace, truncate_usage)
