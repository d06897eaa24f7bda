from usage_rollup.models.platform import Agent, AgentRuntime, AgentTaskQueue, TaskUsage, Workspace
from usage_rollup.models.rollup import (
    TaskUsageDaily,
    TaskUsageDailyDirty,
    TaskUsageDailySetAside,
    TaskUsageHourly,
    TaskUsageRollupState,
)

__all__ = [
    "Agent",
    "AgentRuntime",
    "AgentTaskQueue",
    "TaskUsage",
    "TaskUsageDaily",
    "TaskUsageDailyDirty",
    "TaskUsageDailySetAside",
    "TaskUsageHourly",
    "TaskUsageRollupState",
    "Workspace",
]
