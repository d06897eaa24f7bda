"""What every operating command does with a database that lacks the rollup: one line that says
what to do, a non-zero exit, no traceback, nothing written."""

import io
import uuid

import pytest
from django.core.management import CommandError, call_command

from tests.processes import manage_py

COMMANDS = [
    ["backfill_task_usage_daily"],
    ["rollup_usage"],
    ["rollup_usage", "--from", "2025-01-01", "--to", "2025-01-02"],
    ["usage_rollup_status"],
    ["schedule_usage_rollup"],
    ["schedule_usage_rollup", "--unschedule"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_database_without_the_migrations_is_refused_with_what_to_do(cursor, command):
    # The test's own transaction, rolled back after it: the rollup's state table is gone.
    cursor.execute("ALTER TABLE task_usage_rollup_state RENAME TO task_usage_rollup_state_gone")

    with pytest.raises(CommandError, match=r"not installed in database .*run manage.py migrate"):
        call_command(*command, "--database", "default", stdout=io.StringIO())

    cursor.execute("SELECT count(*) FROM task_usage_daily")
    assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_as_a_process_the_refusal_is_one_line_and_exit_status_one(session):
    admin = session()
    empty = f"test_empty_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {empty}")
    try:
        status = manage_py("usage_rollup_status", "--max-lag", "60", database=empty)
        out, err = status.communicate(timeout=60)
    finally:
        admin.execute(f"DROP DATABASE {empty} WITH (FORCE)")

    assert status.returncode == 1
    assert out == ""
    assert err == (
        f"CommandError: the usage rollup is not installed in database '{empty}': "
        "run manage.py migrate first\n"
    )
