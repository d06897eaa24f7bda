"""The Django admin: the rollup read-only, its health, its actions, and the usage charts that a
host's workspace and runtime admins inherit (the bundled source tables' pages are in
`usage_rollup.source.admin`).

Adapters only: every action and view calls one function of the core (rollup, verification, queries,
health, charts) and reports back with a message. The rollup's own rows are written by its SQL
functions alone, so adding, changing and deleting them is refused to everyone, superusers too.
"""

import datetime
import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.db.models import DurationField, ExpressionWrapper, F, OuterRef, Subquery, Sum
from django.db.models.functions import Now
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from usage_rollup import charts, config, health, queries, rollup, standby, verification
from usage_rollup.models import (
    AgentRuntime,
    TaskUsageDaily,
    TaskUsageDailyDirty,
    TaskUsageDailyQuarters,
    TaskUsageDailySetAside,
    TaskUsageRollupState,
    Workspace,
)
from usage_rollup.models.rollup import BUCKET_KEY, TOKEN_FIELDS

OPERATE_PERMISSION = "usage_rollup.operate_rollup"
DIFFERENCES_SHOWN = 5


class EstimatedCountPaginator(Paginator):
    """Counts an unfiltered large table from the planner's estimate instead of count(*), which
    reads the whole table on every page view; filtered lists and small tables count exactly."""

    exact_below = 100_000

    @cached_property
    def count(self) -> int:
        if not self.object_list.query.where:
            estimate = queries.estimated_row_count(self.object_list.model._meta.db_table)
            if estimate is not None and estimate >= self.exact_below:
                return estimate
        return super().count


class LargeTableAdmin(admin.ModelAdmin):
    """A list over a table that may hold millions of rows: never count it whole."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator


class ReadOnlyAdmin(LargeTableAdmin):
    """Rows only the rollup's SQL functions write: viewable, never added, changed or deleted."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm(OPERATE_PERMISSION)


def _name_of(model, column: str) -> Subquery:
    """The name of the row a plain uuid column points at, in the list's own query."""
    return Subquery(model.objects.filter(pk=OuterRef(column)).values("name")[:1])


class _NamedUUIDFilter(admin.SimpleListFilter):
    """Filter a plain uuid column by the names of the rows it points at."""

    model = None
    column = ""

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in self.model.objects.values_list("pk", "name")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            return queryset.filter(**{self.column: uuid.UUID(self.value())})
        except ValueError:
            return queryset.none()


class WorkspaceFilter(_NamedUUIDFilter):
    title = "workspace"
    parameter_name = "workspace"
    model = Workspace
    column = "workspace_id"


class RuntimeFilter(_NamedUUIDFilter):
    title = "runtime"
    parameter_name = "runtime"
    model = AgentRuntime
    column = "runtime_id"


class BucketAdmin(ReadOnlyAdmin):
    """A table keyed by buckets: names for its uuids and filters by every key column."""

    key_columns = ("bucket_date", "workspace", "runtime", "provider", "model")

    list_filter = (
        ("bucket_date", admin.DateFieldListFilter),
        WorkspaceFilter,
        RuntimeFilter,
        "provider",
        "model",
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                workspace_name=_name_of(Workspace, "workspace_id"),
                runtime_name=_name_of(AgentRuntime, "runtime_id"),
            )
        )

    @admin.display(description="workspace", ordering="workspace_name")
    def workspace(self, bucket) -> str:
        return bucket.workspace_name or f"{bucket.workspace_id} (deleted)"

    @admin.display(description="runtime", ordering="runtime_name")
    def runtime(self, bucket) -> str:
        return bucket.runtime_name or f"{bucket.runtime_id} (deleted)"


def _keys(queryset) -> list[verification.BucketKey]:
    return [tuple(key) for key in queryset.values_list(*BUCKET_KEY)]


@admin.register(TaskUsageDaily)
class TaskUsageDailyAdmin(BucketAdmin):
    list_display = (*BucketAdmin.key_columns, *TOKEN_FIELDS, "event_count", "updated_at")
    ordering = ("-bucket_date", "workspace_id", "runtime_id", "provider", "model")
    actions = ("verify_selected", "queue_selected")
    change_list_template = "admin/usage_rollup/taskusagedaily/change_list.html"

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        if "cl" in context:
            # One aggregate over the rows the filters chose, shown above the list.
            context["totals"] = context["cl"].queryset.aggregate(
                **{field: Sum(field) for field in (*TOKEN_FIELDS, "event_count")}
            )
        return response

    @admin.action(description="Verify the selected buckets against the raw rows")
    def verify_selected(self, request, queryset):
        keys = _keys(queryset)
        found = verification.differences_of(keys)
        if not found:
            self.message_user(
                request,
                f"All {health.counted(len(keys), 'selected bucket')} equal their raw rows.",
                messages.SUCCESS,
            )
            return
        pending = sum(difference.pending for difference in found)
        shown = "; ".join(difference.describe() for difference in found[:DIFFERENCES_SHOWN])
        self.message_user(
            request,
            f"{len(found)} of {health.counted(len(keys), 'selected bucket')} differ from their "
            f"raw rows ({pending} pending: the next tick recomputes them): {shown}",
            messages.WARNING if pending < len(found) else messages.INFO,
        )

    @admin.action(description="Queue the selected buckets for recompute", permissions=["operate"])
    def queue_selected(self, request, queryset):
        try:
            queued = verification.queue_buckets(_keys(queryset))
        except rollup.RollupError as error:
            self.message_user(request, f"Nothing was queued: {error}", messages.ERROR)
            return
        self.message_user(
            request,
            f"Queued {health.counted(queued, 'bucket')}: the next tick recomputes "
            f"{'it' if queued == 1 else 'them'} from the raw rows.",
            messages.SUCCESS,
        )


@admin.register(TaskUsageDailyQuarters)
class TaskUsageDailyQuartersAdmin(BucketAdmin):
    """Each bucket's running sums by quarter hour, read-only: they are verified, queued and
    recomputed with their daily bucket, from its page. The list shows how many quarters have
    usage; a row's page shows the arrays."""

    list_display = (*BucketAdmin.key_columns, "quarters_with_usage", "updated_at")
    ordering = ("-bucket_date", "workspace_id", "runtime_id", "provider", "model")

    @admin.display(description="quarter hours with usage")
    def quarters_with_usage(self, bucket) -> int:
        return len(bucket.quarters)


@admin.register(TaskUsageDailyDirty)
class TaskUsageDailyDirtyAdmin(BucketAdmin):
    list_display = (*BucketAdmin.key_columns, "enqueued_at", "age")
    ordering = ("enqueued_at",)

    def get_queryset(self, request):
        age = ExpressionWrapper(Now() - F("enqueued_at"), output_field=DurationField())
        return super().get_queryset(request).annotate(age=age)

    @admin.display(description="age", ordering="age")
    def age(self, entry) -> str:
        return str(datetime.timedelta(seconds=round(entry.age.total_seconds())))


@admin.register(TaskUsageDailySetAside)
class TaskUsageDailySetAsideAdmin(BucketAdmin):
    """Buckets the rollup cannot compute: each tick retries them and drops them once they do."""

    list_display = (
        *BucketAdmin.key_columns,
        "error",
        "attempts",
        "first_failed_at",
        "last_failed_at",
    )
    ordering = ("first_failed_at",)


@admin.register(TaskUsageRollupState)
class TaskUsageRollupStateAdmin(ReadOnlyAdmin):
    """One page for the single state row: the health panel, the numbers `usage_rollup_status`
    prints, and the button that runs a tick now. The list and the row's page both show it."""

    def get_urls(self):
        tick = self.admin_site.admin_view(require_POST(self.tick_view))
        return [
            path("tick/", tick, name="usage_rollup_taskusagerollupstate_tick"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        return self.state_view(request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied  # nothing here is edited by hand
        return self.state_view(request)

    def state_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        current = rollup.state()
        alert_seconds = config.lag_alert_seconds()
        lines = health.status_lines(current, alert_seconds)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Rollup state",
            "lines": lines,
            "level": health.worst(lines),
            "alert_seconds": alert_seconds,
            "can_operate": self.has_operate_permission(request),
        }
        return TemplateResponse(
            request, "admin/usage_rollup/taskusagerollupstate/state.html", context
        )

    def tick_view(self, request):
        if not self.has_operate_permission(request):
            raise PermissionDenied
        try:
            result = rollup.tick(lag=datetime.timedelta(0))
        except (rollup.RollupError, DatabaseError) as error:
            self.message_user(
                request, f"The tick failed: {rollup.error_summary(error)}", messages.ERROR
            )
        else:
            if result.skipped:
                self.message_user(
                    request, "Skipped: another tick holds the rollup's lock.", messages.WARNING
                )
            elif result.failed:
                self.message_user(request, f"The tick failed: {result.error}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Tick done: {health.counted(result.rows, 'rollup row')} changed, "
                    f"{result.lag_seconds:.1f} s behind the clock.",
                    messages.SUCCESS,
                )
        return HttpResponseRedirect(reverse("admin:usage_rollup_taskusagerollupstate_changelist"))


class ChartDaysForm(forms.Form):
    days = forms.IntegerField(
        min_value=1,
        max_value=365,
        required=False,
        help_text="full days before today to show besides today, as the API's days=N",
    )
    tz = forms.CharField(
        required=False,
        help_text="the IANA time zone whose days are shown (default: the site's TIME_ZONE)",
    )

    def clean_tz(self) -> str:
        try:
            return queries.time_zone(self.cleaned_data["tz"] or settings.TIME_ZONE)
        except queries.UnknownTimeZone as error:
            raise forms.ValidationError(str(error)) from error


class UsageChartAdmin(LargeTableAdmin):
    """An owner of usage (runtime, workspace) with a chart of its daily tokens by model at
    `<id>/usage-chart/?days=N`, read through the read path in the configured read mode, from the
    JSON API's read target (USAGE_ROLLUP_READ_DATABASE, or "default" past the lag)."""

    change_form_template = "admin/usage_rollup/change_form_with_chart.html"
    default_days = 30

    def read_usage(
        self, owner_id: uuid.UUID, since: datetime.date, tz: str, using: str
    ) -> list[dict]:
        raise NotImplementedError

    @property
    def chart_url_name(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_usage_chart"

    def get_urls(self):
        chart = self.admin_site.admin_view(self.usage_chart_view)
        return [
            path("<path:object_id>/usage-chart/", chart, name=self.chart_url_name),
            *super().get_urls(),
        ]

    @admin.display(description="usage")
    def chart_link(self, owner) -> str:
        url = reverse(f"admin:{self.chart_url_name}", args=[owner.pk])
        return format_html('<a href="{}">chart</a>', url)

    def usage_chart_view(self, request, object_id):
        owner = self.get_object(request, object_id)
        if owner is None:
            raise Http404(f"No {self.opts.verbose_name} with id {object_id!r}")
        if not self.has_view_permission(request, owner):
            raise PermissionDenied
        form = ChartDaysForm(request.GET)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": owner,
            "title": f"Usage of {owner}",
            "form": form,
            "read_mode": config.read_mode(),
            "default_tz": settings.TIME_ZONE,
        }
        if not form.is_valid():
            return TemplateResponse(
                request, "admin/usage_rollup/usage_chart.html", context, status=400
            )
        days, tz = form.cleaned_data["days"] or self.default_days, form.cleaned_data["tz"]
        today, since = queries.today(tz), queries.period_start(days, tz)
        target = standby.read_target()
        context["read_database"] = target.alias
        try:
            rows = self.read_usage(owner.pk, since, tz, target.alias)
        except queries.UnknownTimeZone as error:
            form.add_error("tz", str(error))
            return TemplateResponse(
                request, "admin/usage_rollup/usage_chart.html", context, status=400
            )
        data = charts.daily_tokens(rows, since, today)
        context.update(
            days=days,
            tz=tz,
            since=since,
            until=today,
            chart=charts.stacked_bars(
                data, f"Tokens per day ({tz}) of {owner}, {since} to {today}"
            ),
            model_totals=[(model, sum(values)) for model, values in data.by_model.items()],
        )
        return TemplateResponse(request, "admin/usage_rollup/usage_chart.html", context)


class WorkspaceUsageChartAdmin(UsageChartAdmin):
    """The admin of a host's workspace model, with its usage chart: subclass it and register it."""

    def read_usage(self, owner_id, since, tz, using):
        return queries.workspace_usage(owner_id, since, tz=tz, using=using)


class RuntimeUsageChartAdmin(UsageChartAdmin):
    """The admin of a host's runtime model, with its usage chart: subclass it and register it."""

    def read_usage(self, owner_id, since, tz, using):
        return queries.runtime_usage(owner_id, since, tz=tz, using=using)
