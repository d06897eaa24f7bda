"""A host whose platform tables come from its own SQL migrations: it installs only the rollup."""

from project.settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "usage_rollup.source"]  # noqa: F405
