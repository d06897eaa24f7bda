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


def free_port() -> int:
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
    pooler = PgBouncer(port=free_port(), dbname=server["dbname"], user=server["user"])
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


# Debian's PostgreSQL 15 (.ci/run installs it): the binaries that start a primary and its hot
# standby of the tests' own, beside whatever server the rest of the tests use.
PG15_BIN = Path("/usr/lib/postgresql/15/bin")
STANDBY_DATABASE = "usage_rollup_standby"
# Small and unsafe on a crash (these clusters live for one test run), loopback only, no socket.
# hot_standby_feedback keeps the primary's vacuum from removing rows a standby's snapshot still
# reads (a read would be cancelled "due to conflict with recovery"); the runbook says so too.
_NODE_CONF = """
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
shared_buffers = 32MB
max_connections = 40
fsync = off
hot_standby_feedback = on
wal_receiver_status_interval = 1s
"""


def pg15_available() -> bool:
    return (PG15_BIN / "initdb").exists() and (PG15_BIN / "pg_basebackup").exists()


def _as_postgres() -> dict:
    """initdb and postgres refuse to run as root: run them as Debian's postgres user then."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": pwd.getpwnam("postgres").pw_gid}


@dataclasses.dataclass(frozen=True)
class Node:
    """One PostgreSQL 15 server of the tests' own, in `datadir`, on 127.0.0.1:`port`; its
    superuser is postgres, trusted on loopback."""

    datadir: Path
    port: int

    def run(self, *command: str) -> None:
        """Run one of PostgreSQL's programs as the server's OS user; its output on failure."""
        done = subprocess.run(
            [str(PG15_BIN / command[0]), *command[1:]],
            capture_output=True,
            text=True,
            **_as_postgres(),
        )
        if done.returncode != 0:
            log = self.datadir.with_suffix(".log")
            raise RuntimeError(
                f"{command[0]} failed ({done.returncode}): {done.stdout}{done.stderr}"
                + (log.read_text() if log.exists() else "")
            )

    def start(self) -> None:
        self.run("pg_ctl", "-D", str(self.datadir), "-l", f"{self.datadir}.log", "-w", "start")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped, or never started
            self.run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")

    def promote(self) -> None:
        self.run("pg_ctl", "-D", str(self.datadir), "-w", "promote")

    def connect(self, dbname: str = STANDBY_DATABASE, **kwargs) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, **kwargs
        )

    def settings(self, **overrides) -> dict:
        """Django connection settings for this server's test database, after default's."""
        return {
            **connection.settings_dict,
            "NAME": STANDBY_DATABASE,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "USER": "postgres",
            "PASSWORD": "",
            "OPTIONS": {},
            "CONN_MAX_AGE": 0,
            **overrides,
        }


def start_primary(workdir: Path) -> Node:
    """initdb and start a primary in workdir/primary, and create the test database on it."""
    node = Node(workdir / "primary", free_port())
    node.run("initdb", "-D", str(node.datadir), "-U", "postgres", "--auth=trust", "--no-sync")
    with open(node.datadir / "postgresql.conf", "a") as conf:
        conf.write(_NODE_CONF + f"port = {node.port}\n")
    node.start()
    with node.connect("postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {STANDBY_DATABASE}")
    return node


def start_standby(primary: Node, name: str) -> Node:
    """A hot standby of `primary` in a sibling folder, streaming from it (pg_basebackup -R)."""
    node = Node(primary.datadir.parent / name, free_port())
    # -c fast: an immediate checkpoint, where the default spread one waits for minutes.
    node.run(
        "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
        "-D", str(node.datadir), "-R", "-c", "fast",
    )  # fmt: skip
    with open(node.datadir / "postgresql.conf", "a") as conf:
        conf.write(f"port = {node.port}\n")  # the last setting of a name wins
    node.start()
    return node


def wait_for_replay(primary: Node, standby: Node, timeout: float = 15) -> None:
    """Wait until `standby` has replayed everything `primary` has written so far."""
    with primary.connect(autocommit=True) as conn:
        (lsn,) = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    deadline = time.monotonic() + timeout
    with standby.connect(autocommit=True) as conn:
        while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[
            0
        ]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby on port {standby.port} did not replay {lsn}")
            time.sleep(0.02)


def _close_alias(alias: str) -> None:
    """Close and forget this thread's connection of `alias`, if it has one."""
    if any(opened.alias == alias for opened in connections.all(initialized_only=True)):
        connections[alias].close()
        del connections[alias]


@contextlib.contextmanager
def registered_alias(alias: str, settings_dict: dict) -> Iterator[str]:
    """A DATABASES alias added at run time, so that commands' --database accept it (their
    choices are the aliases of DATABASES); its connection is closed and the alias removed on
    exit. An alias that exists ("default") is pointed elsewhere, and back on exit."""
    saved = connections.settings.get(alias)
    _close_alias(alias)
    connections.settings[alias] = settings_dict
    try:
        yield alias
    finally:
        _close_alias(alias)
        if saved is None:
            del connections.settings[alias]
        else:
            connections.settings[alias] = saved
