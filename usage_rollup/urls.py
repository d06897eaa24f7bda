"""The usage API, mounted under /api/ by project/urls.py.

Ids are matched as plain strings and parsed by the views, so that a malformed one gets a 400 with
a reason instead of the resolver's 404.
"""

from django.urls import path

from usage_rollup import views

app_name = "usage_rollup"

urlpatterns = [
    path("runtimes/<str:owner_id>/usage", views.runtime_usage, name="runtime-usage"),
    path(
        "runtimes/<str:owner_id>/usage/by-agent",
        views.runtime_usage_by_agent,
        name="runtime-usage-by-agent",
    ),
    path(
        "runtimes/<str:owner_id>/usage/by-hour",
        views.runtime_usage_by_hour,
        name="runtime-usage-by-hour",
    ),
    path("workspaces/<str:owner_id>/usage", views.workspace_usage, name="workspace-usage"),
    path(
        "workspaces/<str:owner_id>/usage/summary",
        views.workspace_usage_summary,
        name="workspace-usage-summary",
    ),
]
