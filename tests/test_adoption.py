"""Adopt the rollup onto a platform database the app did not create (issue 11).

Each test builds a database of its own on the test server, owned by a role that is not a
superuser (the platform's owner, as in production: it holds pg_read_all_stats for the tick),
and installs the rollup through a host settings module of its own with `manage.py migrate`:
- a platform whose tables come from plain SQL (tests/hosts/platform.sql, shaped like multica's),
  populated before the rollup arrives, then every invalidation path of SPEC section 3 in SQL;
- a host whose own Django app defines models on these tables with Django's default foreign keys
  (deferred, no ON DELETE action: its collector deletes the child rows), every path through its
  ORM (tests/hosts/django_paths.py);
- a platform the rollup cannot run on: one error names every problem and nothing is changed.
After every change a tick runs and the rollup must equal the oracle.
"""

import datetime
import json
import os
import subprocess
import sys
import uuid

from tests.hosts.platforms import PLATFORM_SQL, PLATFORM_TABLES, Platform
from tests.oracle import oracle_buckets, rollup_differences
from tests.processes import ROOT

SQL_HOST = "tests.hosts.sql_settings"
DJANGO_HOST = "tests.hosts.django_settings"
DAY = datetime.datetime(2026, 3, 10, 12, tzinfo=datetime.UTC)

# What the rollup adds to the platform's own tables, and nothing else.
ADDED_COLUMNS = {("task_usage", "updated_at")}
ADDED_CONSTRAINTS = {("task_usage", "task_usage_created_at_sane")}
ADDED_INDEXES = {
    ("task_usage", "task_usage_updated_at_idx"),
    ("task_usage", "task_usage_day_model_idx"),
}


def _succeeded(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def _build_multica_world(p: Platform) -> dict:
    """Two workspaces, runtimes (one no agent runs on), agents, issues numbered per workspace,
    tasks (one the child of another), and usage over three days, as the platform writes them."""
    w = {
        "a": p.insert("workspace", name="a", slug="a"),
        "b": p.insert("workspace", name="b", slug="b"),
    }
    for name, ws in (("r1", "a"), ("r2", "a"), ("r3", "b"), ("spare", "a")):
        w[name] = p.insert("agent_runtime", workspace_id=w[ws], name=name, provider="anthropic")
    for name, ws, runtime, mode in (
        ("ga", "a", "r1", "local"),
        ("gb", "b", "r3", "cloud"),
        ("ga2", "a", "r1", "local"),
    ):
        w[name] = p.insert(
            "agent", workspace_id=w[ws], runtime_id=w[runtime], name=name, runtime_mode=mode
        )
    for name, ws, number in (("i1", "a", 1), ("i2", "a", 2), ("i3", "b", 1)):
        w[name] = p.insert(
            "issue",
            workspace_id=w[ws],
            number=number,
            title=name,
            creator_type="member",
            creator_id=uuid.uuid4(),
        )
    for name, agent, runtime, issue, parent in (
        ("t1", "ga", "r1", "i1", None),
        ("t2", "ga", "r2", "i2", "t1"),
        ("t3", "gb", "r3", "i3", None),
        ("t4", "ga2", "spare", None, None),
        ("t5", "ga", "r1", "i1", None),
        ("t6", "ga", "r1", "i1", None),  # left for the truncate
        ("t7", "ga2", "r1", None, None),  # left for the workspace delete (its agent moves to b)
    ):
        w[name] = p.insert(
            "agent_task_queue",
            agent_id=w[agent],
            runtime_id=w[runtime],
            issue_id=w[issue] if issue else None,
            parent_task_id=w[parent] if parent else None,
            status="completed",
        )
        for days, model in ((0, "opus"), (1, "haiku"), (2, "sonnet")):
            p.insert(
                "task_usage",
                task_id=w[name],
                provider="anthropic",
                model=model,
                input_tokens=10 + days,
                output_tokens=3,
                created_at=DAY + datetime.timedelta(days=days),
            )
    return w


# Every invalidation path of SPEC section 3, as SQL a client in any language sends.
SQL_PATHS = [
    (
        "insert usage",
        "INSERT INTO task_usage (task_id, model, input_tokens, created_at)"
        " VALUES (%(t1)s, 'new', 7, '2026-03-10 09:00+00')",
    ),
    (
        "insert usage stamped by the client's clock",
        "INSERT INTO task_usage (task_id, model, input_tokens, created_at, updated_at)"
        " VALUES (%(t3)s, 'client', 5, '2026-03-11 09:00+00', now() - interval '1 hour')",
    ),
    (
        "correct a row",
        "UPDATE task_usage SET input_tokens = input_tokens + 100"
        " WHERE task_id = %(t3)s AND model = 'opus'",
    ),
    (
        "move a row's day",
        "UPDATE task_usage SET created_at = created_at - interval '3 days'"
        " WHERE task_id = %(t1)s AND model = 'haiku'",
    ),
    (
        "move a row to another task and model",
        "UPDATE task_usage SET task_id = %(t5)s, model = 'opus-moved'"
        " WHERE task_id = %(t2)s AND model = 'opus'",
    ),
    ("delete a row", "DELETE FROM task_usage WHERE task_id = %(t3)s AND model = 'haiku'"),
    ("reassign a task", "UPDATE agent_task_queue SET runtime_id = %(r2)s WHERE id = %(t1)s"),
    (
        "give a task an agent of another workspace",
        "UPDATE agent_task_queue SET agent_id = %(gb)s WHERE id = %(t5)s",
    ),
    (
        "move an agent to another workspace",
        "UPDATE agent SET workspace_id = %(b)s WHERE id = %(ga2)s",
    ),
    (
        "delete a parent task (its child's parent is set NULL)",
        "DELETE FROM agent_task_queue WHERE id = %(t1)s",
    ),
    ("delete an issue (cascade to its tasks and usage)", "DELETE FROM issue WHERE id = %(i2)s"),
    ("delete a runtime no agent runs on", "DELETE FROM agent_runtime WHERE id = %(spare)s"),
    ("delete an agent", "DELETE FROM agent WHERE id = %(gb)s"),
    ("delete a workspace", "DELETE FROM workspace WHERE id = %(b)s"),
    ("truncate task_usage", "TRUNCATE task_usage"),
]  # fmt: skip


def test_a_platform_built_by_sql_adopts_the_rollup_and_stays_exact_on_every_path(platform):
    platform.conn.execute(PLATFORM_SQL)
    world = _build_multica_world(platform)
    before = platform.catalog()
    (filenode,) = platform.conn.execute("SELECT pg_relation_filenode('task_usage')").fetchone()

    _succeeded(platform.manage(SQL_HOST, "migrate", "--verbosity", "0"))

    after = platform.catalog()
    added = {kind: after[kind] - before[kind] for kind in after}
    assert before["columns"] <= after["columns"]
    assert before["constraints"] <= after["constraints"]
    assert before["indexes"] <= after["indexes"]
    assert {row[:2] for row in added["columns"]} == ADDED_COLUMNS
    assert {row[:2] for row in added["constraints"]} == ADDED_CONSTRAINTS
    # The platform's unique (task_id, ...) and (agent_id, status) indexes serve the triggers.
    assert {row[:2] for row in added["indexes"]} == ADDED_INDEXES
    assert platform.conn.execute("SELECT pg_relation_filenode('task_usage')").fetchone() == (
        filenode,
    )
    assert platform.conn.execute(
        "SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'task_usage'::regclass"
    ).fetchone() == (True,)
    assert "no issues" in _succeeded(platform.manage(SQL_HOST, "check", "--database", "default"))

    _succeeded(platform.manage(SQL_HOST, "backfill_task_usage_daily"))
    with platform.conn.cursor() as cursor:
        assert rollup_differences(cursor) == []
        assert len(oracle_buckets(cursor)) == 12  # 4 (workspace, runtime) pairs x 3 days
        for name, sql in SQL_PATHS:
            previous = oracle_buckets(cursor)
            cursor.execute(sql, world)
            assert oracle_buckets(cursor) != previous, f"{name} changed nothing"
            platform.tick()
            assert rollup_differences(cursor) == [], name
        assert oracle_buckets(cursor) == {}


def test_a_host_with_its_own_django_models_adopts_the_rollup_and_stays_exact_on_every_path(
    platform,
):
    # The host's tables exist before the rollup arrives, as they would in its project.
    _succeeded(platform.manage(DJANGO_HOST, "migrate", "django_host", "--verbosity", "0"))
    (deferrable,) = platform.conn.execute(
        "SELECT bool_and(condeferrable AND condeferred AND confdeltype = 'a') FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
        [list(PLATFORM_TABLES)],
    ).fetchone()
    assert deferrable  # Django's default keys: DEFERRABLE INITIALLY DEFERRED, NO ACTION

    _succeeded(platform.manage(DJANGO_HOST, "migrate", "--verbosity", "0"))
    assert "no issues" in _succeeded(platform.manage(DJANGO_HOST, "check", "--database", "default"))
    # The host's own models and ours on the same tables: no models.E028, nothing to migrate.
    _succeeded(platform.manage(DJANGO_HOST, "makemigrations", "--check", "--dry-run"))

    result = subprocess.run(
        [sys.executable, "-m", "tests.hosts.django_paths"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": DJANGO_HOST,
            "DATABASE_URL": platform.url(),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(reports) == 15
    assert [r["path"] for r in reports if not r["changed"]] == []
    assert {r["path"]: r["differences"] for r in reports} == {r["path"]: [] for r in reports}


BROKEN_PLATFORM = """
CREATE TABLE workspace (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE agent_runtime (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE agent (id bigint PRIMARY KEY, workspace_id uuid);
CREATE TABLE agent_task_queue (id uuid PRIMARY KEY, agent_id bigint NOT NULL, runtime_id uuid);
CREATE TABLE task_usage (
    id uuid PRIMARY KEY,
    task_id uuid NOT NULL,
    provider text,
    model text NOT NULL,
    input_tokens bigint, output_tokens bigint, cache_read_tokens bigint,
    created_at timestamp NOT NULL
);
CREATE TABLE task_usage_daily (day date, tokens bigint);
"""

BROKEN_PROBLEMS = [
    "column agent.id is bigint; the rollup needs uuid",
    "column agent.workspace_id must be NOT NULL",
    "column agent_task_queue.agent_id is bigint; the rollup needs uuid",
    "column task_usage.provider must be NOT NULL",
    "column task_usage.cache_write_tokens is missing",
    "column task_usage.created_at is timestamp without time zone; the rollup needs timestamp"
    " with time zone",
    "no foreign key from task_usage.task_id to agent_task_queue",
    "no foreign key from agent_task_queue.agent_id to agent",
    "task_usage_daily already exists and is not the rollup's",
]


def test_a_platform_the_rollup_cannot_run_on_is_refused_with_every_problem_and_left_unchanged(
    platform,
):
    platform.conn.execute(BROKEN_PLATFORM)
    before = platform.catalog()

    checked = platform.manage(SQL_HOST, "check", "--database", "default")
    migrated = platform.manage(SQL_HOST, "migrate")

    assert checked.returncode == 0  # warnings before installation: a host migration may fix it
    for problem in BROKEN_PROBLEMS:
        assert problem in checked.stderr, checked.stderr
    assert migrated.returncode == 1
    assert "Traceback" not in migrated.stderr
    assert (
        "IncompatibleSchema: The rollup cannot be installed on this database; nothing was changed."
        in (migrated.stderr)
    )
    for problem in BROKEN_PROBLEMS:
        assert problem in migrated.stderr
    assert platform.catalog() == before
    assert platform.conn.execute(
        "SELECT count(*) FROM django_migrations WHERE app = 'usage_rollup'"
    ).fetchone() == (0,)
    assert platform.conn.execute(
        "SELECT count(*) FROM pg_proc WHERE proname LIKE 'rollup_task_usage_daily%%'"
    ).fetchone() == (0,)
