"""The read path: a runtime's usage per UTC day, provider and model, from the raw table or the
rollup. Both return the same rows; which one serves is chosen at call time by
`config.rollup_read_enabled()`."""

import dataclasses
import datetime
import time
import uuid
from typing import Literal

from django.db import connections

from usage_rollup import config

Source = Literal["raw", "rollup"]

USAGE_COLUMNS = (
    "runtime_id",
    "date",
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
)

_RAW_RUNTIME_USAGE = """
    SELECT t.runtime_id,
           task_usage_utc_day(tu.created_at) AS date,
           tu.provider,
           tu.model,
           sum(tu.input_tokens)::bigint,
           sum(tu.output_tokens)::bigint,
           sum(tu.cache_read_tokens)::bigint,
           sum(tu.cache_write_tokens)::bigint
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
     WHERE t.runtime_id = %(runtime_id)s
       AND tu.created_at >= (%(since)s::date)::timestamp AT TIME ZONE 'UTC'
     GROUP BY 1, 2, 3, 4
     ORDER BY date DESC, provider, model
"""

# A runtime's tasks may belong to agents of several workspaces: the rollup keeps one bucket per
# workspace, so the read sums them back together.
_ROLLUP_RUNTIME_USAGE = """
    SELECT runtime_id,
           bucket_date AS date,
           provider,
           model,
           sum(input_tokens)::bigint,
           sum(output_tokens)::bigint,
           sum(cache_read_tokens)::bigint,
           sum(cache_write_tokens)::bigint
      FROM task_usage_daily
     WHERE runtime_id = %(runtime_id)s
       AND bucket_date >= %(since)s::date
     GROUP BY 1, 2, 3, 4
     ORDER BY date DESC, provider, model
"""


def utc_today() -> datetime.date:
    """Today's UTC calendar day (the day of a usage row is always its UTC day)."""
    return datetime.datetime.now(datetime.UTC).date()


def runtime_usage(
    runtime_id: uuid.UUID,
    since: datetime.date,
    *,
    source: Source | None = None,
    using: str = "default",
) -> list[dict]:
    """A runtime's usage per day, provider and model from `since` on, newest day first."""
    if source is None:
        source = "rollup" if config.rollup_read_enabled() else "raw"
    sql = _ROLLUP_RUNTIME_USAGE if source == "rollup" else _RAW_RUNTIME_USAGE
    with connections[using].cursor() as cursor:
        cursor.execute(sql, {"runtime_id": runtime_id, "since": since})
        return [dict(zip(USAGE_COLUMNS, row, strict=True)) for row in cursor.fetchall()]


@dataclasses.dataclass(frozen=True)
class ReadComparison:
    """The same runtime usage read from the rollup and from the raw table."""

    rollup_rows: list[dict]
    raw_rows: list[dict]
    rollup_seconds: float
    raw_seconds: float

    @property
    def equal(self) -> bool:
        return self.rollup_rows == self.raw_rows


def busiest_runtime(using: str = "default") -> uuid.UUID | None:
    """The runtime with the most tasks, the one whose raw reads cost the most."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT runtime_id FROM agent_task_queue WHERE runtime_id IS NOT NULL
             GROUP BY runtime_id ORDER BY count(*) DESC, runtime_id LIMIT 1
            """
        )
        row = cursor.fetchone()
    return row[0] if row else None


def compare_reads(
    runtime_id: uuid.UUID, since: datetime.date, repeat: int = 5, using: str = "default"
) -> ReadComparison:
    """Read a runtime's usage both ways; each timing is the best of `repeat` runs."""

    def best_of(source: Source) -> tuple[list[dict], float]:
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            rows = runtime_usage(runtime_id, since, source=source, using=using)
            timings.append(time.perf_counter() - started)
        return rows, min(timings)

    rollup_rows, rollup_seconds = best_of("rollup")
    raw_rows, raw_seconds = best_of("raw")
    return ReadComparison(rollup_rows, raw_rows, rollup_seconds, raw_seconds)
