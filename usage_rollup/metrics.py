"""The rollup's health as Prometheus metrics, from a view the host project mounts:

    path("metrics/", usage_rollup.metrics.metrics_view)

It answers only a scraper that sends the bearer token USAGE_ROLLUP_METRICS_TOKEN, or a
signed-in user with the permission to view the rollup state (`access.metrics_access`).
Each scrape reads rollup.state() afresh into a registry of its own, so several web processes
report the same figures and nothing is kept between requests. Needs the optional
prometheus-client package: `pip install "django-usage-rollup[metrics]"`.
"""

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
except ImportError as error:
    raise ImportError(
        "usage_rollup.metrics needs the prometheus-client package: "
        'pip install "django-usage-rollup[metrics]"'
    ) from error

from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from usage_rollup import rollup
from usage_rollup.access import metrics_access


def _gauge(name: str, documentation: str, value: float | None) -> GaugeMetricFamily:
    """A gauge with one sample, or none when the figure does not exist yet."""
    family = GaugeMetricFamily(name, documentation)
    if value is not None:
        family.add_metric([], value)
    return family


class RollupCollector:
    """Collects the figures of `manage.py usage_rollup_status` from one database."""

    def __init__(self, using: str = "default") -> None:
        self.using = using

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        current = rollup.state(self.using)
        yield _gauge(
            "usage_rollup_lag_seconds",
            "Seconds between the database clock and the watermark (+Inf before the first tick).",
            current.lag_seconds,
        )
        yield _gauge(
            "usage_rollup_dirty_buckets",
            "Buckets queued for recompute in task_usage_daily_dirty.",
            current.dirty_buckets,
        )
        yield _gauge(
            "usage_rollup_oldest_dirty_age_seconds",
            "Age of the oldest queued bucket (0 when the queue is empty).",
            current.oldest_dirty_age_seconds or 0.0,
        )
        yield _gauge(
            "usage_rollup_last_run_duration_seconds",
            "How long the last tick took.",
            current.last_run_seconds,
        )
        yield _gauge(
            "usage_rollup_last_run_rows",
            "Rollup rows the last successful tick changed.",
            current.last_run_rows,
        )
        yield _gauge(
            "usage_rollup_last_run_failed",
            "1 when the last tick failed (its error is in task_usage_rollup_state), else 0.",
            float(current.last_error is not None),
        )
        yield _gauge(
            "usage_rollup_pg_cron_jobs",
            "Active pg_cron jobs that call the rollup's entry point (no sample where this role "
            "may not read pg_cron's jobs).",
            sum(job.active for job in current.cron_jobs) if current.cron_jobs_readable else None,
        )
        yield CounterMetricFamily(
            "usage_rollup_tick_failures",
            "Ticks that failed since the rollup was installed.",
            value=current.failed_runs,
        )
        yield _gauge(
            "usage_rollup_watermark_ahead_seconds",
            "Seconds the watermark is ahead of the database clock now, after the clock stepped "
            "back (the next tick recovers); 0 while it is behind, as it should be.",
            current.watermark_ahead_now_seconds,
        )
        yield CounterMetricFamily(
            "usage_rollup_clock_steps_back",
            "Ticks that found the watermark ahead of the database clock (it stepped back) and "
            "recovered, since the rollup was installed.",
            value=current.clock_steps_back,
        )
        yield _gauge(
            "usage_rollup_set_aside_buckets",
            "Buckets that cannot be computed (their sums overflow bigint): left out of the "
            "rollup, retried by every tick, listed in task_usage_daily_set_aside.",
            current.set_aside_buckets,
        )
        yield _gauge(
            "usage_rollup_backfill_unfinished",
            "1 when the latest backfill started and stopped before its last slice (run "
            "backfill_task_usage_daily again), else 0.",
            float(current.backfill_status == "unfinished"),
        )
        yield _gauge(
            "usage_rollup_backfill_running",
            "1 while a backfill holds a live lease (ticks skip meanwhile), else 0.",
            float(current.backfill_status == "running"),
        )
        yield _gauge(
            "usage_rollup_backfill_slices_done",
            "Slices the latest backfill has done (no sample before the first backfill).",
            current.backfill_slices_done,
        )
        yield _gauge(
            "usage_rollup_backfill_slices_total",
            "Slices the latest backfill planned (no sample before the first backfill).",
            current.backfill_slices_total,
        )


@metrics_access
@require_GET
def metrics_view(request: HttpRequest, using: str = "default") -> HttpResponse:
    """The rollup's metrics in Prometheus' text format, read from database `using`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RollupCollector(using))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
