"""The database sessions of a process that runs one of the app's commands are named
`usage_rollup:<command>` (application_name), so that an operator tells them apart in
pg_stat_activity: the loop that ticks, a backfill, a verification, the demo.

Set once for the process, when Django loads the app (apps.py), from the command line as Django
reads it (argv[1] is the command); a process that is not running one of them, a web worker or a
host's own command calling call_command, keeps its own name. A name the database's settings
give (OPTIONS, `?application_name=` in DATABASE_URL) or PGAPPNAME gives is kept.
"""

import os
from collections.abc import Sequence
from pathlib import Path

from django.core.management import find_commands
from django.db.backends.signals import connection_created

PREFIX = "usage_rollup:"
# The rollup's commands, and the demo of the optional source app.
COMMAND_FOLDERS = (Path(__file__).parent, Path(__file__).parents[1] / "source" / "management")


def command_of(argv: Sequence[str]) -> str | None:
    """The app's command this process runs, when it runs one (`manage.py <command> ...`)."""
    commands = {name for folder in COMMAND_FOLDERS for name in find_commands(str(folder))}
    if len(argv) > 1 and argv[1] in commands:
        return argv[1]
    return None


def name_command_sessions(argv: Sequence[str]) -> None:
    """Name each database session this process opens `usage_rollup:<command>`, if it runs one."""
    command = command_of(argv)
    if command is None or os.environ.get("PGAPPNAME"):
        return
    name = PREFIX + command

    def name_session(sender, connection, **kwargs) -> None:
        options = connection.settings_dict.get("OPTIONS", {})
        if connection.vendor == "postgresql" and "application_name" not in options:
            with connection.cursor() as cursor:
                # A session setting, which the server reports to the client: a pooler in
                # transaction mode (PgBouncer) keeps it with this client, not with the server.
                cursor.execute("SELECT set_config('application_name', %s, false)", [name])

    connection_created.connect(name_session, weak=False, dispatch_uid="usage_rollup.sessions")
