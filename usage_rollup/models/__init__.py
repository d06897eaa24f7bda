from usage_rollup.models.platform import Agent, AgentRuntime, AgentTaskQueue, TaskUsage, Workspace
from usage_rollup.models.rollup import (
    TaskUsageDaily,
    TaskUsageDailyDirty,
    TaskUsageDailyQuarters,
    TaskUsageDailySetAside,
    TaskUsageRollupState,
)

__all__ = [
    "Agent",
    "AgentRuntime",
    "AgentTaskQueue",
    "TaskUsage",
    "TaskUsageDaily",
    "TaskUsageDailyDirty",
    "TaskUsageDailyQuarters",
    "TaskUsageDailySetAside",
    "TaskUsageRollupState",
    "Workspace",
]
