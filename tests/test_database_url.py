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


def test_the_environment_switch_disables_server_side_cursors_too():
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://app@db/app",
        "DJANGO_DISABLE_SERVER_SIDE_CURSORS": "true",
    }
    show = (
        "from project.settings import DATABASES; "
        "print(DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", show],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert done.stdout == "True\n"
