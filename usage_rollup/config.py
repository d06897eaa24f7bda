"""Settings of the usage rollup, each read at call time by one accessor (tests override them).

Each is a Django setting, else an environment variable of the same name:

USAGE_ROLLUP_READ_MODE (default unset): where usage reads are served from: "raw" (the source
    table), "rollup" (task_usage_daily, as fresh as its last tick) or "realtime" (the rollup's
    settled buckets plus the raw rows of the pending ones: always equal to raw). When set, it
    wins over USAGE_DAILY_ROLLUP_ENABLED.
USAGE_DAILY_ROLLUP_ENABLED (default "false"): without a read mode, "true" serves usage from the
    rollup, anything else from the raw table.
USAGE_ROLLUP_REALTIME_RAW_MAX_TASKS (default 500): a realtime read of a scope with at most this
    many tasks sends the raw read instead (exact, and no dearer than the realtime statement for
    so few rows: benchmarks/README.md); 0 always sends the realtime statement.
USAGE_ROLLUP_READ_DATABASE (default "default"): the DATABASES alias that the read path's callers
    (the JSON API, the admin's usage charts) read usage from, such as a hot standby's.
USAGE_ROLLUP_READ_MAX_LAG_SECONDS (default 60): when the read database is a standby that trails
    its primary by more than this many seconds of replay, the JSON API reads from "default"
    instead; empty never falls back.
USAGE_ROLLUP_TICK_MAX_ROWS (default unset): changed rows a tick run from Python reads at most;
    unset leaves the database's own usage_rollup.tick_max_rows (100000 unless set there).
USAGE_ROLLUP_TICK_MAX_BUCKETS (default unset): queue entries a tick run from Python drains at
    most; unset leaves the database's own usage_rollup.tick_max_buckets (10000 unless set there).
USAGE_ROLLUP_BACKFILL_LOCK_TIMEOUT (default 10): seconds each step of a backfill waits for the
    rollup's lock before it gives up, because a long tick or window holds it.
USAGE_ROLLUP_BACKFILL_LEASE_SECONDS (default 120): how long a backfill's lease lasts past its
    latest slice; ticks skip while it is live, and resume this long after a backfill died.
USAGE_ROLLUP_LAG_ALERT_SECONDS (default 900): the lag at which the admin's health panel turns
    red (amber from half of it).
USAGE_ROLLUP_AUTHORIZE (default unset): the dotted path of a callable `(user, kind, obj) -> bool`
    that decides whether a user who holds the API's view permission may read the usage of `obj`,
    a workspace (kind "workspace") or a runtime (kind "runtime"); unset lets them read all.
USAGE_ROLLUP_METRICS_TOKEN (default unset): the bearer token that lets Prometheus scrape the
    metrics view without a user; unset, only signed-in users with the permission may read it.
"""

import os
from collections.abc import Callable
from typing import Any, Literal, get_args

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models
from django.utils.module_loading import import_string

ReadMode = Literal["raw", "rollup", "realtime"]
READ_MODES: tuple[ReadMode, ...] = get_args(ReadMode)

UsageOwnerKind = Literal["workspace", "runtime"]
# (user, kind, the workspace or runtime) -> whether the user may read its usage.
Authorize = Callable[[Any, UsageOwnerKind, models.Model], bool]


def _setting_or_env(name: str, default: str) -> str:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return str(value)


def _number(name: str, default: str, convert: type[int] | type[float], minimum: float):
    raw = _setting_or_env(name, default).strip()
    try:
        value = convert(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ImproperlyConfigured(f"{name} must be a number of at least {minimum}, not {raw!r}")
    return value


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


def read_database() -> str:
    """The DATABASES alias usage is read from by the JSON API and the admin's charts."""
    alias = _setting_or_env("USAGE_ROLLUP_READ_DATABASE", "default").strip() or "default"
    if alias not in connections:
        raise ImproperlyConfigured(
            f"USAGE_ROLLUP_READ_DATABASE must name an alias of DATABASES "
            f"({', '.join(connections)}), not {alias!r}"
        )
    return alias


def read_max_lag_seconds() -> float | None:
    """The replay lag, in seconds, past which reads leave a standby for "default" (None: never)."""
    if not _setting_or_env("USAGE_ROLLUP_READ_MAX_LAG_SECONDS", "60").strip():
        return None
    return _number("USAGE_ROLLUP_READ_MAX_LAG_SECONDS", "60", float, 0)


def realtime_raw_max_tasks() -> int:
    """The most tasks of a scope whose realtime read is served by the raw read (0: never)."""
    return _number("USAGE_ROLLUP_REALTIME_RAW_MAX_TASKS", "500", int, 0)


def tick_max_rows() -> int | None:
    """Changed rows one tick reads at most, or None to keep the database's setting."""
    if not _setting_or_env("USAGE_ROLLUP_TICK_MAX_ROWS", "").strip():
        return None
    return _number("USAGE_ROLLUP_TICK_MAX_ROWS", "", int, 1)


def tick_max_buckets() -> int | None:
    """Queue entries one tick drains at most, or None to keep the database's setting."""
    if not _setting_or_env("USAGE_ROLLUP_TICK_MAX_BUCKETS", "").strip():
        return None
    return _number("USAGE_ROLLUP_TICK_MAX_BUCKETS", "", int, 1)


def backfill_lease_seconds() -> float:
    """Seconds a backfill's lease lasts past its latest slice (ticks skip while it is live)."""
    return _number("USAGE_ROLLUP_BACKFILL_LEASE_SECONDS", "120", float, 0.001)


def backfill_lock_timeout() -> float:
    """Seconds a backfill waits for the rollup's advisory lock before it gives up."""
    return _number("USAGE_ROLLUP_BACKFILL_LOCK_TIMEOUT", "10", float, 0.001)


def lag_alert_seconds() -> float:
    """The rollup's lag, in seconds, past which the admin's health panel shows it red."""
    return _number("USAGE_ROLLUP_LAG_ALERT_SECONDS", "900", float, 1)


def _every_owner(user: Any, kind: UsageOwnerKind, obj: models.Model) -> bool:
    return True


def authorize() -> Authorize:
    """Who may read which workspace's or runtime's usage, beyond the API's view permission."""
    path = _setting_or_env("USAGE_ROLLUP_AUTHORIZE", "").strip()
    if not path:
        return _every_owner
    try:
        decide = import_string(path)
    except ImportError as error:
        raise ImproperlyConfigured(
            f"USAGE_ROLLUP_AUTHORIZE must be the dotted path of a callable "
            f"(user, kind, obj) -> bool, such as 'myproject.access.may_read_usage'; {path!r} "
            f"cannot be imported: {error}"
        ) from error
    if not callable(decide):
        raise ImproperlyConfigured(
            f"USAGE_ROLLUP_AUTHORIZE names {path!r}, which is not callable: it must be a "
            "callable (user, kind, obj) -> bool"
        )
    return decide


def metrics_token() -> str | None:
    """The bearer token that lets a scraper read the metrics view, or None when there is none."""
    return _setting_or_env("USAGE_ROLLUP_METRICS_TOKEN", "").strip() or None
