import sys

from django.apps import AppConfig


class UsageRollupConfig(AppConfig):
    name = "usage_rollup"
    verbose_name = "Usage rollup"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from usage_rollup import schema
        from usage_rollup.management import sessions

        checks.register(schema.system_check, checks.Tags.database)

        sessions.name_command_sessions(sys.argv)
