"""The plans of the reads (usage_rollup/queries.py), through EXPLAIN of the statements they send:
what each read touches is what benchmarks/README.md says bounds its cost."""

import datetime
import json
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from usage_rollup import queries

TODAY = datetime.date(2026, 3, 10)
DAYS = 120
# Runtimes and workspaces, every runtime with tasks of agents in every workspace: a scope holds a
# twelfth or a tenth of the buckets, not a third (PostgreSQL 15 reads a third of them through a
# bitmap of the narrower index).
RUNTIMES = 10
WORKSPACES = 12


def _plan_nodes(plan: dict) -> list[dict]:
    return [plan, *(node for child in plan.get("Plans", ()) for node in _plan_nodes(child))]


def _explain(cursor, sql: str) -> list[dict]:
    cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
    (document,) = cursor.fetchone()
    return _plan_nodes((json.loads(document) if isinstance(document, str) else document)[0]["Plan"])


def _statement_of(read) -> str:
    """The SQL a read sends, as the server received it (parameters bound by the client)."""
    with CaptureQueriesContext(connection) as captured:
        read()
    return captured.captured_queries[-1]["sql"]


@pytest.fixture
def many_buckets(transactional_db):
    """A rollup of 10 runtimes x 12 workspaces x 120 days x 6 models (86,400 buckets), written
    straight into task_usage_daily and vacuumed, as autovacuum leaves a table: enough rows that
    the planner picks its plan for their sizes, not for a table of a few pages, and a visibility
    map that lets an index-only scan skip the heap."""
    runtimes = [uuid.uuid4() for _ in range(RUNTIMES)]
    workspaces = [uuid.uuid4() for _ in range(WORKSPACES)]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO task_usage_daily (bucket_date, workspace_id, runtime_id, provider, model,
                                          input_tokens, output_tokens, cache_read_tokens,
                                          cache_write_tokens, event_count)
            SELECT %(today)s::date - day, w, r, p, m, day, 1, 2, 3, 1
              FROM generate_series(0, %(days)s - 1) AS day, unnest(%(workspaces)s::uuid[]) AS w,
                   unnest(%(runtimes)s::uuid[]) AS r, unnest(ARRAY['anthropic', 'openai']) AS p,
                   unnest(ARRAY['opus', 'sonnet', 'haiku']) AS m
            """,
            {"today": TODAY, "days": DAYS, "workspaces": workspaces, "runtimes": runtimes},
        )
        _vacuum_until_all_visible(cursor)
    return {"runtime": runtimes[0], "workspace": workspaces[0]}


def _vacuum_until_all_visible(cursor) -> None:
    """VACUUM marks a page all-visible only once no transaction that began before its rows'
    commit is still running: a concurrent one (an autoanalyze, a pg_cron job) leaves the map
    empty, and the planner then prices an index-only scan as heap fetches. Vacuum again until
    every page is marked, as autovacuum's next pass would."""
    deadline = time.monotonic() + 60
    while True:
        cursor.execute("VACUUM (ANALYZE) task_usage_daily")
        cursor.execute(
            "SELECT relallvisible, relpages FROM pg_class WHERE oid = 'task_usage_daily'::regclass"
        )
        all_visible, pages = cursor.fetchone()
        if all_visible >= pages:
            return
        cursor.execute(
            "SELECT pid, backend_type, left(query, 200) FROM pg_stat_activity"
            " WHERE backend_xmin IS NOT NULL AND pid <> pg_backend_pid()"
        )
        assert time.monotonic() < deadline, (
            f"{all_visible} of {pages} pages all-visible after 60 s of VACUUM; "
            f"transactions holding the horizon: {cursor.fetchall()}"
        )
        time.sleep(0.5)


@pytest.mark.parametrize("scope", ["runtime", "workspace"])
@pytest.mark.parametrize("days", [30, 90])
def test_a_rollup_read_walks_its_scopes_read_index_in_order_and_sorts_nothing(
    many_buckets, scope, days
):
    read = queries.runtime_usage if scope == "runtime" else queries.workspace_usage
    since = TODAY - datetime.timedelta(days=days)
    statement = _statement_of(lambda: read(many_buckets[scope], since, source="rollup"))

    with connection.cursor() as cursor:
        nodes = _explain(cursor, statement)

    scans = [node for node in nodes if "Index Name" in node or "Relation Name" in node]
    assert [(scan["Node Type"], scan.get("Index Name")) for scan in scans] == [
        ("Index Only Scan", f"usage_daily_{scope}_read_idx")
    ]
    assert scans[0]["Scan Direction"] == "Forward"
    assert not [node for node in nodes if "Sort" in node["Node Type"]]
    assert nodes[0]["Node Type"] == "Aggregate" and nodes[0]["Strategy"] == "Sorted"
