"""Settings of the usage rollup, each read at call time by one accessor (tests override them).

USAGE_DAILY_ROLLUP_ENABLED (Django setting, else environment; default "false"): "true" serves
    runtime usage from the rollup, anything else from the raw table.
"""

import os

from django.conf import settings


def _setting_or_env(name: str, default: str) -> str:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return str(value)


def rollup_read_enabled() -> bool:
    """Whether runtime usage is read from the rollup table (else from the raw table)."""
    return _setting_or_env("USAGE_DAILY_ROLLUP_ENABLED", "false").strip().lower() == "true"
