"""The Prometheus view: the status figures in Prometheus' text format, for the host to mount."""

import datetime
import importlib
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import world

HOUR_AGO = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
METRICS_TOKEN = "a-scrapers-token"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    """Scrapes here send the metrics token, as Prometheus does (tests/test_metrics_access.py
    tests who else may read them)."""
    settings.USAGE_ROLLUP_METRICS_TOKEN = METRICS_TOKEN


def _scrape(client) -> dict[str, float]:
    response = client.get("/metrics/", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_the_metrics_are_the_status_figures(client, cursor):
    ws = world.workspace()
    world.usage(world.task(world.agent(ws), world.runtime(ws)), at=HOUR_AGO)
    cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")
    world.usage(world.task(world.agent(ws), world.runtime(ws))).delete()  # queues a bucket
    cursor.execute("UPDATE task_usage_rollup_state SET failed_runs = 4")

    metrics = _scrape(client)

    assert 0 <= metrics["usage_rollup_lag_seconds"] < 60
    assert metrics["usage_rollup_dirty_buckets"] == 1
    assert metrics["usage_rollup_oldest_dirty_age_seconds"] >= 0
    assert metrics["usage_rollup_last_run_rows"] == 1
    assert metrics["usage_rollup_last_run_duration_seconds"] >= 0
    assert metrics["usage_rollup_last_run_failed"] == 0
    assert metrics["usage_rollup_tick_failures_total"] == 4


def test_before_the_first_tick_the_lag_is_infinite_and_no_run_is_reported(client, cursor):
    cursor.execute("DELETE FROM task_usage_rollup_state")

    metrics = _scrape(client)

    assert metrics["usage_rollup_lag_seconds"] == float("inf")
    assert "usage_rollup_last_run_rows" not in metrics
    assert metrics["usage_rollup_tick_failures_total"] == 0


def test_without_prometheus_client_the_import_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.delitem(sys.modules, "usage_rollup.metrics", raising=False)

    with pytest.raises(ImportError, match=r'pip install "django-usage-rollup\[metrics\]"'):
        importlib.import_module("usage_rollup.metrics")


def _set_state(cursor, assignments: str) -> None:
    cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")
    cursor.execute(f"UPDATE task_usage_rollup_state SET {assignments} WHERE id = 1")


def test_a_watermark_ahead_of_the_clock_is_reported_in_seconds(client, cursor):
    _set_state(cursor, "watermark_at = clock_timestamp() + interval '1 hour'")

    assert 3500 < _scrape(client)["usage_rollup_watermark_ahead_seconds"] <= 3600


def test_a_watermark_behind_the_clock_is_zero_seconds_ahead(client, cursor):
    _set_state(cursor, "watermark_ahead_at = now(), watermark_ahead_seconds = 30")

    assert _scrape(client)["usage_rollup_watermark_ahead_seconds"] == 0


def test_clock_steps_back_are_a_counter(client, cursor):
    _set_state(cursor, "clock_steps_back = 3")

    assert _scrape(client)["usage_rollup_clock_steps_back_total"] == 3


def test_set_aside_buckets_are_counted(client, cursor):
    runtime = world.runtime(world.workspace())
    world.set_aside(runtime, "claude-sonnet")
    world.set_aside(runtime, "claude-opus")

    assert _scrape(client)["usage_rollup_set_aside_buckets"] == 2


def test_an_unfinished_backfill_is_flagged_with_its_slices(client, cursor):
    _set_state(
        cursor,
        "backfill_started_at = now(), backfill_slices_done = 3, backfill_slices_total = 12, "
        "backfill_lease_until = clock_timestamp() - interval '1 second'",
    )

    metrics = _scrape(client)

    assert metrics["usage_rollup_backfill_unfinished"] == 1
    assert metrics["usage_rollup_backfill_running"] == 0
    assert metrics["usage_rollup_backfill_slices_done"] == 3
    assert metrics["usage_rollup_backfill_slices_total"] == 12


def test_a_running_backfill_is_flagged_and_not_unfinished(client, cursor):
    _set_state(
        cursor,
        "backfill_started_at = now(), backfill_slices_done = 1, backfill_slices_total = 12, "
        "backfill_lease_until = clock_timestamp() + interval '1 minute'",
    )

    metrics = _scrape(client)

    assert metrics["usage_rollup_backfill_running"] == 1
    assert metrics["usage_rollup_backfill_unfinished"] == 0


def test_a_rollup_that_never_backfilled_nor_set_aside_reports_zeros(client, cursor):
    cursor.execute("SELECT rollup_task_usage_daily('0 seconds')")

    metrics = _scrape(client)

    assert metrics["usage_rollup_watermark_ahead_seconds"] == 0
    assert metrics["usage_rollup_clock_steps_back_total"] == 0
    assert metrics["usage_rollup_set_aside_buckets"] == 0
    assert metrics["usage_rollup_backfill_unfinished"] == 0
    assert metrics["usage_rollup_backfill_running"] == 0
    assert "usage_rollup_backfill_slices_done" not in metrics
    assert "usage_rollup_backfill_slices_total" not in metrics
