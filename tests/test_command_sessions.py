"""The app's commands name their database sessions in pg_stat_activity
(usage_rollup/management/sessions.py), and keep a name the operator gave."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.processes import ROOT, database_url
from usage_rollup.management.sessions import command_of

LOOP = ["rollup_usage", "--loop", "--interval", "0.2", "--max-ticks", "600"]


def _names_seen_while_running(session, argv: list[str], env: dict[str, str]) -> set[str]:
    """The application_names of the test database's sessions while `manage.py ARGV` runs,
    once the command has opened its own."""
    watcher = session()
    before = {row[0] for row in watcher.execute("SELECT pid FROM pg_stat_activity").fetchall()}
    command = subprocess.Popen(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "PGAPPNAME"}, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        names = set()
        while time.monotonic() < deadline and command.poll() is None:
            rows = watcher.execute(
                "SELECT pid, application_name FROM pg_stat_activity WHERE datname = "
                "current_database() AND backend_type = 'client backend' AND pid <> ALL(%s)",
                [list(before)],
            ).fetchall()
            names = {name for _, name in rows}
            # A session is named by its first statement after it connects: seen in between,
            # it has no name yet (a password login over TCP makes that instant longer).
            if names and "" not in names:
                return names
            time.sleep(0.1)
        if names:
            return names
        pytest.fail(f"the command opened no session: {command.stderr.read()}")
    finally:
        command.send_signal(signal.SIGTERM)
        command.wait(timeout=30)


def test_a_command_names_its_session_after_itself(session):
    names = _names_seen_while_running(session, LOOP, {"DATABASE_URL": database_url()})

    assert names == {"usage_rollup:rollup_usage"}


def test_a_name_given_in_the_database_url_is_kept(session):
    url = database_url()
    url += ("&" if "?" in url else "?") + "application_name=ticker-7"

    names = _names_seen_while_running(session, LOOP, {"DATABASE_URL": url})

    assert names == {"ticker-7"}


def test_a_name_given_in_pgappname_is_kept(session):
    env = {"DATABASE_URL": database_url(), "PGAPPNAME": "ticker-8"}

    assert _names_seen_while_running(session, LOOP, env) == {"ticker-8"}


@pytest.mark.parametrize(
    "argv, command",
    [
        (["manage.py", "backfill_task_usage_daily", "--dry-run"], "backfill_task_usage_daily"),
        (["manage.py", "usage_rollup_demo"], "usage_rollup_demo"),
        (["manage.py", "migrate"], None),
        (["manage.py"], None),
        (["gunicorn", "project.wsgi"], None),
        (["django-admin", "verify_usage_rollup", "--since", "2026-01-01"], "verify_usage_rollup"),
    ],
)
def test_only_the_apps_own_commands_are_named(argv, command):
    assert command_of(argv) == command
