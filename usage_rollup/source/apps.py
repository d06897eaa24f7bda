from django.apps import AppConfig


class UsageRollupSourceConfig(AppConfig):
    name = "usage_rollup.source"
    label = "usage_rollup_source"
    verbose_name = "Platform (bundled source tables)"
    default_auto_field = "django.db.models.BigAutoField"
