import contextlib
import dataclasses
import itertools
import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, settings

from tests import components
from tests.hosts.platforms import Platform


def pytest_addoption(parser):
    parser.addoption(
        "--soak-seconds",
        type=float,
        default=6.0,
        help="how long the concurrency test runs its writers (default 6; try 600 for a soak)",
    )
    parser.addoption(
        "--isolation-accept",
        action="store_true",
        help="copy each isolation spec's output over tests/isolation/expected/ (review the diff)",
    )


@pytest.fixture
def soak_seconds(request) -> float:
    return request.config.getoption("--soak-seconds")


@pytest.fixture(autouse=True)
def realtime_reads_its_statement(settings):
    """Every scope in the tests' worlds has few tasks, so every realtime read would be sent as the
    raw read (config.realtime_raw_max_tasks): tests exercise the realtime statement unless they
    set the setting themselves."""
    settings.USAGE_ROLLUP_REALTIME_RAW_MAX_TASKS = 0


@pytest.fixture
def cursor(db):
    """A cursor on the test's own connection (inside the test's transaction)."""
    with connection.cursor() as cur:
        yield cur


@pytest.fixture
def session(transactional_db):
    """Open extra sessions to the test database: `session(autocommit=..., timezone=...,
    role=...)` (the test's superuser unless a components.Role is given).

    Each is a real, separate PostgreSQL connection, closed when the test ends.
    """
    opened = []
    conninfo = components.server_conninfo()

    def open_session(
        autocommit: bool = True, timezone: str = "UTC", role: components.Role | None = None
    ) -> psycopg.Connection:
        login = {"user": role.name, "password": role.password} if role else {}
        conn = psycopg.connect(
            **{**conninfo, **login},
            autocommit=autocommit,
            options=f"-c TimeZone={timezone}",
        )
        opened.append(conn)
        return conn

    yield open_session
    for conn in opened:
        with contextlib.suppress(psycopg.Error):
            conn.close()


def _pg_cron_installed() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron')")
        return cur.fetchone()[0]


@pytest.fixture
def pg_cron():
    """Skip unless pg_cron is installed in the test database (the embedded server has none).

    CI runs the pg_cron tests on a server that has it and sets USAGE_ROLLUP_REQUIRE_PG_CRON,
    which turns that skip into a failure.
    """
    if not _pg_cron_installed():
        reason = "pg_cron is not installed in the test database"
        if os.environ.get("USAGE_ROLLUP_REQUIRE_PG_CRON"):
            pytest.fail(reason)
        pytest.skip(f"{reason} (CI runs these on PostgreSQL 15 with pg_cron)")


@pytest.fixture
def no_pg_cron():
    """Skip where pg_cron is installed: for behaviour without it."""
    if _pg_cron_installed():
        pytest.skip("pg_cron is installed in the test database")


@pytest.fixture
def limited_role(transactional_db):
    """Create login roles that hold exactly the ticking role's documented grants:
    `limited_role(read_all_stats=True)` returns a components.Role; each is dropped at the end."""
    admin = psycopg.connect(**components.server_conninfo(), autocommit=True)
    created = []

    def create(read_all_stats: bool = True) -> components.Role:
        created.append(components.create_ticking_role(admin, read_all_stats))
        return created[-1]

    yield create
    for role in created:
        components.drop_role(admin, role)
    admin.close()


@pytest.fixture
def pgbouncer(transactional_db):
    """A PgBouncer in transaction mode in front of the test database (components.PgBouncer).

    Skipped where Debian's pgbouncer is not installed; CI installs it and sets
    USAGE_ROLLUP_REQUIRE_PGBOUNCER, which turns that skip into a failure.
    """
    binary = components.pgbouncer_binary()
    if binary is None:
        reason = "pgbouncer is not installed"
        if os.environ.get("USAGE_ROLLUP_REQUIRE_PGBOUNCER"):
            pytest.fail(reason)
        pytest.skip(f"{reason} (CI installs Debian's pgbouncer)")
    with components.running_pgbouncer(binary) as pooler:
        yield pooler


@dataclasses.dataclass(frozen=True)
class StandbyPair:
    """A primary and its hot standby (components.Node), and the folder both live in."""

    primary: components.Node
    standby: components.Node
    workdir: Path


@pytest.fixture(scope="module")
def standby_pair(django_db_blocker):
    """A primary and a hot standby of Debian's PostgreSQL 15, started for the module in a
    temporary folder on free ports, the rollup migrated on the primary and replicated. While the
    module runs, the app's "default" alias is the primary and "replica" the standby; the test
    server (and its test database) is not used.

    Skipped where PostgreSQL 15's binaries are missing; CI sets USAGE_ROLLUP_REQUIRE_STANDBY,
    which turns that skip into a failure.
    """
    if not components.pg15_available():
        reason = f"PostgreSQL 15 is not installed in {components.PG15_BIN}"
        if os.environ.get("USAGE_ROLLUP_REQUIRE_STANDBY"):
            pytest.fail(reason)
        pytest.skip(f"{reason} (CI installs Debian's postgresql-15)")
    workdir = Path(tempfile.mkdtemp(prefix="usage-rollup-standby-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    nodes = []
    try:
        with django_db_blocker.unblock():
            nodes.append(components.start_primary(workdir))
            with components.registered_alias("default", nodes[0].settings()):
                call_command("migrate", verbosity=0)
                nodes.append(components.start_standby(nodes[0], "standby"))
                with components.registered_alias("replica", nodes[1].settings()):
                    components.wait_for_replay(*nodes)
                    yield StandbyPair(*nodes, workdir)
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(workdir)


_standby_names = itertools.count(1)


@pytest.fixture
def second_standby(standby_pair):
    """Another hot standby of the pair's primary, for a test that promotes it; stopped after."""
    node = components.start_standby(standby_pair.primary, f"standby-{next(_standby_names)}")
    try:
        yield node
    finally:
        node.stop()


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


@pytest.fixture
def platform(session):
    """A database of its own, owned by a role that is not a superuser (tests/hosts/platforms.py),
    dropped with its role at the end."""
    created = Platform(session())
    yield created
    created.close()
