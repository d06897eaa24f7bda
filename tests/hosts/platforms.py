"""A platform database of its own for an adoption test, owned by a role that is not a superuser."""

import subprocess
import uuid
from pathlib import Path

import psycopg

from tests.components import create_login_role, server_conninfo
from tests.processes import run_manage_py

PLATFORM_SQL = (Path(__file__).parent / "platform.sql").read_text()
PLATFORM_TABLES = ("workspace", "agent_runtime", "agent", "issue", "agent_task_queue", "task_usage")


class Platform:
    """A database of its own and its owner, a LOGIN role that is not a superuser."""

    def __init__(self, admin: psycopg.Connection) -> None:
        self.admin = admin
        self.role = create_login_role(admin, "platform_owner")
        self.owner, self.name = self.role.name, f"test_platform_{uuid.uuid4().hex[:8]}"
        admin.execute(f"GRANT pg_read_all_stats TO {self.owner}")
        admin.execute(f"CREATE DATABASE {self.name} OWNER {self.owner}")
        self.conninfo = {
            **server_conninfo(),
            "dbname": self.name,
            "user": self.owner,
            "password": self.role.password,
        }
        self.conn = psycopg.connect(**self.conninfo, autocommit=True)

    def url(self) -> str:
        return self.role.database_url(self.name)

    def manage(self, settings: str, *args: str) -> subprocess.CompletedProcess:
        return run_manage_py(
            *args, url=self.url(), env={"DJANGO_SETTINGS_MODULE": settings}, timeout=300
        )

    def insert(self, table: str, **values) -> uuid.UUID:
        columns = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        return self.conn.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id", list(values.values())
        ).fetchone()[0]

    def catalog(self) -> dict[str, set]:
        """The platform tables' columns, constraints and indexes, with their definitions."""
        tables = list(PLATFORM_TABLES)
        return {
            "columns": set(
                self.conn.execute(
                    """
                    SELECT table_name, column_name, data_type, is_nullable, column_default
                      FROM information_schema.columns WHERE table_name = ANY(%s)
                    """,
                    [tables],
                ).fetchall()
            ),
            "constraints": set(
                self.conn.execute(
                    """
                    SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                      FROM pg_constraint
                     WHERE conrelid::regclass::text = ANY(%s)
                       AND contype <> 'n'  -- NOT NULL (PostgreSQL 18): in the columns already
                    """,
                    [tables],
                ).fetchall()
            ),
            "indexes": set(
                self.conn.execute(
                    "SELECT tablename, indexname, indexdef FROM pg_indexes"
                    " WHERE tablename = ANY(%s)",
                    [tables],
                ).fetchall()
            ),
        }

    def tick(self) -> None:
        self.conn.execute("SELECT rollup_task_usage_daily('0 seconds')")

    def close(self) -> None:
        self.conn.close()
        self.admin.execute(f"DROP DATABASE {self.name} WITH (FORCE)")
        self.admin.execute(f"DROP ROLE {self.owner}")
