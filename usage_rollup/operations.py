"""The rollup's migration operations: RunSQLFile runs one file of `usage_rollup/sql/`;
InstallTrigger installs a trigger on a platform table."""

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
