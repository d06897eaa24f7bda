from django.apps import AppConfig


class DjangoHostConfig(AppConfig):
    name = "tests.hosts.django_host"
    label = "django_host"
    default_auto_field = "django.db.models.BigAutoField"
