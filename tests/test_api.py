"""The JSON endpoints: rows in SPEC section 2's shape and order, and an answer for every bad
request (usage_rollup/views.py)."""

import datetime
import uuid

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from tests import world
from tests.read_oracle import expected_usage
from tests.rollup_calls import roll_up_everything
from usage_rollup import queries
from usage_rollup.source.models import Workspace

ENDPOINTS = (
    "runtime-usage",
    "runtime-usage-by-agent",
    "runtime-usage-by-hour",
    "workspace-usage",
    "workspace-usage-summary",
)


def _at(days_ago: int) -> datetime.datetime:
    """One in the morning (UTC) of the day `days_ago` UTC days before today."""
    day = queries.utc_today() - datetime.timedelta(days=days_ago)
    return datetime.datetime.combine(day, datetime.time(1), datetime.UTC)


@pytest.fixture
def usage(db):
    """A runtime and its workspace with usage today, on each of the last two days, and 90 and
    91 days ago."""
    ws = world.workspace()
    runtime, agent = world.runtime(ws), world.agent(ws)
    for days_ago in (0, 1, 2, 90, 91):
        job = world.task(agent, runtime)
        world.usage(job, "opus", at=_at(days_ago), input_tokens=days_ago + 1, output_tokens=3)
        world.usage(job, "haiku", at=_at(days_ago), input_tokens=days_ago + 2)
    return {"runtime-usage": runtime, "workspace-usage": ws}


@pytest.fixture
def viewer(client, django_user_model):
    """The test client, signed in as a user who may view usage."""
    user = django_user_model.objects.create_user("viewer")
    user.user_permissions.add(Permission.objects.get(codename="view_taskusagedaily"))
    client.force_login(user)
    return client


def only_their_workspaces(user, kind, obj) -> bool:
    """An USAGE_ROLLUP_AUTHORIZE for these tests: a user reads the workspace whose slug is their
    username, and the runtimes of that workspace."""
    workspace_id = obj.pk if kind == "workspace" else obj.workspace_id
    return Workspace.objects.filter(pk=workspace_id, slug=user.username).exists()


ONLY_THEIR_WORKSPACES = "tests.test_api.only_their_workspaces"
ASKED: list[tuple] = []


def ask_and_allow(user, kind, obj) -> bool:
    ASKED.append((user.username, kind, type(obj).__name__, obj.pk))
    return True


@pytest.fixture
def asked(settings):
    """USAGE_ROLLUP_AUTHORIZE allows everything and records what it was asked."""
    settings.USAGE_ROLLUP_AUTHORIZE = "tests.test_api.ask_and_allow"
    ASKED.clear()
    yield ASKED
    ASKED.clear()


def _kind(name: str) -> str:
    return name.split("-")[0]


def _owner(usage, name: str):
    return usage[f"{_kind(name)}-usage"]


def _url(name: str, owner_id, days=None) -> str:
    url = reverse(f"usage_rollup:{name}", args=[str(owner_id)])
    return url if days is None else f"{url}?days={days}"


def _as_json(rows: list[dict]) -> list[dict]:
    return [
        {
            key: str(value) if key in ("runtime_id", "workspace_id") else value
            for key, value in {**row, "date": row["date"].isoformat()}.items()
        }
        for row in rows
    ]


@pytest.mark.parametrize("mode", ["raw", "rollup", "realtime"])
@pytest.mark.parametrize(
    "name, scope", [("runtime-usage", "runtime"), ("workspace-usage", "workspace")]
)
def test_usage_answers_spec_rows_newest_day_first(
    viewer, usage, settings, cursor, mode, name, scope
):
    settings.USAGE_ROLLUP_READ_MODE = mode
    roll_up_everything(cursor)
    owner = usage[name]

    response = viewer.get(_url(name, owner.id, days=2))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    since = queries.utc_today() - datetime.timedelta(days=2)
    assert response.json() == _as_json(expected_usage(cursor, scope, owner.id, since))
    assert response.json()[0] == {
        f"{scope}_id": str(owner.id),
        "date": queries.utc_today().isoformat(),
        "provider": "anthropic",
        "model": "haiku",
        "input_tokens": 2,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }


def _days_answered(client, url: str) -> set[int]:
    today = queries.utc_today()
    return {
        (today - datetime.date.fromisoformat(row["date"])).days for row in client.get(url).json()
    }


def test_days_is_that_many_full_earlier_utc_days_plus_today(viewer, usage):
    assert _days_answered(viewer, _url("runtime-usage", usage["runtime-usage"].id, 1)) == {0, 1}


def test_days_defaults_to_ninety(viewer, usage):
    assert _days_answered(viewer, _url("runtime-usage", usage["runtime-usage"].id)) == {0, 1, 2, 90}


@pytest.mark.parametrize("days", ["365", "0365"])
def test_days_may_reach_a_year(viewer, usage, days):
    answered = _days_answered(viewer, _url("runtime-usage", usage["runtime-usage"].id, days))
    assert answered == {0, 1, 2, 90, 91}


@pytest.mark.parametrize("days", ["0", "366", "-1", "abc", "1.5", "", "1e2", " 7", "9" * 40])
@pytest.mark.parametrize("name", ["runtime-usage", "workspace-usage"])
def test_malformed_days_is_a_400_with_a_reason(viewer, usage, name, days):
    response = viewer.get(_url(name, usage[name].id), {"days": days})

    assert response.status_code == 400
    assert "days must be a whole number from 1 to 365" in response.json()["error"]


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize("owner_id", ["not-a-uuid", "1234", "0" * 31, "' OR 1=1 --"])
def test_a_malformed_id_is_a_400_with_a_reason(viewer, name, owner_id):
    response = viewer.get(_url(name, owner_id))

    assert response.status_code == 400
    assert "is not a" in response.json()["error"]
    assert "id (a UUID)" in response.json()["error"]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_an_id_that_names_nothing_is_a_404(viewer, usage, name):
    unknown = uuid.uuid4()

    response = viewer.get(_url(name, unknown))

    assert response.status_code == 404
    assert response.json() == {"error": f"no {_kind(name)} {unknown}"}


@pytest.mark.parametrize("name", ENDPOINTS)
def test_an_owner_the_authorize_callable_refuses_is_a_404_like_an_unknown_id(
    viewer, usage, settings, name
):
    settings.USAGE_ROLLUP_AUTHORIZE = ONLY_THEIR_WORKSPACES
    owner = _owner(usage, name)

    response = viewer.get(_url(name, owner.id))

    assert response.status_code == 404
    assert response.json() == {"error": f"no {_kind(name)} {owner.id}"}


@pytest.mark.parametrize("name", ENDPOINTS)
def test_an_owner_the_authorize_callable_allows_is_answered(viewer, usage, settings, name):
    settings.USAGE_ROLLUP_AUTHORIZE = ONLY_THEIR_WORKSPACES
    usage["workspace-usage"].slug = "viewer"
    usage["workspace-usage"].save()

    response = viewer.get(_url(name, _owner(usage, name).id))

    assert response.status_code == 200
    assert response.json()


@pytest.mark.parametrize("name", ENDPOINTS)
def test_the_authorize_callable_is_asked_about_the_owner_in_the_url(viewer, usage, asked, name):
    owner = _owner(usage, name)

    viewer.get(_url(name, owner.id))

    # The rollup's own model of the platform's table, whoever owns that table.
    assert asked == [("viewer", _kind(name), type(owner).__name__, owner.pk)]


def test_usage_by_agent_is_decided_on_the_runtime_not_on_its_agents_workspace(
    viewer, usage, settings
):
    settings.USAGE_ROLLUP_AUTHORIZE = ONLY_THEIR_WORKSPACES
    runtime = usage["runtime-usage"]
    visitor = world.agent(world.workspace())  # an agent of a workspace the viewer may read
    visitor.workspace.slug = "viewer"
    visitor.workspace.save()
    world.usage(world.task(visitor, runtime), at=_at(0))

    response = viewer.get(_url("runtime-usage-by-agent", runtime.id))

    assert response.status_code == 404


@pytest.mark.parametrize("name", ENDPOINTS)
def test_without_the_view_permission_the_authorize_callable_is_not_asked(
    client, usage, asked, name
):
    client.force_login(User.objects.create_user("outsider"))

    response = client.get(_url(name, _owner(usage, name).id))

    assert response.status_code == 403
    assert asked == []


@pytest.mark.parametrize(
    "path, why",
    [
        ("tests.test_api.no_such_callable", "cannot be imported"),
        ("no_such_module.may_read", "cannot be imported"),
        ("may_read", "cannot be imported"),
        ("tests.test_api.ENDPOINTS", "is not callable"),
    ],
)
def test_an_authorize_path_that_names_no_callable_is_improperly_configured(
    viewer, usage, settings, path, why
):
    settings.USAGE_ROLLUP_AUTHORIZE = path

    with pytest.raises(ImproperlyConfigured, match=f"USAGE_ROLLUP_AUTHORIZE .*{why}"):
        viewer.get(_url("runtime-usage", usage["runtime-usage"].id))


@pytest.mark.parametrize("name", ENDPOINTS)
def test_nobody_signed_in_is_a_401(client, usage, name):
    response = client.get(_url(name, _owner(usage, name).id))

    assert response.status_code == 401
    assert response.json() == {"error": "sign in to read usage"}


@pytest.mark.parametrize("name", ENDPOINTS)
def test_a_user_without_the_view_permission_is_a_403(client, usage, name):
    client.force_login(User.objects.create_user("outsider"))

    response = client.get(_url(name, _owner(usage, name).id))

    assert response.status_code == 403
    assert "usage_rollup.view_taskusagedaily" in response.json()["error"]


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_only_get_is_allowed(viewer, usage, method):
    response = getattr(viewer, method)(_url("runtime-usage", usage["runtime-usage"].id))

    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_the_endpoint_follows_the_read_mode_at_call_time(viewer, usage, settings, cursor):
    roll_up_everything(cursor)
    cursor.execute("UPDATE task_usage_daily SET input_tokens = 0")  # a rollup that is wrong
    url = _url("runtime-usage", usage["runtime-usage"].id)

    settings.USAGE_ROLLUP_READ_MODE = "rollup"
    assert {row["input_tokens"] for row in viewer.get(url).json()} == {0}
    settings.USAGE_ROLLUP_READ_MODE = "raw"
    assert 0 not in {row["input_tokens"] for row in viewer.get(url).json()}


def test_usage_by_agent_answers_each_agents_totals(viewer, usage):
    runtime = usage["runtime-usage"]

    response = viewer.get(_url("runtime-usage-by-agent", runtime.id, days=1))

    assert response.status_code == 200
    agent_id = str(runtime.tasks.first().agent_id)
    assert [(row["agent_id"], row["model"], row["input_tokens"]) for row in response.json()] == [
        (agent_id, "haiku", 2 + 3),
        (agent_id, "opus", 1 + 2),
    ]


def test_usage_by_hour_answers_the_utc_hours_of_the_day(viewer, usage):
    response = viewer.get(_url("runtime-usage-by-hour", usage["runtime-usage"].id, days=1))

    assert response.status_code == 200
    assert [(row["hour"], row["model"]) for row in response.json()] == [(1, "haiku"), (1, "opus")]


def test_the_workspace_summary_answers_totals_per_model(viewer, usage):
    response = viewer.get(_url("workspace-usage-summary", usage["workspace-usage"].id))

    assert response.status_code == 200
    assert response.json() == [
        {
            "provider": "anthropic",
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
        }
        for model, input_tokens, output_tokens in (
            ("haiku", 2 + 3 + 4 + 92, 0),
            ("opus", 1 + 2 + 3 + 91, 4 * 3),
        )
    ]
