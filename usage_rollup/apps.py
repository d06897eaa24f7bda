import sys

from django.apps import AppConfig


class UsageRollupConfig(AppConfig):
    name = "usage_rollup"
    verbose_name = "Usage rollup"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from usage_rollup.management import sessions

        sessions.name_command_sessions(sys.argv)
