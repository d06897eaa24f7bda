import contextlib

import psycopg
import pytest
from django.db import connection
from hypothesis import HealthCheck, settings


def pytest_addoption(parser):
    parser.addoption(
        "--soak-seconds",
        type=float,
        default=6.0,
        help="how long the concurrency test runs its writers (default 6; try 600 for a soak)",
    )


@pytest.fixture
def soak_seconds(request) -> float:
    return request.config.getoption("--soak-seconds")


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


# Hypothesis: a quick run in the suite, a long one with --hypothesis-profile=soak.
settings.register_profile(
    "ci",
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "soak",
    parent=settings.get_profile("ci"),
    max_examples=1000,
    stateful_step_count=100,
)
settings.load_profile("ci")
