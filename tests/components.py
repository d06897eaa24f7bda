"""The production conditions the rollup is tested under (SPEC section 3b), as real components:
a PgBouncer in transaction mode in front of the test server, login roles that hold exactly the
grants docs/runbook.md documents, and Django database aliases that reach the server through them.
tests/conftest.py turns them into fixtures."""

import contextlib
import dataclasses
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from django.db import connection, connections
from psycopg import sql

from tests.processes import database_url

# What the role that runs backfills, ticks, status and verify needs (docs/runbook.md, "Roles and
# grants"), each grant for the use its comment names. PUBLIC's defaults do the rest (CONNECT,
# USAGE on the schema, EXECUTE on the functions). TEMPORARY is PUBLIC's by default too, and spelled
# out because a database that revokes it from PUBLIC stops every tick.
_READ_ALL_STATS = (
    # The horizon must see when every other session began its transaction.
    "GRANT pg_read_all_stats TO {role};"
)
_TABLE_GRANTS = (
    # The window keeps the slices it recomputes in a temporary table.
    "GRANT TEMPORARY ON DATABASE {database} TO {role};",
    # The rows a bucket is computed from.
    "GRANT SELECT ON task_usage, agent_task_queue, agent TO {role};",
    # The rollup (daily and hourly), its queue (drained FOR UPDATE SKIP LOCKED) and the buckets
    # set aside (an upsert).
    "GRANT SELECT, INSERT, UPDATE, DELETE\n"
    "   ON task_usage_daily, task_usage_daily_quarters, task_usage_daily_dirty,"
    " task_usage_daily_set_aside\n"
    "   TO {role};",
    # The state row: watermark, runs, errors, the backfill's lease.
    "GRANT SELECT, INSERT, UPDATE ON task_usage_rollup_state TO {role};",
)


def ticking_role_grants(role: str, database: str, read_all_stats: bool = True) -> str:
    """The SQL that gives `role` the ticking role's grants in `database` (the runbook's block),
    or all of them but pg_read_all_stats."""
    grants = ((_READ_ALL_STATS,) if read_all_stats else ()) + _TABLE_GRANTS
    return "\n".join(grant.format(role=role, database=database) for grant in grants)


def server_conninfo() -> dict:
    """psycopg connection parameters of the test database, as the test's own connection has."""
    params = connection.get_connection_params()
    return {
        key: params[key]
        for key in ("dbname", "user", "password", "host", "port")
        if params.get(key)
    }


@dataclasses.dataclass(frozen=True)
class Role:
    """A LOGIN role with a password of its own: a server that trusts its local clients (the
    embedded one) ignores it, one that asks for passwords on TCP (Debian's) needs it."""

    name: str
    password: str

    def database_url(self, name: str | None = None) -> str:
        """DATABASE_URL for database `name` (default: the test database) as this role."""
        return database_url(name, user=self.name, password=self.password)


def create_login_role(admin: psycopg.Connection, prefix: str) -> Role:
    """A new LOGIN role named `prefix` and a random suffix, with a random password."""
    role = Role(f"{prefix}_{uuid.uuid4().hex[:8]}", secrets.token_hex(16))
    admin.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role.name), sql.Literal(role.password)
        )
    )
    return role


def create_ticking_role(admin: psycopg.Connection, read_all_stats: bool = True) -> Role:
    """A new role holding exactly the ticking role's grants in the test database."""
    role = create_login_role(admin, "usage_rollup_ticker")
    admin.execute(ticking_role_grants(role.name, admin.info.dbname, read_all_stats))
    return role


def drop_role(admin: psycopg.Connection, role: Role) -> None:
    """End the role's sessions (the test's own), then its grants here, then the role."""
    admin.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = %s",
        [role.name],
    )
    admin.execute(f"DROP OWNED BY {role.name}")
    admin.execute(f"DROP ROLE {role.name}")


@contextlib.contextmanager
def database_alias(alias: str, **overrides) -> Iterator[str]:
    """A Django connection alias for the test database with some settings changed (USER, HOST,
    PORT...), so the core's functions can be called through it (`using=alias`). It is not in
    DATABASES but set on this thread's connections, as Django's tests allow for a connection
    made at run time; closed and removed on exit."""
    wrapper = connection.copy(alias)
    wrapper.settings_dict.update(overrides)
    connections[alias] = wrapper
    try:
        yield alias
    finally:
        wrapper.close()
        del connections[alias]


# Transaction pooling over a warm pool of POOL_SIZE server connections, handed out in turn
# (server_round_robin) rather than the last one used first: each transaction of a client runs on
# another server connection, as on a busy pooler, so whatever outlives a transaction shows.
POOL_SIZE = 4
PGBOUNCER_INI = """\
[databases]
{dbname} = host={server_host} port={server_port} dbname={dbname}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {auth_file}
pool_mode = transaction
default_pool_size = {pool_size}
server_round_robin = 1
ignore_startup_parameters = extra_float_digits,options
"""


@dataclasses.dataclass(frozen=True)
class PgBouncer:
    """A running PgBouncer in transaction mode that pools connections to the test database."""

    port: int
    dbname: str
    user: str

    def connect(self, **kwargs) -> psycopg.Connection:
        """An autocommit connection through the pooler (no prepared statements: PgBouncer 1.18
        cannot keep them in transaction mode)."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname=self.dbname,
            user=self.user,
            autocommit=True,
            prepare_threshold=None,
            **kwargs,
        )

    def database_url(self) -> str:
        """DATABASE_URL through the pooler, as the runbook's "Behind PgBouncer" says to set it."""
        return (
            f"postgres://{self.user}@127.0.0.1:{self.port}/{self.dbname}"
            "?disable_server_side_cursors=true"
        )

    def django_alias(self, alias: str = "pooled") -> contextlib.AbstractContextManager[str]:
        """A Django alias through the pooler, as database_alias() makes one."""
        return database_alias(
            alias, HOST="127.0.0.1", PORT=str(self.port), DISABLE_SERVER_SIDE_CURSORS=True
        )


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer", path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin")


def _pooler_os_user(server_host: str) -> str | None:
    """Who PgBouncer runs as: it refuses to run as root. A socket directory is reachable by its
    owner (the embedded server's data directory is 0700, owned by the server's own OS user), a
    TCP host by anyone; None keeps the current (non-root) user."""
    if os.geteuid() != 0:
        return None
    if server_host.startswith("/"):
        owner = pwd.getpwuid(os.stat(server_host).st_uid).pw_name
        if owner != "root":
            return owner
    return "postgres"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_accepting(pooler: PgBouncer, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {process.returncode}:\n{log.read_text()}")
        try:
            pooler.connect(connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _warm(pooler: PgBouncer) -> None:
    """Open every server connection of the pool: POOL_SIZE transactions at once."""
    clients = [pooler.connect() for _ in range(POOL_SIZE)]
    for client in clients:
        client.execute("BEGIN")
        client.execute("SELECT 1")
    for client in clients:
        client.execute("COMMIT")  # a client that leaves inside a transaction costs its server
        client.close()


@contextlib.contextmanager
def running_pgbouncer(binary: str) -> Iterator[PgBouncer]:
    """Start PgBouncer in front of the test database on a free loopback port; stop it on exit."""
    server = server_conninfo()
    server_host = server.get("host") or "/var/run/postgresql"
    os_user = _pooler_os_user(server_host)
    workdir = Path(tempfile.mkdtemp(prefix="usage-rollup-pgbouncer-"))
    pooler = PgBouncer(port=_free_port(), dbname=server["dbname"], user=server["user"])
    # Clients are trusted; the password, if any, is the one PgBouncer logs in to the server with.
    (workdir / "users.txt").write_text(f'"{pooler.user}" "{server.get("password", "")}"\n')
    (workdir / "pgbouncer.ini").write_text(
        PGBOUNCER_INI.format(
            dbname=pooler.dbname,
            server_host=server_host,
            server_port=server.get("port") or 5432,
            port=pooler.port,
            auth_file=workdir / "users.txt",
            pool_size=POOL_SIZE,
        )
    )
    if os_user is not None:
        shutil.chown(workdir, os_user)
    log = workdir / "pgbouncer.log"
    with open(log, "w") as log_file:
        process = subprocess.Popen(
            [binary, str(workdir / "pgbouncer.ini")],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            user=os_user,
            group=None if os_user is None else pwd.getpwnam(os_user).pw_gid,
        )
    try:
        _wait_until_accepting(pooler, process, log)
        _warm(pooler)
        yield pooler
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir)
