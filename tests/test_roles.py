"""The rollup run by roles that are not superusers (SPEC section 3b): the ticking role with exactly
docs/runbook.md's grants, with and without pg_read_all_stats, the migrating role, and a role that
writes the platform's tables and nothing else."""

import datetime
import re
import textwrap
import uuid

import psycopg
import pytest

from tests import committed
from tests.committed import assert_exact, state_row, tick, watermark
from tests.components import (
    Role,
    create_login_role,
    database_alias,
    drop_role,
    server_conninfo,
    ticking_role_grants,
)
from tests.processes import ROOT, run_manage_py
from usage_rollup import queries, rollup
from usage_rollup.config import ReadMode
from usage_rollup.source import synthetic

# A usage row written by a transaction that stays open across ticks.
LATE_USAGE = "INSERT INTO task_usage (task_id, model, input_tokens) VALUES (%s, 'late', 7)"


def test_a_tick_by_a_role_without_pg_read_all_stats_refuses_and_records_why(session, limited_role):
    admin = session()
    world = committed.build(admin)
    ticker = session(role=limited_role(read_all_stats=False))
    writer = session(autocommit=False)
    writer.execute(LATE_USAGE, [world.t1])
    before = state_row(admin)

    assert tick(ticker) is None

    after = state_row(admin)
    assert "pg_read_all_stats" in after["last_error"]
    assert after["failed_runs"] == before["failed_runs"] + 1
    assert after["watermark_at"] == before["watermark_at"]
    # Nothing was lost: once the writer commits, a role that sees every session rolls it up.
    writer.commit()
    tick(admin)
    assert_exact(admin)


def test_rollup_tick_by_a_role_without_pg_read_all_stats_is_a_failed_result(session, limited_role):
    committed.build(session())
    role = limited_role(read_all_stats=False)

    with database_alias("ticker", USER=role.name, PASSWORD=role.password) as alias:
        result = rollup.tick(datetime.timedelta(0), using=alias)

    assert result.failed
    assert "pg_read_all_stats" in result.error


def test_a_role_with_pg_read_all_stats_ticks_exactly_across_an_open_writer(session, limited_role):
    admin = session()
    world = committed.build(admin)
    ticker = session(role=limited_role())
    writer = session(autocommit=False)
    writer.execute(LATE_USAGE, [world.t1])
    writer_started = writer.execute("SELECT now()").fetchone()[0]

    for _ in range(3):
        assert tick(ticker) is not None
    assert watermark(admin) <= writer_started  # held back by the open writer

    writer.commit()
    tick(ticker)
    assert_exact(admin)


def _succeeds(*args: str, url: str) -> str:
    done = run_manage_py(*args, url=url)
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _invalidate(admin: psycopg.Connection) -> None:
    """A deleted usage row and a task moved to another runtime, written by another role."""
    admin.execute(
        "DELETE FROM task_usage WHERE id = (SELECT id FROM task_usage ORDER BY id LIMIT 1)"
    )
    admin.execute(
        """
        UPDATE agent_task_queue
           SET runtime_id = (SELECT id FROM agent_runtime
                              WHERE id <> agent_task_queue.runtime_id ORDER BY id LIMIT 1)
         WHERE id = (SELECT task_id FROM task_usage tu JOIN agent_task_queue t ON t.id = tu.task_id
                      WHERE t.runtime_id IS NOT NULL ORDER BY tu.id LIMIT 1)
        """
    )


def test_the_whole_pipeline_runs_as_a_role_with_exactly_the_documented_grants(
    session, limited_role
):
    admin = session()
    synthetic.generate_history(synthetic.HistoryShape(rows=3000, days=40))
    role = limited_role()
    url = role.database_url()

    _succeeds("backfill_task_usage_daily", "--slice", "week", url=url)
    _succeeds("rollup_usage", "--lag", "0", url=url)
    _invalidate(admin)
    _succeeds("rollup_usage", "--lag", "0", "--catch-up", url=url)
    _succeeds(
        "rollup_usage", "--lag", "0", "--loop", "--interval", "0.01", "--max-ticks", "2", url=url
    )
    assert_exact(admin)
    assert "Last error:  none" in _succeeds("usage_rollup_status", url=url)
    _succeeds("verify_usage_rollup", url=url)

    runtime = queries.busiest_runtime()
    admin.execute(
        "UPDATE task_usage_daily SET input_tokens = input_tokens + 1"
        " WHERE id = (SELECT min(id) FROM task_usage_daily WHERE runtime_id = %s)",
        [runtime],
    )
    repair = run_manage_py("verify_usage_rollup", "--repair", url=url)
    assert repair.returncode == 1 and "Queued 1 bucket" in repair.stdout, repair.stderr
    _assert_reads_equal_raw(role, runtime, ("raw", "realtime"))  # realtime reads its slice raw
    _succeeds("rollup_usage", "--lag", "0", url=url)
    assert_exact(admin)
    _assert_reads_equal_raw(role, runtime, ("raw", "rollup", "realtime"))


@pytest.mark.pg_cron
def test_the_status_of_a_role_that_may_not_read_pg_crons_jobs_says_so(limited_role, pg_cron):
    # pg_cron grants USAGE on its schema to nobody: the ticking role's status must still work.
    status = _succeeds("usage_rollup_status", url=limited_role().database_url())

    assert (
        "pg_cron:     installed, its jobs not readable by this role (GRANT USAGE ON SCHEMA cron"
        in status
    )


def _assert_reads_equal_raw(role: Role, runtime: uuid.UUID, modes: tuple[ReadMode, ...]) -> None:
    """The runtime's usage, read as `role` in each mode, equals the raw read by the test's user."""
    since = datetime.date(2000, 1, 1)
    raw = queries.runtime_usage(runtime, since, source="raw")
    with database_alias("reader", USER=role.name, PASSWORD=role.password) as alias:
        for mode in modes:
            assert queries.runtime_usage(runtime, since, source=mode, using=alias) == raw, mode


def _runbook_sql_block(heading: str) -> str:
    """The first ```sql block under a heading of docs/runbook.md, dedented (it may sit in a list
    item)."""
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    section = runbook[runbook.index(f"\n{heading}\n") :]
    block = re.search(r"^( *)```sql\n(.*?)\n\1```", section, re.S | re.M)
    return textwrap.dedent(block.group(2))


def test_the_runbook_shows_the_grants_the_tests_give_the_ticking_role():
    assert _runbook_sql_block("## Roles and grants") == ticking_role_grants(
        "usage_rollup_ticker", "app"
    )


def test_a_role_that_is_not_a_superuser_migrates_a_database_with_create_on_its_schema(session):
    admin = session()
    role = create_login_role(admin, "usage_rollup_migrator")
    database = f"test_migrated_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {database}")
    try:
        target_conninfo = {**server_conninfo(), "dbname": database}
        with psycopg.connect(**target_conninfo, autocommit=True) as target:
            target.execute(f"GRANT CREATE ON SCHEMA public TO {role.name}")
            _succeeds("migrate", "--verbosity", "0", url=role.database_url(database))
            owner = target.execute(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'task_usage'"
            ).fetchone()
        assert owner == (role.name,)
    finally:
        admin.execute(f"DROP DATABASE {database} WITH (FORCE)")
        admin.execute(f"DROP ROLE {role.name}")


# Every way a platform's client moves or removes usage, by statement.
PLATFORM_WRITES = (
    "INSERT INTO task_usage (task_id, model, input_tokens, created_at)"
    " VALUES (%(t2)s, 'sonnet', 5, '2026-03-10 13:00+00')",
    "UPDATE task_usage SET created_at = created_at + interval '2 days'"
    " WHERE task_id = %(t2)s AND model = 'opus'",
    "UPDATE agent_task_queue SET runtime_id = %(r2)s WHERE id = %(t1)s",
    "UPDATE agent SET workspace_id = %(a)s WHERE id = %(gb)s",
    "DELETE FROM task_usage WHERE task_id = %(t2)s AND model = 'haiku'",
    # Directly: a cascade from the issue would run as the task table's owner.
    "DELETE FROM agent_task_queue WHERE id = %(t1)s",
)


def test_a_role_that_writes_only_the_platforms_tables_changes_usage_on_every_path(session):
    # The platform's clients write as roles of their own, with no privilege on the rollup's
    # tables: the triggers' functions are SECURITY DEFINER, the deleted tasks' owners included.
    admin = session()
    world = committed.build(admin)
    writer_role = create_login_role(admin, "platform_writer")
    try:
        admin.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE"
            " ON workspace, agent_runtime, agent, issue, agent_task_queue, task_usage"
            f" TO {writer_role.name}"
        )
        with psycopg.connect(writer_role.database_url(), autocommit=True) as writer:
            for statement in PLATFORM_WRITES:
                writer.execute(statement, vars(world))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                writer.execute("SELECT FROM task_usage_daily_deleted_tasks")
        tick(admin)
        assert_exact(admin)
    finally:
        drop_role(admin, writer_role)
