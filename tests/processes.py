"""Run manage.py as a real process against the test database, as an operator would."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url(name: str | None = None) -> str:
    """A DATABASE_URL for database `name` (default: the test database) on the test server."""
    settings = connection.settings_dict
    host, port = settings["HOST"], settings["PORT"]
    credentials = quote(settings["USER"]) + (
        ":" + quote(settings["PASSWORD"]) if settings["PASSWORD"] else ""
    )
    dbname = quote(name or settings["NAME"])
    if host.startswith("/"):  # a socket folder goes in the query string
        query = f"host={quote(host)}" + (f"&port={port}" if port else "")
        return f"postgres://{credentials}@/{dbname}?{query}"
    return f"postgres://{credentials}@{host}{':' + str(port) if port else ''}/{dbname}"


def manage_py(*args: str, database: str | None = None, **popen) -> subprocess.Popen:
    """Start `python manage.py ARGS` on database `database` (default: the test database)."""
    env = {**os.environ, "DATABASE_URL": database_url(database)}
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
