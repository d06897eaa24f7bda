from usage_rollup.models.rollup import (
    TaskUsageDaily,
    TaskUsageDailyDirty,
    TaskUsageDailySetAside,
    TaskUsageRollupState,
)
from usage_rollup.models.source import (
    Agent,
    AgentRuntime,
    AgentTaskQueue,
    Issue,
    TaskUsage,
    Workspace,
)

__all__ = [
    "Agent",
    "AgentRuntime",
    "AgentTaskQueue",
    "Issue",
    "TaskUsage",
    "TaskUsageDaily",
    "TaskUsageDailyDirty",
    "TaskUsageDailySetAside",
    "TaskUsageRollupState",
    "Workspace",
]
