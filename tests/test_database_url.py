"""DATABASE_URL as project/settings.py reads it: libpq's parameters, and Django's one switch."""

import os
import subprocess
import sys

import pytest

from project.settings import database_from_url
from tests.processes import ROOT


def test_disable_server_side_cursors_is_a_django_setting_not_a_libpq_option():
    entry = database_from_url(
        "postgres://app@127.0.0.1:6432/app?disable_server_side_cursors=true&sslmode=disable"
    )

    assert entry["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert entry["OPTIONS"] == {"sslmode": "disable"}


def test_server_side_cursors_stay_enabled_by_default():
    assert database_from_url("postgres://app@db/app")["DISABLE_SERVER_SIDE_CURSORS"] is False


def test_a_switch_that_is_neither_true_nor_false_is_refused():
    with pytest.raises(ValueError, match="disable_server_side_cursors must be true or false"):
        database_from_url("postgres://app@db/app?disable_server_side_cursors=yes")


def _settings_show(expression: str, **env: str) -> str:
    """What `expression` prints once project/settings.py is imported with `env` set."""
    done = subprocess.run(
        [sys.executable, "-c", f"from project.settings import DATABASES; print({expression})"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": "postgres://app@db/app", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_the_environment_switch_disables_server_side_cursors_too():
    shown = _settings_show(
        "DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS']",
        DJANGO_DISABLE_SERVER_SIDE_CURSORS="true",
    )

    assert shown == "True\n"


def test_the_replica_url_becomes_a_replica_alias_that_mirrors_default_in_tests():
    replica = "DATABASES['replica']"
    shown = _settings_show(
        f"{replica}['HOST'], {replica}['PORT'], {replica}['TEST'], sorted(DATABASES)",
        DATABASE_REPLICA_URL="postgres://app@standby:5433/app",
    )

    assert shown == "standby 5433 {'MIRROR': 'default'} ['default', 'replica']\n"


def test_without_a_replica_url_there_is_no_replica_alias():
    assert _settings_show("sorted(DATABASES)", DATABASE_REPLICA_URL="") == "['default']\n"
