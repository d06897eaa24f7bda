"""What the rollup needs of the platform's tables, checked before it installs and by `check`.

The source tables are the host's (SPEC section 2): the rollup adds only its own objects. Before
its first migration changes anything, and whenever `manage.py check --database <alias>` runs, it
reads the catalog and names every problem at once: a missing table or column, a wrong type, a
nullable key column, a missing foreign key the triggers' locking protocol relies on, or one of the
rollup's own table names already taken by the host.

What it does not require, on purpose: `task_usage.updated_at` (its migration adds it), any
`ON DELETE` action (the triggers queue buckets before a row goes, whether the database cascades,
Django's collector deletes child rows first, or the delete is refused), and immediate foreign
keys (a deferred check takes the same row lock at commit, before the commit is visible; the
interleaving tests run both ways). Extra columns, constraints, keys and indexes are the host's
business and are left alone.
"""

import dataclasses

from django.core import checks
from django.core.management import CommandError
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader

TEXT = ("text", "character varying")
INTEGER = ("bigint", "integer", "smallint")
UUID = ("uuid",)
TIMESTAMPTZ = ("timestamp with time zone",)
ANY = ()


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    types: tuple[str, ...]
    not_null: bool = False
    # The rollup's own column: added by its migration when the platform has none.
    added_by_rollup: bool = False


@dataclasses.dataclass(frozen=True)
class ForeignKey:
    table: str
    column: str
    references: str
    why: str


REQUIRED: dict[str, tuple[Column, ...]] = {
    "workspace": (Column("id", UUID), Column("name", TEXT)),
    "agent_runtime": (
        Column("id", UUID),
        Column("workspace_id", UUID, not_null=True),
        Column("name", TEXT),
    ),
    "agent": (Column("id", UUID), Column("workspace_id", UUID, not_null=True)),
    "agent_task_queue": (
        Column("id", UUID),
        Column("agent_id", UUID, not_null=True),
        Column("runtime_id", UUID),
    ),
    "task_usage": (
        Column("id", ANY),
        Column("task_id", UUID, not_null=True),
        Column("provider", TEXT, not_null=True),
        Column("model", TEXT, not_null=True),
        Column("input_tokens", INTEGER),
        Column("output_tokens", INTEGER),
        Column("cache_read_tokens", INTEGER),
        Column("cache_write_tokens", INTEGER),
        Column("created_at", TIMESTAMPTZ, not_null=True),
        Column("updated_at", TIMESTAMPTZ, added_by_rollup=True),
    ),
}

# A writer's foreign-key check locks the referenced row FOR KEY SHARE: the triggers' locking
# protocol (sql/task_usage_daily_enqueue_usage_rows.v3.sql) waits on exactly that lock.
REQUIRED_KEYS = (
    ForeignKey(
        "task_usage",
        "task_id",
        "agent_task_queue",
        "a reassignment or delete of the task waits for its in-flight usage writers through it",
    ),
    ForeignKey(
        "agent_task_queue",
        "agent_id",
        "agent",
        "an agent's move or delete waits for tasks being created for it through it",
    ),
)

ROLLUP_TABLES = (
    "task_usage_daily",
    "task_usage_daily_dirty",
    "task_usage_daily_set_aside",
    "task_usage_rollup_state",
    "task_usage_daily_deleted_tasks",
    "task_usage_daily_deleted_usage",
    "task_usage_daily_quarters",
)
ROLLUP_TYPES = ("task_usage_bucket_key", "task_usage_task_owner")

HINT = (
    "The rollup installs onto the platform's existing tables and changes none of them (the "
    "README, 'Add it to your project'). A project without these tables adds the app "
    "usage_rollup.source, which creates them."
)

FIRST_MIGRATION = ("usage_rollup", "0001_initial")
SOURCE_APP_MIGRATION = ("usage_rollup_source", "0001_initial")


class IncompatibleSchema(CommandError):
    """The database lacks something the rollup needs; nothing was changed. A CommandError, so
    that `manage.py migrate` prints it as one message, not a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"The rollup cannot be installed on this database; nothing was changed. "
            f"{len(problems)} problem(s):\n{listed}"
        )


def _columns(cursor, table: str) -> dict[str, tuple[str, bool]] | None:
    """The table's columns as {name: (type, not null)}, resolved through the search_path like the
    rollup's SQL resolves it; None when there is no such table."""
    cursor.execute(
        """
        SELECT c.relkind, a.attname, format_type(a.atttypid, NULL), a.attnotnull
          FROM pg_class c
          LEFT JOIN pg_attribute a
            ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.oid = to_regclass(%s)
        """,
        [table],
    )
    rows = cursor.fetchall()
    if not rows:
        return None
    if rows[0][0] not in ("r", "p"):
        return {}
    return {name: (type_name, not_null) for _, name, type_name, not_null in rows}


def _has_foreign_key(cursor, key: ForeignKey) -> bool:
    cursor.execute(
        """
        SELECT EXISTS (
            SELECT FROM pg_constraint k
             WHERE k.contype = 'f'
               AND k.conrelid = to_regclass(%s)
               AND k.confrelid = to_regclass(%s)
               AND k.conkey = ARRAY[(SELECT attnum FROM pg_attribute
                                      WHERE attrelid = to_regclass(%s) AND attname = %s)]
        )
        """,
        [key.table, key.references, key.table, key.column],
    )
    return cursor.fetchone()[0]


def _taken_names(cursor) -> list[str]:
    names = [*ROLLUP_TABLES, *ROLLUP_TYPES]
    cursor.execute(
        "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regtype(name) IS NOT NULL",
        [names],
    )
    return [name for (name,) in cursor.fetchall()]


def problems(connection: BaseDatabaseWrapper, installing: bool) -> list[str]:
    """Every reason the rollup cannot run on this database's source tables, in words.

    `installing`: the rollup's objects are about to be created, so their names must be free.
    """
    found = []
    with connection.cursor() as cursor:
        tables = {table: _columns(cursor, table) for table in REQUIRED}
        for table, required in REQUIRED.items():
            columns = tables[table]
            if columns is None:
                found.append(f"table {table} is missing")
                continue
            if not columns:
                found.append(f"{table} is not a table (the rollup needs triggers on it)")
                continue
            for column in required:
                if column.name not in columns:
                    if not (column.added_by_rollup and installing):
                        found.append(f"column {table}.{column.name} is missing")
                    continue
                type_name, not_null = columns[column.name]
                if column.types and type_name not in column.types:
                    found.append(
                        f"column {table}.{column.name} is {type_name}; the rollup needs "
                        f"{' or '.join(column.types)}"
                    )
                if column.not_null and not not_null:
                    found.append(f"column {table}.{column.name} must be NOT NULL")
        for key in REQUIRED_KEYS:
            if tables[key.table] and tables[key.references] and not _has_foreign_key(cursor, key):
                found.append(
                    f"no foreign key from {key.table}.{key.column} to {key.references}: {key.why}"
                )
        if installing:
            found.extend(
                f"{name} already exists and is not the rollup's: it would not be replaced"
                for name in _taken_names(cursor)
            )
    return found


def _applied(connection: BaseDatabaseWrapper) -> set[tuple[str, str]]:
    # The loader counts a migration applied when every migration it replaces is (a database
    # installed by the earlier history), which the recorder's table alone does not say yet.
    return set(MigrationLoader(connection, ignore_no_migrations=True).applied_migrations)


def check_database(connection: BaseDatabaseWrapper) -> tuple[bool, list[str]]:
    """Whether the rollup is installed on this database, and the problems of its schema.

    Nothing to report while the bundled source app is installed but not yet migrated: its own
    migration creates the tables, and runs before the rollup's.
    """
    from django.apps import apps

    applied = _applied(connection)
    installed = FIRST_MIGRATION in applied
    if (
        not installed
        and apps.is_installed("usage_rollup.source")
        and SOURCE_APP_MIGRATION not in applied
    ):
        return installed, []
    return installed, problems(connection, installing=not installed)


def require_compatible(connection: BaseDatabaseWrapper) -> None:
    """Raise IncompatibleSchema naming every problem; the rollup's first migration calls it."""
    found = problems(connection, installing=True)
    if found:
        raise IncompatibleSchema(found)


def system_check(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check --database <alias>`, and migrate before it runs, report the problems:
    as errors once the rollup is installed (it runs on a schema it cannot rely on), as warnings
    before (a migration of the host's may still create what is missing; if not, the rollup's
    first migration stops on the same problems, having changed nothing)."""
    messages = []
    for alias in databases or ():
        try:
            installed, found = check_database(connections[alias])
        except DatabaseError as error:
            messages.append(
                checks.Warning(f"cannot read database {alias!r}: {error}", id="usage_rollup.W002")
            )
            continue
        for problem in found:
            if installed:
                messages.append(checks.Error(problem, hint=HINT, id="usage_rollup.E001"))
            else:
                messages.append(
                    checks.Warning(
                        f"the rollup cannot be installed on database {alias!r} yet: {problem}",
                        hint=HINT,
                        id="usage_rollup.W001",
                    )
                )
    return messages
