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
