"""The rollup's migration operations: RunSQLFile runs one file of `usage_rollup/sql/`;
InstallTrigger and UninstallTrigger install and remove a trigger on a platform table; the index
builders run CREATE INDEX CONCURRENTLY safely to repeat."""

from pathlib import Path

import pgtrigger.migrations
from django.db import migrations, router

SQL_DIR = Path(__file__).resolve().parent / "sql"


class RunSQLFile(migrations.RunSQL):
    """Run `sql/<name>` forwards, and `reverse_sql` (if given) backwards.

    A released file is never edited: a new version of an object is a new file and a new
    migration, so a migration always replays exactly the SQL it shipped with.
    """

    def __init__(self, name: str, reverse_sql: str | None = None, **kwargs) -> None:
        self.name = name
        super().__init__(
            sql=(SQL_DIR / name).read_text(),
            reverse_sql=reverse_sql if reverse_sql is not None else migrations.RunSQL.noop,
            **kwargs,
        )

    def deconstruct(self):
        kwargs = {"name": self.name}
        if self.reverse_sql is not migrations.RunSQL.noop:
            kwargs["reverse_sql"] = self.reverse_sql
        return self.__class__.__qualname__, [], kwargs

    def describe(self) -> str:
        return f"Run sql/{self.name}"


class InstallTrigger(pgtrigger.migrations.AddTrigger):
    """pgtrigger's AddTrigger, for a trigger on a table the rollup does not manage.

    The platform's tables are the host's, so the rollup's models of them are unmanaged, and Django
    (hence AddTrigger) migrates nothing of an unmanaged model. The triggers are the rollup's own
    objects all the same: this installs them wherever the database router lets the app migrate.
    """

    def allow_migrate_model_trigger(self, schema_editor, model) -> bool:
        return schema_editor.connection.vendor == "postgresql" and router.allow_migrate_model(
            schema_editor.connection.alias, model
        )


class UninstallTrigger(pgtrigger.migrations.RemoveTrigger):
    """pgtrigger's RemoveTrigger, for a trigger on a table the rollup does not manage (see
    InstallTrigger)."""

    allow_migrate_model_trigger = InstallTrigger.allow_migrate_model_trigger


def build_index_concurrently(cursor, name: str, definition: str) -> None:
    """CREATE INDEX CONCURRENTLY `name` ON `definition`, in a migration with atomic = False. An
    index of that name left INVALID by an interrupted build is dropped and built again; a valid
    one is kept, so running it again is safe."""
    cursor.execute(
        "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)", [name]
    )
    found = cursor.fetchone()
    if found is not None and found[0]:
        return
    if found is not None:
        cursor.execute(f"DROP INDEX CONCURRENTLY {name}")
    cursor.execute(f"CREATE INDEX CONCURRENTLY {name} ON {definition}")


def index_leading_with(cursor, table: str, column: str) -> str | None:
    """The name of a valid index on `table` whose first column is `column` (the first by name),
    or None."""
    cursor.execute(
        """
        SELECT c.relname
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indexrelid
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = to_regclass(%s) AND a.attname = %s AND i.indisvalid
         ORDER BY c.relname
         LIMIT 1
        """,
        [table, column],
    )
    found = cursor.fetchone()
    return found[0] if found else None


def build_lookup_index(cursor, name: str, table: str, column: str) -> None:
    """An index on the platform's `table` (`column`) for the triggers' or the tick's lookups,
    built only where no valid index of the platform's starts with that column already."""
    if index_leading_with(cursor, table, column) is None:
        build_index_concurrently(cursor, name, f"{table} ({column})")
