"""Settings of the usage rollup, each read at call time by one accessor (tests override them).

USAGE_ROLLUP_READ_MODE (Django setting, else environment; default unset): where usage reads are
    served from: "raw" (the source table), "rollup" (task_usage_daily, as fresh as its last tick)
    or "realtime" (the rollup's settled buckets plus the raw rows of the pending ones: always
    equal to raw). When set, it wins over USAGE_DAILY_ROLLUP_ENABLED.
USAGE_DAILY_ROLLUP_ENABLED (Django setting, else environment; default "false"): without a read
    mode, "true" serves usage from the rollup, anything else from the raw table.
"""

import os
from typing import Literal, get_args

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ReadMode = Literal["raw", "rollup", "realtime"]
READ_MODES: tuple[ReadMode, ...] = get_args(ReadMode)


def _setting_or_env(name: str, default: str) -> str:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return str(value)


def read_mode() -> ReadMode:
    """Where usage reads are served from: "raw", "rollup" or "realtime"."""
    value = _setting_or_env("USAGE_ROLLUP_READ_MODE", "")
    mode = value.strip().lower()
    if mode:
        if mode not in READ_MODES:
            raise ImproperlyConfigured(
                f"USAGE_ROLLUP_READ_MODE must be one of {', '.join(READ_MODES)}, not {value!r}"
            )
        return mode
    enabled = _setting_or_env("USAGE_DAILY_ROLLUP_ENABLED", "false").strip().lower() == "true"
    return "rollup" if enabled else "raw"
