"""The bundled source tables' admin pages, with the usage charts of workspaces and runtimes."""

from django.contrib import admin

from usage_rollup.admin import LargeTableAdmin, RuntimeUsageChartAdmin, WorkspaceUsageChartAdmin
from usage_rollup.models.rollup import TOKEN_FIELDS
from usage_rollup.source.models import (
    Agent,
    AgentRuntime,
    AgentTaskQueue,
    Issue,
    TaskUsage,
    Workspace,
)


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceUsageChartAdmin):
    list_display = ("name", "slug", "chart_link")
    search_fields = ("name", "slug")
    ordering = ("name",)


@admin.register(AgentRuntime)
class AgentRuntimeAdmin(RuntimeUsageChartAdmin):
    list_display = ("name", "workspace", "provider", "chart_link")
    list_select_related = ("workspace",)
    list_filter = ("provider",)
    search_fields = ("name",)
    autocomplete_fields = ("workspace",)
    ordering = ("name",)


class InWorkspaceAdmin(LargeTableAdmin):
    """A row of a workspace: its list joins the workspace, its form searches for one."""

    list_select_related = ("workspace",)
    autocomplete_fields = ("workspace",)


@admin.register(Agent)
class AgentAdmin(InWorkspaceAdmin):
    list_display = ("name", "workspace")
    search_fields = ("name",)


@admin.register(Issue)
class IssueAdmin(InWorkspaceAdmin):
    list_display = ("title", "workspace")
    search_fields = ("title",)


@admin.register(AgentTaskQueue)
class AgentTaskQueueAdmin(LargeTableAdmin):
    list_display = ("id", "agent", "issue", "runtime", "status", "created_at")
    list_select_related = ("agent", "issue", "runtime")
    list_filter = ("status",)
    search_fields = ("=id",)
    autocomplete_fields = ("agent", "issue", "runtime")
    readonly_fields = ("created_at",)


@admin.register(TaskUsage)
class TaskUsageAdmin(LargeTableAdmin):
    list_display = ("task", "provider", "model", *TOKEN_FIELDS, "created_at", "updated_at")
    list_select_related = ("task",)
    raw_id_fields = ("task",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("-updated_at",)
