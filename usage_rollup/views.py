"""The JSON endpoints over the read path (`queries.py`): a runtime's or a workspace's usage.

Each answers GET only, to a signed-in user with the `usage_rollup.view_taskusagedaily`
permission whom `config.authorize()` (USAGE_ROLLUP_AUTHORIZE) lets read the workspace or runtime
named: 401 when nobody is signed in, 403 without the permission, 400 with a reason for a
malformed id, `days` or `tz`, 404 for an id that names nothing or names what the user may not read
(the same answer, so that the API does not tell which ids exist), else the rows as a JSON list.

Each reads from `standby.read_target()`: USAGE_ROLLUP_READ_DATABASE, or "default" when that
standby trails by more than USAGE_ROLLUP_READ_MAX_LAG_SECONDS. The `Usage-Read-Database` header
names the alias read, and `Usage-Replay-Lag` the seconds it trailed its primary when it is a
standby (or when the standby was left for "default").
"""

import datetime
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import models
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from usage_rollup import config, queries, standby
from usage_rollup.models import AgentRuntime, Workspace

VIEW_PERMISSION = "usage_rollup.view_taskusagedaily"
DEFAULT_DAYS = 90
MAX_DAYS = 365

Read = Callable[..., Sequence[Mapping[str, Any]]]


def _error(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"error": reason}, status=status)


def parse_days(value: str | None) -> int:
    """The `days` query parameter: full days before today to include (1 to 365, default 90), in
    the zone of `tz`."""
    if value is None:
        return DEFAULT_DAYS
    if not re.fullmatch(r"[0-9]{1,6}", value) or not 1 <= int(value) <= MAX_DAYS:
        raise ValueError(f"days must be a whole number from 1 to {MAX_DAYS}, not {value!r}")
    return int(value)


def parse_time_zone(value: str | None) -> str:
    """The `tz` query parameter: the IANA time zone whose days are counted (default UTC)."""
    if value is None:
        return queries.UTC
    return queries.time_zone(value)


def usage_view(
    read: Read, owner: type[models.Model], noun: config.UsageOwnerKind, zoned: bool = False
) -> Callable:
    """A GET endpoint answering `read(owner id, since, using=alias)` for the owner named in the
    URL, read from the read target; with `zoned`, `tz=...` too, for the days of the zone `?tz=`
    names."""

    @require_GET
    def view(request: HttpRequest, owner_id: str) -> JsonResponse:
        if not request.user.is_authenticated:
            return _error(401, "sign in to read usage")
        if not request.user.has_perm(VIEW_PERMISSION):
            return _error(403, f"reading usage needs the {VIEW_PERMISSION} permission")
        try:
            owner_uuid = uuid.UUID(owner_id)
        except ValueError:
            return _error(400, f"{owner_id!r} is not a {noun} id (a UUID)")
        try:
            days = parse_days(request.GET.get("days"))
            tz = parse_time_zone(request.GET.get("tz")) if zoned else queries.UTC
        except ValueError as error:
            return _error(400, str(error))
        target = standby.read_target()
        found = owner.objects.using(target.alias).filter(pk=owner_uuid).first()
        if found is None or not config.authorize()(request.user, noun, found):
            return _error(404, f"no {noun} {owner_uuid}")
        since = queries.period_start(days, tz)
        zone = {"tz": tz} if zoned else {}
        try:
            rows = read(owner_uuid, since, using=target.alias, **zone)
        except queries.UnknownTimeZone as error:
            return _error(400, str(error))
        return _with_read_target(JsonResponse(rows, safe=False), target)

    return view


def _with_read_target(response: JsonResponse, target: standby.ReadTarget) -> JsonResponse:
    response["Usage-Read-Database"] = target.alias
    if target.lag_seconds is not None:
        response["Usage-Replay-Lag"] = f"{target.lag_seconds:.3f}"
    return response


def _workspace_summary(
    workspace_id: uuid.UUID, since: datetime.date, tz: str = queries.UTC, using: str = "default"
) -> list[queries.SummaryRow]:
    return queries.usage_summary("workspace", workspace_id, since, tz=tz, using=using)


runtime_usage = usage_view(queries.runtime_usage, AgentRuntime, "runtime", zoned=True)
# Decided on the runtime: who may read a runtime reads the usage of every agent that ran tasks
# on it, whichever workspace the agent belongs to, as its daily usage counts them all.
runtime_usage_by_agent = usage_view(queries.runtime_usage_by_agent, AgentRuntime, "runtime")
runtime_usage_by_hour = usage_view(queries.runtime_usage_by_hour, AgentRuntime, "runtime")
workspace_usage = usage_view(queries.workspace_usage, Workspace, "workspace", zoned=True)
workspace_usage_summary = usage_view(_workspace_summary, Workspace, "workspace", zoned=True)
