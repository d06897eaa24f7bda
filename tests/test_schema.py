"""`manage.py migrate` creates every object SPEC section 2 names, online-safely."""

import io
import re
from pathlib import Path

import pgtrigger
import pytest
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader

from usage_rollup.operations import SQL_DIR, RunSQLFile

COLUMNS = {
    "workspace": {"id", "name", "slug"},
    "agent_runtime": {"id", "workspace_id", "name", "provider"},
    "agent": {"id", "workspace_id", "name"},
    "issue": {"id", "workspace_id", "title"},
    "agent_task_queue": {"id", "agent_id", "issue_id", "runtime_id", "status", "created_at"},
    "task_usage": {
        "id", "task_id", "provider", "model", "input_tokens", "output_tokens",
        "cache_read_tokens", "cache_write_tokens", "created_at", "updated_at",
    },
    "task_usage_daily": {
        "bucket_date", "workspace_id", "runtime_id", "provider", "model", "input_tokens",
        "output_tokens", "cache_read_tokens", "cache_write_tokens", "event_count", "updated_at",
    },
    "task_usage_daily_dirty": {
        "bucket_date", "workspace_id", "runtime_id", "provider", "model", "enqueued_at",
    },
    "task_usage_rollup_state": {
        "watermark_at", "last_run_started_at", "last_run_finished_at", "last_run_rows",
        "last_error",
    },
}  # fmt: skip

FUNCTIONS = {
    "rollup_task_usage_daily_window(timestamptz, timestamptz)": "bigint",
    "rollup_task_usage_daily(interval)": "bigint",
    "task_usage_rollup_lag_seconds()": "double precision",
}


@pytest.mark.parametrize("table", sorted(COLUMNS))
def test_every_named_table_has_its_columns(cursor, table):
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s", [table]
    )
    assert COLUMNS[table] <= {name for (name,) in cursor.fetchall()}


def test_defaults_live_in_the_database(cursor):
    cursor.execute(
        """
        SELECT table_name || '.' || column_name, column_default
          FROM information_schema.columns
         WHERE (table_name, column_name) IN (
                ('task_usage', 'provider'), ('task_usage', 'input_tokens'),
                ('task_usage', 'output_tokens'), ('task_usage', 'cache_read_tokens'),
                ('task_usage', 'cache_write_tokens'), ('task_usage', 'created_at'),
                ('task_usage', 'updated_at'), ('workspace', 'id'), ('agent', 'id'),
                ('agent_runtime', 'id'), ('issue', 'id'), ('agent_task_queue', 'id'),
                ('task_usage', 'id'))
        """
    )
    defaults = dict(cursor.fetchall())
    assert len(defaults) == 13
    assert defaults["task_usage.provider"] == "''::text"
    assert defaults["task_usage.created_at"] == defaults["task_usage.updated_at"] == "now()"
    for column in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
        assert defaults[f"task_usage.{column}"] == "0"
    for table in ("workspace", "agent", "agent_runtime", "issue", "agent_task_queue", "task_usage"):
        assert defaults[f"{table}.id"] == "gen_random_uuid()"


def test_foreign_keys_cascade_in_the_database_and_check_at_once(cursor):
    cursor.execute(
        """
        SELECT conrelid::regclass::text || '.' || a.attname, confrelid::regclass::text,
               confdeltype, condeferrable
          FROM pg_constraint c
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f'
           AND c.conrelid::regclass::text IN (
                'agent_runtime', 'agent', 'issue', 'agent_task_queue', 'task_usage')
        """
    )
    assert {row[0]: row[1:] for row in cursor.fetchall()} == {
        "agent_runtime.workspace_id": ("workspace", "c", False),
        "agent.workspace_id": ("workspace", "c", False),
        "issue.workspace_id": ("workspace", "c", False),
        "agent_task_queue.agent_id": ("agent", "c", False),
        "agent_task_queue.issue_id": ("issue", "c", False),
        "agent_task_queue.runtime_id": ("agent_runtime", "c", False),
        "task_usage.task_id": ("agent_task_queue", "c", False),
    }


def test_usage_is_unique_per_task_provider_and_model(cursor):
    cursor.execute(
        """
        SELECT pg_get_indexdef(indexrelid) FROM pg_index
         WHERE indrelid = 'task_usage'::regclass AND indisunique AND NOT indisprimary
        """
    )
    assert [row[0].split(" USING ")[1] for row in cursor.fetchall()] == [
        "btree (task_id, provider, model)"
    ]


def test_the_rollup_table_has_its_upsert_key_and_read_indexes(cursor):
    cursor.execute(
        """
        SELECT indisunique, split_part(pg_get_indexdef(indexrelid), ' USING ', 2)
          FROM pg_index WHERE indrelid = 'task_usage_daily'::regclass AND NOT indisprimary
        """
    )
    assert set(cursor.fetchall()) == {
        (True, "btree (bucket_date, workspace_id, runtime_id, provider, model)"),
        (False, "btree (runtime_id, bucket_date DESC)"),
        (False, "btree (workspace_id, bucket_date DESC)"),
        (
            False,
            "btree (runtime_id, bucket_date DESC, provider, model) INCLUDE (input_tokens,"
            " output_tokens, cache_read_tokens, cache_write_tokens)",
        ),
        (
            False,
            "btree (workspace_id, bucket_date DESC, provider, model) INCLUDE (input_tokens,"
            " output_tokens, cache_read_tokens, cache_write_tokens)",
        ),
    }


@pytest.mark.parametrize("signature, returns", sorted(FUNCTIONS.items()))
def test_every_named_function_exists_with_its_signature(cursor, signature, returns):
    cursor.execute("SELECT pg_get_function_result(to_regprocedure(%s))", [signature])
    assert cursor.fetchone()[0] == returns


def test_the_entry_point_can_be_called_without_arguments(cursor):
    cursor.execute("SELECT rollup_task_usage_daily()")
    assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
def test_models_and_migrations_agree():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_every_sql_file_is_run_by_exactly_one_migration():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    used = [
        operation.name
        for (app, _), migration in loader.disk_migrations.items()
        if app == "usage_rollup"
        for operation in migration.operations
        if isinstance(operation, RunSQLFile)
    ]
    assert sorted(used) == sorted(path.name for path in SQL_DIR.glob("*.sql"))


def test_every_sql_file_says_its_purpose_and_locks():
    for path in Path(SQL_DIR).glob("*.sql"):
        header = path.read_text().split("CREATE", 1)[0]
        assert re.search(r"Purpose:", header), path.name
        assert re.search(r"Locks?:", header), path.name


def test_indexes_on_task_usage_are_built_concurrently_outside_a_transaction():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for (app, _), migration in loader.disk_migrations.items():
        if app != "usage_rollup":
            continue
        for operation in migration.operations:
            if type(operation).__name__ == "AddIndex" and operation.model_name == "taskusage":
                pytest.fail(f"{migration.name} builds a task_usage index with a lock")
            if type(operation).__name__ == "AddIndexConcurrently":
                assert migration.atomic is False


@pytest.mark.django_db
def test_every_declared_trigger_is_installed_as_declared():
    # The triggers sit on unmanaged models of the platform's tables, whose changes makemigrations
    # does not detect: pgtrigger's own status compares each installed trigger with its model.
    statuses = {
        trigger.get_uri(model): trigger.get_installation_status(model)
        for model, trigger in pgtrigger.registered()
    }
    assert len(statuses) == 8
    assert statuses == dict.fromkeys(statuses, ("INSTALLED", True))
