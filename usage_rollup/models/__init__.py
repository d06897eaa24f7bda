from usage_rollup.models.platform import Agent, AgentRuntime, AgentTaskQueue, TaskUsage, Workspace
from usage_rollup.models.rollup import (
    TaskUsageDaily,
    TaskUsageDailyDirty,
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
    "TaskUsageDailySetAside",
    "TaskUsageRollupState",
    "Workspace",
]
