"""Builders for the source tables, for tests that state the world they need in a few lines, and
for set-aside buckets, which only the rollup's SQL writes otherwise."""

import datetime
import itertools

import pgtrigger
from django.db import connection

from usage_rollup.source.models import (
    Agent,
    AgentRuntime,
    AgentTaskQueue,
    Issue,
    TaskUsage,
    Workspace,
)

_serial = itertools.count(1)


def workspace() -> Workspace:
    n = next(_serial)
    return Workspace.objects.create(name=f"workspace {n}", slug=f"workspace-{n}")


def runtime(in_workspace: Workspace) -> AgentRuntime:
    return AgentRuntime.objects.create(workspace=in_workspace, name=f"runtime {next(_serial)}")


def agent(in_workspace: Workspace) -> Agent:
    return Agent.objects.create(workspace=in_workspace, name=f"agent {next(_serial)}")


def issue(in_workspace: Workspace) -> Issue:
    return Issue.objects.create(workspace=in_workspace, title=f"issue {next(_serial)}")


def task(by_agent: Agent, on_runtime: AgentRuntime | None, for_issue: Issue | None = None):
    return AgentTaskQueue.objects.create(agent=by_agent, runtime=on_runtime, issue=for_issue)


def usage(
    of_task: AgentTaskQueue,
    model: str = "claude-sonnet",
    provider: str = "anthropic",
    at: datetime.datetime | None = None,
    **tokens: int,
) -> TaskUsage:
    """A usage row; `at` sets created_at (and updated_at, as for a row written back then: the
    insert trigger that stamps a client's updated_at with the clock is ignored for it)."""
    fields = {"task": of_task, "provider": provider, "model": model, **tokens}
    if at is None:
        return TaskUsage.objects.create(**fields)
    with pgtrigger.ignore("usage_rollup.TaskUsage:task_usage_inserted"):
        return TaskUsage.objects.create(**fields, created_at=at, updated_at=at)


SET_ASIDE_ERROR = "bigint out of range"


def set_aside(
    on_runtime: AgentRuntime,
    model: str = "claude-sonnet",
    day: datetime.date = datetime.date(2026, 1, 2),
    error: str = SET_ASIDE_ERROR,
) -> None:
    """A bucket of this runtime the rollup could not compute, as a tick sets it aside."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO task_usage_daily_set_aside
                   (bucket_date, workspace_id, runtime_id, provider, model, error)
            VALUES (%s, %s, %s, 'anthropic', %s, %s)
            """,
            [day, on_runtime.workspace_id, on_runtime.pk, model, error],
        )
