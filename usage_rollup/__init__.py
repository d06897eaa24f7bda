"""django-usage-rollup: an exact, incrementally maintained daily rollup of `task_usage`.

The names below are the app's public API: what a host project imports, stable across versions
(anything else is internal). Each is imported from its module on first use, so that
`import usage_rollup` is cheap and needs no Django settings (Django imports this package while it
loads its apps, before any model exists); the functions need settings when they are called.
"""

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what type checkers and editors see: the names, typed, from their modules
    from usage_rollup.queries import (
        AgentUsageRow,
        HourUsageRow,
        RuntimeUsageRow,
        SummaryRow,
        UnknownTimeZone,
        UsageTotals,
        WorkspaceUsageRow,
        period_start,
        runtime_usage,
        runtime_usage_by_agent,
        runtime_usage_by_hour,
        time_zone,
        usage_summary,
        workspace_usage,
    )
    from usage_rollup.rollup import (
        BackfillObserver,
        BackfillResult,
        CatchUpResult,
        CronJob,
        RollupError,
        RollupState,
        Slice,
        TickResult,
        backfill,
        catch_up,
        plan_backfill,
        run_loop,
        run_window,
        schedule,
        state,
        tick,
        unschedule,
    )
    from usage_rollup.standby import ReadTarget, read_target, replay_lag_seconds
    from usage_rollup.verification import BucketDifference, VerifyReport, verify

# Where the names of __all__ live, as the imports above say. Ruff checks that each of those
# imports is in __all__; tests/test_public_api.py that each name of __all__ resolves.
_MODULES = (
    "usage_rollup.rollup",
    "usage_rollup.verification",
    "usage_rollup.queries",
    "usage_rollup.standby",
)

__all__ = [
    # The rollup: ticks, the scheduler, the backfill, pg_cron, the state.
    "tick",
    "catch_up",
    "run_loop",
    "run_window",
    "backfill",
    "plan_backfill",
    "state",
    "schedule",
    "unschedule",
    "RollupError",
    "TickResult",
    "CatchUpResult",
    "BackfillResult",
    "BackfillObserver",
    "Slice",
    "RollupState",
    "CronJob",
    # Verification against the raw rows.
    "verify",
    "VerifyReport",
    "BucketDifference",
    # The reads, in the configured read mode, and the rows they return.
    "runtime_usage",
    "workspace_usage",
    "usage_summary",
    "runtime_usage_by_agent",
    "runtime_usage_by_hour",
    "UsageTotals",
    "RuntimeUsageRow",
    "WorkspaceUsageRow",
    "SummaryRow",
    "AgentUsageRow",
    "HourUsageRow",
    # Days in a time zone: the period of the last N days there, and the zone names it takes.
    "period_start",
    "time_zone",
    "UnknownTimeZone",
    # Reads on a hot standby: which database to read, and how far a standby trails.
    "read_target",
    "ReadTarget",
    "replay_lag_seconds",
]


def __getattr__(name: str):
    if name in __all__:
        for module in map(import_module, _MODULES):
            if hasattr(module, name):
                globals()[name] = value = getattr(module, name)  # later lookups skip this
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
