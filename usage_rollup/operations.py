"""RunSQLFile: a migration operation that runs one file of `usage_rollup/sql/`."""

from pathlib import Path

from django.db import migrations

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
