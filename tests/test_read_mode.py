"""Which read mode serves usage (USAGE_ROLLUP_READ_MODE, else USAGE_DAILY_ROLLUP_ENABLED) and from
which database (USAGE_ROLLUP_READ_DATABASE, USAGE_ROLLUP_READ_MAX_LAG_SECONDS), each read
at call time (usage_rollup/config.py)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from usage_rollup import config

NAMES = (
    "USAGE_ROLLUP_READ_MODE",
    "USAGE_DAILY_ROLLUP_ENABLED",
    "USAGE_ROLLUP_READ_DATABASE",
    "USAGE_ROLLUP_READ_MAX_LAG_SECONDS",
)


@pytest.fixture(autouse=True)
def unset(settings, monkeypatch):
    """Neither setting nor environment variable is set, unless the test sets one."""
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
        if hasattr(settings, name):
            delattr(settings, name)


def test_reads_are_raw_by_default():
    assert config.read_mode() == "raw"


@pytest.mark.parametrize("flag, mode", [("true", "rollup"), ("TRUE", "rollup"), ("1", "raw")])
def test_the_rollup_flag_true_selects_the_rollup(settings, flag, mode):
    settings.USAGE_DAILY_ROLLUP_ENABLED = flag
    assert config.read_mode() == mode


@pytest.mark.parametrize("mode", ["raw", "rollup", "realtime"])
def test_the_read_mode_wins_over_the_rollup_flag(settings, mode):
    settings.USAGE_DAILY_ROLLUP_ENABLED = "true"
    settings.USAGE_ROLLUP_READ_MODE = mode
    assert config.read_mode() == mode


def test_the_environment_serves_when_there_is_no_setting(monkeypatch):
    monkeypatch.setenv("USAGE_ROLLUP_READ_MODE", "realtime")
    assert config.read_mode() == "realtime"


def test_the_setting_wins_over_the_environment(settings, monkeypatch):
    monkeypatch.setenv("USAGE_ROLLUP_READ_MODE", "realtime")
    settings.USAGE_ROLLUP_READ_MODE = "rollup"
    assert config.read_mode() == "rollup"


def test_the_read_mode_is_read_at_each_call(settings):
    settings.USAGE_ROLLUP_READ_MODE = "rollup"
    assert config.read_mode() == "rollup"
    settings.USAGE_ROLLUP_READ_MODE = "realtime"
    assert config.read_mode() == "realtime"


@pytest.mark.parametrize("value", ["real-time", "fast", "rollup,raw"])
def test_an_unknown_read_mode_is_a_configuration_error(settings, value):
    settings.USAGE_ROLLUP_READ_MODE = value
    with pytest.raises(ImproperlyConfigured, match="USAGE_ROLLUP_READ_MODE must be one of"):
        config.read_mode()


def test_realtime_reads_scopes_of_up_to_500_tasks_raw_by_default(settings):
    del settings.USAGE_ROLLUP_REALTIME_RAW_MAX_TASKS  # set to 0 for every test by conftest
    assert config.realtime_raw_max_tasks() == 500


@pytest.mark.parametrize("value", ["-1", "many", "2.5"])
def test_a_realtime_raw_path_bound_that_is_no_count_is_a_configuration_error(settings, value):
    settings.USAGE_ROLLUP_REALTIME_RAW_MAX_TASKS = value
    with pytest.raises(ImproperlyConfigured, match="USAGE_ROLLUP_REALTIME_RAW_MAX_TASKS"):
        config.realtime_raw_max_tasks()


def test_reads_go_to_the_default_database_unless_told_otherwise():
    assert config.read_database() == "default"


def test_the_read_database_is_an_alias_from_the_environment_too(monkeypatch):
    monkeypatch.setenv("USAGE_ROLLUP_READ_DATABASE", " default ")
    assert config.read_database() == "default"


def test_a_read_database_that_is_no_alias_is_a_configuration_error_naming_it(settings):
    settings.USAGE_ROLLUP_READ_DATABASE = "replcia"
    with pytest.raises(
        ImproperlyConfigured, match=r"alias of DATABASES \(default\), not 'replcia'"
    ):
        config.read_database()


def test_reads_leave_a_standby_trailing_by_a_minute_by_default_or_never_when_empty(settings):
    assert config.read_max_lag_seconds() == 60
    settings.USAGE_ROLLUP_READ_MAX_LAG_SECONDS = ""
    assert config.read_max_lag_seconds() is None


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_a_read_lag_limit_that_is_no_number_is_a_configuration_error(settings, value):
    settings.USAGE_ROLLUP_READ_MAX_LAG_SECONDS = value
    with pytest.raises(ImproperlyConfigured, match="USAGE_ROLLUP_READ_MAX_LAG_SECONDS"):
        config.read_max_lag_seconds()
