import contextlib

import psycopg
import pytest
from django.db import connection


@pytest.fixture
def cursor(db):
    """A cursor on the test's own connection (inside the test's transaction)."""
    with connection.cursor() as cur:
        yield cur


@pytest.fixture
def session(transactional_db):
    """Open extra sessions to the test database: `session(autocommit=..., timezone=...)`.

    Each is a real, separate PostgreSQL connection, closed when the test ends.
    """
    opened = []
    params = connection.get_connection_params()
    conninfo = {
        key: params[key]
        for key in ("dbname", "user", "password", "host", "port")
        if params.get(key)
    }

    def open_session(autocommit: bool = True, timezone: str = "UTC") -> psycopg.Connection:
        conn = psycopg.connect(**conninfo, autocommit=autocommit, options=f"-c TimeZone={timezone}")
        opened.append(conn)
        return conn

    yield open_session
    for conn in opened:
        with contextlib.suppress(psycopg.Error):
            conn.close()
