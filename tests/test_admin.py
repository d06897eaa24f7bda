"""The Django admin: every URL answers whom it should, the rollup is read-only for everyone, the
actions do what they say, the health panel and the chart show the core's numbers, and the
changelists make a fixed number of queries however many rows they show."""

import collections
import datetime
import io
import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests import world
from tests.oracle import assert_rollup_matches_oracle, oracle_buckets, oracle_local_days
from usage_rollup import queries
from usage_rollup.admin import EstimatedCountPaginator
from usage_rollup.models import (
    TaskUsageDaily,
    TaskUsageDailyDirty,
    TaskUsageDailyQuarters,
    TaskUsageDailySetAside,
    TaskUsageRollupState,
)
from usage_rollup.rollup import ROLLUP_LOCK_KEY
from usage_rollup.source.models import Workspace

# The rollup's pages, and the bundled source tables' pages of the example project.
APP_LABELS = ("usage_rollup", "usage_rollup_source")
NOW = datetime.datetime.now(datetime.UTC)
TODAY = NOW.date()
YESTERDAY_NOON = datetime.datetime.combine(
    TODAY - datetime.timedelta(days=1), datetime.time(12), tzinfo=datetime.UTC
)
TODAY_START = datetime.datetime.combine(TODAY, datetime.time(0), tzinfo=datetime.UTC)
ROLLUP_MODELS = (
    TaskUsageDaily,
    TaskUsageDailyQuarters,
    TaskUsageDailyDirty,
    TaskUsageDailySetAside,
    TaskUsageRollupState,
)
CHART_ADMINS = ("agentruntime", "workspace")


def _tick(cursor) -> None:
    cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")


def _staff(username: str, *codenames: str, superuser: bool = False) -> User:
    user = User.objects.create_user(
        username, password="secret", is_staff=True, is_superuser=superuser
    )
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=APP_LABELS, codename__in=codenames)
    )
    return user


def _view_codenames() -> list[str]:
    return list(
        Permission.objects.filter(
            content_type__app_label__in=APP_LABELS, codename__startswith="view_"
        ).values_list("codename", flat=True)
    )


@pytest.fixture
def viewer(db) -> User:
    """Staff who may view everything of the app, and do nothing else."""
    return _staff("viewer", *_view_codenames())


@pytest.fixture
def operator(db) -> User:
    """Staff who may view everything and run ticks and queue buckets."""
    return _staff("operator", *_view_codenames(), "operate_rollup")


@pytest.fixture
def usage_world(cursor):
    """Two runtimes in a workspace, usage of two models over two days, rolled up, one entry in
    the dirty queue and one set-aside bucket. Rows are stamped in the past: a tick inside the
    test's transaction only rolls up rows written before that transaction began."""
    ws = world.workspace()
    runtimes = [world.runtime(ws), world.runtime(ws)]
    agent = world.agent(ws)
    issue = world.issue(ws)
    first = world.task(agent, runtimes[0], issue)
    world.usage(first, "claude-sonnet", at=YESTERDAY_NOON, input_tokens=100, output_tokens=10)
    world.usage(first, "claude-haiku", at=YESTERDAY_NOON, input_tokens=40, cache_read_tokens=5)
    world.usage(world.task(agent, runtimes[0]), "claude-sonnet", at=TODAY_START, input_tokens=7)
    world.usage(world.task(agent, runtimes[1]), "gpt-5", "openai", at=TODAY_START, input_tokens=9)
    doomed = world.usage(world.task(agent, runtimes[1]), "gpt-5-mini", "openai", at=TODAY_START)
    _tick(cursor)
    doomed.delete()  # queues its bucket: the rollup has 5 buckets, the raw rows make 4
    world.set_aside(runtimes[0], "claude-opus", TODAY)
    return {"workspace": ws, "runtimes": runtimes}


def _admin_urls() -> list[str]:
    """Every admin URL of the app: each changelist, one change page each, the charts."""
    urls = []
    for model in admin.site._registry:
        if model._meta.app_label not in APP_LABELS:
            continue
        info = model._meta.app_label, model._meta.model_name
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        first = model.objects.order_by("pk").first()
        if first is None:
            first = TaskUsageRollupState(id=1)  # the state page needs no row
        urls.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
        if model._meta.model_name in CHART_ADMINS:
            urls.append(reverse("admin:{}_{}_usage_chart".format(*info), args=[first.pk]))
    return urls


def test_every_admin_url_answers_staff_with_view_permission(client, viewer, usage_world):
    client.force_login(viewer)
    urls = _admin_urls()

    answers = {url: client.get(url).status_code for url in urls}

    assert len(urls) == 2 * 11 + 2
    assert answers == dict.fromkeys(urls, 200)


def test_every_admin_url_refuses_staff_without_permission(client, usage_world):
    client.force_login(_staff("nobody"))
    urls = _admin_urls()

    assert {url: client.get(url).status_code for url in urls} == dict.fromkeys(urls, 403)


def test_every_admin_url_sends_non_staff_to_the_login_page(client, usage_world):
    client.force_login(User.objects.create_user("member", password="secret"))

    for url in _admin_urls():
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


@pytest.mark.parametrize("model", ROLLUP_MODELS, ids=lambda model: model._meta.model_name)
def test_rollup_rows_cannot_be_added_changed_or_deleted_even_by_a_superuser(
    client, cursor, model, usage_world
):
    client.force_login(_staff("root", superuser=True))
    info = model._meta.app_label, model._meta.model_name
    row = model.objects.order_by("pk").first()
    before = oracle_buckets(cursor), list(model.objects.values())

    add = client.post(reverse("admin:{}_{}_add".format(*info)), {})
    change = client.post(reverse("admin:{}_{}_change".format(*info), args=[row.pk]), {})
    delete = client.post(
        reverse("admin:{}_{}_delete".format(*info), args=[row.pk]), {"post": "yes"}
    )

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert (oracle_buckets(cursor), list(model.objects.values())) == before


def _action(client, action: str, rows):
    return client.post(
        reverse("admin:usage_rollup_taskusagedaily_changelist"),
        {"action": action, "_selected_action": [row.pk for row in rows]},
        follow=True,
    )


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_verify_reports_that_untouched_buckets_equal_their_raw_rows(client, viewer, usage_world):
    client.force_login(viewer)

    selected = TaskUsageDaily.objects.filter(runtime_id=usage_world["runtimes"][0].pk)

    response = _action(client, "verify_selected", selected)

    assert _messages(response) == ["All 3 selected buckets equal their raw rows."]


def test_verify_reports_a_wrong_bucket_and_a_pending_one(client, cursor, viewer, usage_world):
    runtime = usage_world["runtimes"][0]
    cursor.execute(
        "UPDATE task_usage_daily SET input_tokens = 999 WHERE runtime_id = %s AND model = %s",
        [runtime.pk, "claude-haiku"],
    )
    task = world.task(world.agent(usage_world["workspace"]), runtime)
    world.usage(task, "claude-sonnet", input_tokens=1)  # not rolled up yet: pending
    client.force_login(viewer)

    response = _action(
        client, "verify_selected", TaskUsageDaily.objects.filter(runtime_id=runtime.pk)
    )

    (message,) = _messages(response)
    assert message.startswith("2 of 3 selected buckets differ from their raw rows (1 pending")
    assert "claude-haiku: rollup input 999, " in message and "[pending]" in message


def test_queueing_buckets_has_the_next_tick_recompute_them(client, cursor, operator, usage_world):
    cursor.execute("UPDATE task_usage_daily SET output_tokens = 0")
    client.force_login(operator)

    response = _action(client, "queue_selected", TaskUsageDaily.objects.all())

    assert _messages(response) == [
        "Queued 5 buckets: the next tick recomputes them from the raw rows."
    ]
    assert TaskUsageDailyDirty.objects.count() == 5  # the one already queued is not added again
    _tick(cursor)
    assert_rollup_matches_oracle(cursor)


def test_queueing_buckets_needs_the_operate_permission(client, viewer, usage_world):
    client.force_login(viewer)

    response = _action(client, "queue_selected", TaskUsageDaily.objects.all())

    assert "queue_selected" not in response.context["action_form"].fields["action"].choices
    assert TaskUsageDailyDirty.objects.count() == 1


def test_run_a_tick_now_rolls_up_and_reports_the_rows(client, cursor, operator, usage_world):
    client.force_login(operator)

    response = client.post(reverse("admin:usage_rollup_taskusagerollupstate_tick"), follow=True)

    (message,) = _messages(response)
    assert re.fullmatch(r"Tick done: 1 rollup row changed, \d+\.\d s behind the clock\.", message)
    assert_rollup_matches_oracle(cursor)


def test_run_a_tick_now_reports_a_skip_while_another_tick_holds_the_lock(client, session):
    holder = session(autocommit=False)
    holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", ROLLUP_LOCK_KEY)
    client.force_login(_staff("operator", "view_taskusagerollupstate", "operate_rollup"))

    response = client.post(reverse("admin:usage_rollup_taskusagerollupstate_tick"), follow=True)

    assert _messages(response) == ["Skipped: another tick holds the rollup's lock."]


def test_run_a_tick_now_needs_the_operate_permission_and_a_post(client, viewer, operator, db):
    url = reverse("admin:usage_rollup_taskusagerollupstate_tick")
    client.force_login(viewer)
    refused = client.post(url)
    client.force_login(operator)

    assert (refused.status_code, client.get(url).status_code) == (403, 405)


def test_the_state_page_offers_the_tick_only_to_operators(client, viewer, operator, db):
    url = reverse("admin:usage_rollup_taskusagerollupstate_changelist")
    client.force_login(viewer)
    for_viewer = client.get(url).content.decode()
    client.force_login(operator)

    assert 'id="run-tick"' not in for_viewer
    assert 'id="run-tick"' in client.get(url).content.decode()


@pytest.mark.parametrize(
    ("lag_seconds", "last_error", "level", "colour"),
    [
        (60, None, "ok", "green"),
        (600, None, "warning", "amber"),
        (1200, None, "error", "red"),
        (60, "disk full", "error", "red"),
    ],
)
def test_the_health_panel_colours_the_lag_against_the_threshold_and_errors_red(
    client, cursor, viewer, settings, lag_seconds, last_error, level, colour
):
    settings.USAGE_ROLLUP_LAG_ALERT_SECONDS = 900
    _tick(cursor)
    cursor.execute(
        "UPDATE task_usage_rollup_state SET watermark_at = now() - make_interval(secs => %s), "
        "last_error = %s",
        [lag_seconds, last_error],
    )
    client.force_login(viewer)

    page = client.get(reverse("admin:usage_rollup_taskusagerollupstate_changelist"))

    html = page.content.decode()
    assert f'data-level="{level}"' in html and f"Health: {colour}" in html
    # The lag runs from now(), the test transaction's start, which is a few seconds back.
    shown = float(re.search(r"(\d+\.\d) s behind the clock", html).group(1))
    assert lag_seconds <= shown < lag_seconds + 60
    assert "Lag alert threshold: 900 s" in html


def test_the_health_panel_shows_the_lines_the_status_command_prints(client, cursor, viewer):
    _tick(cursor)
    out = io.StringIO()
    call_command("usage_rollup_status", stdout=out)
    client.force_login(viewer)

    page = client.get(reverse("admin:usage_rollup_taskusagerollupstate_changelist"))

    printed = out.getvalue().splitlines()
    shown = [str(line) for line in page.context["lines"]]
    assert [line.split(":")[0] for line in shown] == [line.split(":")[0] for line in printed]
    assert shown[1:] == printed[1:]  # the watermark's lag moves between the two reads


def _panel_row(html: str, label: str) -> tuple[str, str]:
    """The level and the text of one line of the health panel."""
    level, text = re.search(
        rf'<tr class="line-(\w+)" data-label="{label}">\s*<th>{label}</th><td>(.*?)</td>', html
    ).groups()
    return level, text


def test_the_health_panel_shows_an_unfinished_backfill_in_red(client, cursor, viewer):
    _tick(cursor)
    cursor.execute(
        "UPDATE task_usage_rollup_state SET backfill_started_at = '2026-01-02 03:04:05+00', "
        "backfill_slices_done = 3, backfill_slices_total = 12 WHERE id = 1"
    )
    client.force_login(viewer)

    html = client.get(reverse("admin:usage_rollup_taskusagerollupstate_changelist")).content

    assert _panel_row(html.decode(), "Backfill") == (
        "error",
        "started 2026-01-02 03:04:05+00:00, 3 of 12 slices, not finished: "
        "run backfill_task_usage_daily again",
    )
    assert 'data-level="error"' in html.decode()


def test_the_health_panel_shows_a_watermark_ahead_of_the_clock_in_red(client, cursor, viewer):
    _tick(cursor)
    cursor.execute(
        "UPDATE task_usage_rollup_state SET watermark_at = clock_timestamp() + interval '1 hour' "
        "WHERE id = 1"
    )
    client.force_login(viewer)

    html = client.get(reverse("admin:usage_rollup_taskusagerollupstate_changelist")).content

    level, text = _panel_row(html.decode(), "Clock")
    assert level == "error" and " s ahead of the database clock, which stepped back" in text


def test_the_health_panel_names_the_set_aside_buckets(client, viewer, usage_world):
    runtime = usage_world["runtimes"][0]
    client.force_login(viewer)

    html = client.get(reverse("admin:usage_rollup_taskusagerollupstate_changelist")).content

    assert _panel_row(html.decode(), "Set aside") == (
        "error",
        "1 bucket cannot be computed and stay out of the rollup, retried by every tick: "
        f"{TODAY} runtime {runtime.pk} workspace {runtime.workspace_id} "
        "anthropic/claude-opus: bigint out of range",
    )


def test_the_set_aside_list_shows_each_buckets_error_and_attempts(client, viewer, usage_world):
    error = world.SET_ASIDE_ERROR
    client.force_login(viewer)

    response = client.get(reverse("admin:usage_rollup_taskusagedailysetaside_changelist"))

    (bucket,) = response.context["cl"].result_list
    assert (bucket.model, bucket.error, bucket.attempts) == ("claude-opus", error, 1)
    html = response.content.decode()
    assert error in html and usage_world["runtimes"][0].name in html


def test_the_daily_list_totals_the_filtered_rows(client, cursor, viewer, usage_world):
    runtime = usage_world["runtimes"][0]
    client.force_login(viewer)

    response = client.get(
        reverse("admin:usage_rollup_taskusagedaily_changelist"), {"runtime": str(runtime.pk)}
    )

    expected = [0, 0, 0, 0, 0]
    for key, values in oracle_buckets(cursor).items():
        if key[2] == runtime.pk:
            expected = [a + b for a, b in zip(expected, values, strict=True)]
    totals = response.context["totals"]
    assert [
        totals["input_tokens"],
        totals["output_tokens"],
        totals["cache_read_tokens"],
        totals["cache_write_tokens"],
        totals["event_count"],
    ] == expected
    assert response.context["cl"].result_count == 3


def test_the_daily_list_filters_by_a_range_of_bucket_dates(client, viewer, usage_world):
    client.force_login(viewer)
    url = reverse("admin:usage_rollup_taskusagedaily_changelist")
    yesterday = YESTERDAY_NOON.date()

    response = client.get(
        url, {"bucket_date__gte": yesterday.isoformat(), "bucket_date__lt": TODAY.isoformat()}
    )

    assert {bucket.bucket_date for bucket in response.context["cl"].result_list} == {yesterday}
    assert response.context["cl"].result_count == 2


def test_the_daily_list_names_workspaces_and_runtimes(client, viewer, usage_world):
    client.force_login(viewer)

    html = client.get(reverse("admin:usage_rollup_taskusagedaily_changelist")).content.decode()

    assert usage_world["workspace"].name in html
    assert all(runtime.name in html for runtime in usage_world["runtimes"])


def test_the_dirty_queue_shows_each_entrys_age(client, cursor, viewer, usage_world):
    cursor.execute("UPDATE task_usage_daily_dirty SET enqueued_at = now() - interval '90 minutes'")
    client.force_login(viewer)

    html = client.get(reverse("admin:usage_rollup_taskusagedailydirty_changelist")).content.decode()

    # now() is the test transaction's start; the list's clock has moved on since by a little.
    assert re.search(r">1:30:\d\d<", html)


def _queries_of(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


# Measured: the queries of each changelist's page with the usage world, sessions and
# permissions included.
# taskusagedaily: session, user, 2 permission, 2 filter names, estimate, count, page, totals
# (daily only), distinct providers, distinct models; the set-aside list as the dirty queue's;
# the state: session, user, 2 permission, installed, state, set aside, pg_cron (and, where
# pg_cron is installed, its jobs: CHANGELIST_QUERIES_WITH_PG_CRON).
CHANGELIST_QUERIES = {
    "usage_rollup.taskusagedaily": 12,
    "usage_rollup.taskusagedailydirty": 11,
    "usage_rollup.taskusagedailysetaside": 11,
    "usage_rollup.taskusagerollupstate": 8,
    "usage_rollup_source.workspace": 7,
    "usage_rollup_source.agentruntime": 8,
    "usage_rollup_source.agent": 7,
    "usage_rollup_source.issue": 7,
    "usage_rollup_source.agenttaskqueue": 8,
    "usage_rollup_source.taskusage": 7,
}
# Where pg_cron is installed in the test database (CI's PostgreSQL 15), the state's page also
# reads its jobs and their latest runs: one query more.
CHANGELIST_QUERIES_WITH_PG_CRON = {**CHANGELIST_QUERIES, "usage_rollup.taskusagerollupstate": 9}


def _changelist_queries(cursor, page: str) -> int:
    cursor.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron')")
    pg_cron = cursor.fetchone()[0]
    return (CHANGELIST_QUERIES_WITH_PG_CRON if pg_cron else CHANGELIST_QUERIES)[page]


@pytest.mark.parametrize("page", sorted(CHANGELIST_QUERIES))
def test_changelists_make_a_fixed_number_of_queries_however_many_rows(
    client, cursor, viewer, usage_world, page, django_assert_max_num_queries
):
    url = reverse(f"admin:{page.replace('.', '_')}_changelist")
    client.force_login(viewer)
    client.get(url)  # the session and permission caches are not the list's cost
    with django_assert_max_num_queries(_changelist_queries(cursor, page)):
        client.get(url)
    before = _queries_of(client, url)
    for _ in range(5):  # five more of every kind of row
        ws = world.workspace()
        runtime = world.runtime(ws)
        task = world.task(world.agent(ws), runtime, world.issue(ws))
        world.usage(task, at=YESTERDAY_NOON)
        world.usage(task, "claude-haiku", at=TODAY_START)
    _tick(cursor)
    cursor.execute("INSERT INTO task_usage_daily_dirty SELECT * FROM task_usage_daily_dirty")
    cursor.execute(
        """
        INSERT INTO task_usage_daily_set_aside
               (bucket_date, workspace_id, runtime_id, provider, model, error)
        SELECT bucket_date, workspace_id, runtime_id, provider, model, 'bigint out of range'
          FROM task_usage_daily
        """
    )

    assert _queries_of(client, url) == before


def test_an_unfiltered_large_table_is_counted_from_the_planners_estimate(cursor, usage_world):
    cursor.execute("ANALYZE task_usage_daily")
    paginator = EstimatedCountPaginator(TaskUsageDaily.objects.order_by("pk"), 100)
    paginator.exact_below = 0  # the test table is small; the planner's count is exact here

    with CaptureQueriesContext(connection) as captured:
        assert paginator.count == 5
    assert not any("COUNT(" in query["sql"].upper() for query in captured)


def test_a_filtered_list_is_counted_exactly(cursor, usage_world):
    cursor.execute("ANALYZE task_usage_daily")
    filtered = TaskUsageDaily.objects.filter(model="gpt-5").order_by("pk")
    paginator = EstimatedCountPaginator(filtered, 100)
    paginator.exact_below = 0

    with CaptureQueriesContext(connection) as captured:
        assert paginator.count == 1
    assert any("COUNT(" in query["sql"].upper() for query in captured)


def _bars(html: str) -> dict[tuple[str, str], int]:
    return {
        (day, model): int(tokens)
        for model, day, tokens in re.findall(
            r'<rect class="bar" data-model="([^"]+)" data-day="([^"]+)" data-tokens="(\d+)"', html
        )
    }


def _expected_bars(
    cursor, owner_index: int, owner_id, tz: str = "UTC", since: datetime.date | None = None
) -> dict[tuple[str, str], int]:
    expected = collections.Counter()
    buckets = oracle_buckets(cursor) if tz == "UTC" else oracle_local_days(cursor, tz)
    for key, values in buckets.items():
        if key[owner_index] == owner_id and (since is None or key[0] >= since):
            expected[key[0].isoformat(), f"{key[3]}/{key[4]}"] += sum(values[:4])
    return dict(expected)


@pytest.mark.parametrize("read_mode", ["raw", "rollup", "realtime"])
def test_the_runtime_chart_stacks_each_days_tokens_by_model(
    client, cursor, viewer, usage_world, settings, read_mode
):
    settings.USAGE_ROLLUP_READ_MODE = read_mode
    runtime = usage_world["runtimes"][0]
    client.force_login(viewer)

    response = client.get(
        reverse("admin:usage_rollup_source_agentruntime_usage_chart", args=[runtime.pk])
    )

    html = response.content.decode()
    assert _bars(html) == _expected_bars(cursor, 2, runtime.pk)
    legend = re.findall(r'<g class="legend-entry" data-model="([^"]+)"', html)
    assert sorted(legend) == ["anthropic/claude-haiku", "anthropic/claude-sonnet"]
    assert f"read in <strong>{read_mode}</strong> mode" in html


def test_the_workspace_chart_covers_all_its_runtimes(client, cursor, viewer, usage_world):
    workspace = usage_world["workspace"]
    client.force_login(viewer)

    response = client.get(
        reverse("admin:usage_rollup_source_workspace_usage_chart", args=[workspace.pk])
    )

    assert _bars(response.content.decode()) == _expected_bars(cursor, 1, workspace.pk)


def test_the_chart_shows_that_many_full_days_before_today_plus_today_as_the_api_does(
    client, viewer, usage_world
):
    runtime = usage_world["runtimes"][0]
    client.force_login(viewer)
    url = reverse("admin:usage_rollup_source_agentruntime_usage_chart", args=[runtime.pk])

    one_day = client.get(url, {"days": 1})

    yesterday = TODAY - datetime.timedelta(days=1)
    assert (one_day.context["since"], one_day.context["until"]) == (yesterday, TODAY)
    days = {day for day, _ in _bars(one_day.content.decode())}
    assert days == {yesterday.isoformat(), TODAY.isoformat()}
    assert "full days before today to show besides today" in one_day.content.decode()


@pytest.mark.parametrize("read_mode", ["raw", "rollup", "realtime"])
def test_the_chart_shows_the_days_of_the_zone_it_is_given(
    client, cursor, viewer, usage_world, settings, read_mode
):
    settings.USAGE_ROLLUP_READ_MODE = read_mode
    runtime, tz = usage_world["runtimes"][0], "America/St_Johns"
    client.force_login(viewer)
    url = reverse("admin:usage_rollup_source_agentruntime_usage_chart", args=[runtime.pk])

    response = client.get(url, {"days": 3, "tz": tz})

    since = queries.today(tz) - datetime.timedelta(days=3)
    assert (response.context["tz"], response.context["since"]) == (tz, since)
    assert _bars(response.content.decode()) == _expected_bars(cursor, 2, runtime.pk, tz, since)


def test_the_chart_shows_the_days_of_the_sites_time_zone_by_default(
    client, viewer, usage_world, settings
):
    settings.TIME_ZONE = "Asia/Kathmandu"
    client.force_login(viewer)
    url = reverse(
        "admin:usage_rollup_source_agentruntime_usage_chart", args=[usage_world["runtimes"][0].pk]
    )

    response = client.get(url)

    assert response.context["tz"] == "Asia/Kathmandu"
    assert response.context["until"] == queries.today("Asia/Kathmandu")


def test_the_chart_refuses_an_unknown_time_zone(client, viewer, usage_world):
    client.force_login(viewer)
    url = reverse(
        "admin:usage_rollup_source_agentruntime_usage_chart", args=[usage_world["runtimes"][0].pk]
    )

    response = client.get(url, {"tz": "Europe/Atlantis"})

    assert response.status_code == 400
    assert "is not a time zone name" in response.content.decode()


def test_the_chart_shows_thirty_days_before_today_by_default(client, viewer, usage_world):
    runtime = usage_world["runtimes"][0]
    client.force_login(viewer)
    url = reverse("admin:usage_rollup_source_agentruntime_usage_chart", args=[runtime.pk])

    response = client.get(url)

    assert response.context["days"] == 30
    assert response.context["since"] == TODAY - datetime.timedelta(days=30)


@pytest.mark.parametrize("days", ["0", "366", "many"])
def test_the_chart_refuses_days_outside_1_to_365(client, viewer, usage_world, days):
    runtime = usage_world["runtimes"][0]
    client.force_login(viewer)
    url = reverse("admin:usage_rollup_source_agentruntime_usage_chart", args=[runtime.pk])

    response = client.get(url, {"days": days})

    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="errorlist"' in html and 'class="usage-chart"' not in html


def test_the_runtime_page_links_to_its_chart(client, viewer, usage_world):
    runtime = usage_world["runtimes"][0]
    client.force_login(viewer)

    html = client.get(reverse("admin:usage_rollup_source_agentruntime_change", args=[runtime.pk]))

    chart = reverse("admin:usage_rollup_source_agentruntime_usage_chart", args=[runtime.pk])
    assert f'href="{chart}"' in html.content.decode()


def test_an_unknown_owner_has_no_chart(client, viewer, db):
    client.force_login(viewer)
    missing = Workspace(name="gone", slug="gone").pk

    url = reverse("admin:usage_rollup_source_workspace_usage_chart", args=[missing])

    assert client.get(url).status_code == 404
