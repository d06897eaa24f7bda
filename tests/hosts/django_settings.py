"""A host with its own Django models on the platform's tables: it installs only the rollup."""

from project.settings import *  # noqa: F403

INSTALLED_APPS = [
    *(app for app in INSTALLED_APPS if app != "usage_rollup.source"),  # noqa: F405
    "tests.hosts.django_host",
]
