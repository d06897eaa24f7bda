"""Run manage.py as a real process against the test database, as an operator would."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url(
    name: str | None = None, user: str | None = None, password: str | None = None
) -> str:
    """A DATABASE_URL for database `name` (default: the test database) on the test server, as
    the test's user or as `user` with its own `password` (a server that trusts its local
    clients ignores it; one that asks for passwords, as Debian's does on TCP, needs it)."""
    settings = connection.settings_dict
    host, port = settings["HOST"], settings["PORT"]
    if user is None:
        user, password = settings["USER"], settings["PASSWORD"]
    credentials = quote(user) + (":" + quote(password) if password else "")
    dbname = quote(name or settings["NAME"])
    if host.startswith("/"):  # a socket folder goes in the query string
        query = f"host={quote(host)}" + (f"&port={port}" if port else "")
        return f"postgres://{credentials}@/{dbname}?{query}"
    return f"postgres://{credentials}@{host}{':' + str(port) if port else ''}/{dbname}"


def manage_py(
    *args: str,
    database: str | None = None,
    url: str | None = None,
    env: dict | None = None,
    **popen,
) -> subprocess.Popen:
    """Start `python manage.py ARGS` on database `database` (default: the test database), or at
    DATABASE_URL `url`, with `env` added to the environment."""
    env = {**os.environ, "DATABASE_URL": url or database_url(database), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def run_manage_py(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run `python manage.py ARGS` (manage_py's keywords) to its end; its status and output."""
    process = manage_py(*args, **kwargs)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
