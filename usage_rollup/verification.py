"""Verify the rollup against the raw aggregate, bucket by bucket, and queue what differs.

A bucket may differ from the raw rows for two reasons. It is *pending* when the rollup has not
caught up with it yet: it is in the dirty queue, or one of its rows was written at or above the
watermark (less the tick's one-second re-read). That is normal on a live system and the next tick
fixes it. Any other difference is *wrong*, which should never happen; `repair` queues those
buckets so the next tick recomputes them from the raw rows. A bucket's running sums by quarter
hour (task_usage_daily_quarters) are compared too: a bucket whose quarters differ is wrong or
pending in the same way, and its repair (a recompute of the bucket) rewrites them.

History is compared one slice of days at a time, on the server, which returns only the buckets
that differ: memory stays bounded on a table of any size.
"""

import dataclasses
import datetime
import uuid
from collections.abc import Iterable, Iterator

from django.db import connections, transaction

from usage_rollup.rollup import history_bounds, require_installed, require_primary

BucketKey = tuple[datetime.date, uuid.UUID, uuid.UUID, str, str]
Totals = tuple[int, int, int, int, int]

# The raw aggregate and the rollup rows of the days [since, until), the buckets that are still
# pending, and every bucket whose totals differ, or whose running sums by quarter hour differ
# from task_usage_daily_quarters', in one statement: one snapshot. The raw rows are grouped once,
# by quarter hour, and the quarters summed by day.
_DIFFERENCES = """
WITH raw_quarters AS MATERIALIZED (
    SELECT task_usage_utc_day(tu.created_at) AS bucket_date, a.workspace_id, t.runtime_id,
           tu.provider, tu.model, task_usage_utc_quarter(tu.created_at) AS quarter,
           sum(tu.input_tokens) AS input_tokens, sum(tu.output_tokens) AS output_tokens,
           sum(tu.cache_read_tokens) AS cache_read_tokens,
           sum(tu.cache_write_tokens) AS cache_write_tokens, count(*) AS event_count
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
      JOIN agent a ON a.id = t.agent_id
     WHERE task_usage_utc_day(tu.created_at) >= %(since)s
       AND task_usage_utc_day(tu.created_at) < %(until)s
       AND t.runtime_id IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5, 6
),
raw AS (
    SELECT bucket_date, workspace_id, runtime_id, provider, model,
           ARRAY[sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
                 sum(cache_write_tokens), sum(event_count)] AS totals
      FROM raw_quarters
     GROUP BY 1, 2, 3, 4, 5
),
raw_running AS (
    SELECT bucket_date, workspace_id, runtime_id, provider, model,
           array_agg(quarter ORDER BY quarter) AS quarters,
           array_agg(input_tokens ORDER BY quarter) AS input_tokens,
           array_agg(output_tokens ORDER BY quarter) AS output_tokens,
           array_agg(cache_read_tokens ORDER BY quarter) AS cache_read_tokens,
           array_agg(cache_write_tokens ORDER BY quarter) AS cache_write_tokens,
           array_agg(event_count ORDER BY quarter) AS event_count
      FROM (SELECT bucket_date, workspace_id, runtime_id, provider, model, quarter,
                   sum(input_tokens) OVER bucket AS input_tokens,
                   sum(output_tokens) OVER bucket AS output_tokens,
                   sum(cache_read_tokens) OVER bucket AS cache_read_tokens,
                   sum(cache_write_tokens) OVER bucket AS cache_write_tokens,
                   sum(event_count) OVER bucket AS event_count
              FROM raw_quarters
            WINDOW bucket AS (PARTITION BY bucket_date, workspace_id, runtime_id, provider,
                                           model
                              ORDER BY quarter)) AS r
     GROUP BY 1, 2, 3, 4, 5
),
rolled AS (
    SELECT bucket_date, workspace_id, runtime_id, provider, model,
           ARRAY[input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                 event_count]::numeric[] AS totals
      FROM task_usage_daily
     WHERE bucket_date >= %(since)s AND bucket_date < %(until)s
),
rolled_quarters AS (
    SELECT bucket_date, workspace_id, runtime_id, provider, model, quarters,
           input_tokens::numeric[] AS input_tokens, output_tokens::numeric[] AS output_tokens,
           cache_read_tokens::numeric[] AS cache_read_tokens,
           cache_write_tokens::numeric[] AS cache_write_tokens,
           event_count::numeric[] AS event_count
      FROM task_usage_daily_quarters
     WHERE bucket_date >= %(since)s AND bucket_date < %(until)s
),
quarters_differ AS (
    SELECT bucket_date, workspace_id, runtime_id, provider, model
      FROM raw_running r
      FULL JOIN rolled_quarters q USING (bucket_date, workspace_id, runtime_id, provider, model)
     WHERE (r.quarters, r.input_tokens, r.output_tokens, r.cache_read_tokens,
            r.cache_write_tokens, r.event_count)
           IS DISTINCT FROM
           (q.quarters, q.input_tokens, q.output_tokens, q.cache_read_tokens,
            q.cache_write_tokens, q.event_count)
),
pending AS (
    SELECT bucket_date, workspace_id, runtime_id, provider, model
      FROM task_usage_daily_dirty
     WHERE bucket_date >= %(since)s AND bucket_date < %(until)s
    UNION
    -- Set aside by the rollup (a sum out of bigint's range): named in the state, retried by
    -- every tick, not a silent difference.
    SELECT bucket_date, workspace_id, runtime_id, provider, model
      FROM task_usage_daily_set_aside
     WHERE bucket_date >= %(since)s AND bucket_date < %(until)s
    UNION
    SELECT task_usage_utc_day(tu.created_at), a.workspace_id, t.runtime_id, tu.provider, tu.model
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
      JOIN agent a ON a.id = t.agent_id
     WHERE tu.updated_at >= (SELECT coalesce(max(watermark_at) - interval '1 second', '-infinity')
                               FROM task_usage_rollup_state)
       AND task_usage_utc_day(tu.created_at) >= %(since)s
       AND task_usage_utc_day(tu.created_at) < %(until)s
       AND t.runtime_id IS NOT NULL
)
SELECT bucket_date, workspace_id, runtime_id, provider, model, raw.totals, rolled.totals,
       EXISTS (SELECT 1 FROM pending p
                WHERE (p.bucket_date, p.workspace_id, p.runtime_id, p.provider, p.model)
                    = (k.bucket_date, k.workspace_id, k.runtime_id, k.provider, k.model)),
       x.bucket_date IS NOT NULL
  FROM raw
  FULL JOIN rolled USING (bucket_date, workspace_id, runtime_id, provider, model)
  FULL JOIN quarters_differ x USING (bucket_date, workspace_id, runtime_id, provider, model) AS k
 WHERE raw.totals IS DISTINCT FROM rolled.totals OR x.bucket_date IS NOT NULL
 ORDER BY bucket_date, workspace_id, runtime_id, provider, model
"""

_QUEUE = """
SELECT task_usage_daily_enqueue(ARRAY(
    SELECT ROW(k.*)::task_usage_bucket_key
      FROM unnest(%s::date[], %s::uuid[], %s::uuid[], %s::text[], %s::text[]) AS k))
"""


def describe_bucket(key: BucketKey) -> str:
    """A bucket as reports name it: day, runtime, workspace, provider/model."""
    day, workspace_id, runtime_id, provider, model = key
    return f"{day} runtime {runtime_id} workspace {workspace_id} {provider}/{model}"


@dataclasses.dataclass(frozen=True)
class BucketDifference:
    """A bucket whose rollup row disagrees with its raw rows."""

    key: BucketKey
    raw: Totals | None
    rollup: Totals | None
    pending: bool
    # Its running sums by quarter hour in task_usage_daily_quarters differ from the raw rows' (or
    # its row there is missing or extra).
    quarters_differ: bool = False

    def describe(self) -> str:
        where = describe_bucket(self.key)
        if self.raw == self.rollup:
            what = "its running sums by quarter hour differ from the raw rows'"
        elif self.rollup is None:
            what = f"missing from the rollup (raw {_totals(self.raw)})"
        elif self.raw is None:
            what = f"in the rollup ({_totals(self.rollup)}) but has no raw rows"
        else:
            what = f"rollup {_totals(self.rollup)} != raw {_totals(self.raw)}"
        return f"{where}: {what}" + (" [pending]" if self.pending else "")


@dataclasses.dataclass
class VerifyReport:
    """What a verification found: the first differences, and how many of each kind."""

    since: datetime.date | None
    until: datetime.date | None
    wrong: int = 0
    pending: int = 0
    queued: int = 0
    shown: list[BucketDifference] = dataclasses.field(default_factory=list)

    @property
    def differs(self) -> bool:
        return self.wrong > 0


def _totals(totals: Totals | None) -> str:
    names = ("input", "output", "cache read", "cache write", "events")
    return ", ".join(f"{name} {value}" for name, value in zip(names, totals, strict=True))


def _as_difference(row: tuple) -> BucketDifference:
    key, raw, rollup, pending, quarters_differ = row[:5], row[5], row[6], row[7], row[8]
    return BucketDifference(
        key=tuple(key),
        # numeric in the query, so that a sum past bigint's range is compared, not an error.
        raw=tuple(int(value) for value in raw) if raw is not None else None,
        rollup=tuple(int(value) for value in rollup) if rollup is not None else None,
        pending=pending,
        quarters_differ=quarters_differ,
    )


def differences(
    since: datetime.date, until: datetime.date, *, using: str = "default"
) -> list[BucketDifference]:
    """Every bucket of the days [since, until) whose rollup row differs from its raw rows."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(_DIFFERENCES, {"since": since, "until": until})
        return [_as_difference(row) for row in cursor.fetchall()]


def differences_of(keys: Iterable[BucketKey], *, using: str = "default") -> list[BucketDifference]:
    """Which of the given buckets differ from their raw rows (for a hand-picked selection)."""
    wanted = set(keys)
    found = []
    for day in sorted({key[0] for key in wanted}):
        found += [
            difference
            for difference in differences(day, day + datetime.timedelta(days=1), using=using)
            if difference.key in wanted
        ]
    return found


def queue_buckets(keys: Iterable[BucketKey], *, using: str = "default") -> int:
    """Queue buckets for the next tick to recompute from the raw rows; return how many."""
    keys = list(keys)
    if keys:
        require_primary(using)
        with connections[using].cursor() as cursor:
            cursor.execute(_QUEUE, [list(column) for column in zip(*keys, strict=True)])
    return len(keys)


def _day_slices(
    since: datetime.date, until: datetime.date, days: int
) -> Iterator[tuple[datetime.date, datetime.date]]:
    start = since
    while start < until:
        end = min(start + datetime.timedelta(days=days), until)
        yield start, end
        start = end


def verify(
    since: datetime.date | None = None,
    until: datetime.date | None = None,
    *,
    repair: bool = False,
    slice_days: int = 7,
    keep: int = 20,
    using: str = "default",
) -> VerifyReport:
    """Compare the rollup with the raw aggregate from `since` to `until` (both days included;
    all of history by default), `slice_days` at a time; keep the first `keep` wrong buckets,
    count the rest, and with `repair` queue every wrong bucket."""
    if slice_days < 1:
        raise ValueError(f"slice_days must be at least 1, not {slice_days}")
    if repair:
        # Before the comparison, which may take minutes, rather than at its first queueing.
        require_primary(using)
    require_installed(using)
    first, last = history_bounds(using)
    since = since or first
    until = until or last
    report = VerifyReport(since=since, until=until)
    if since is None or until is None:
        return report
    if since > until:
        raise ValueError(f"the range starts on {since}, after it ends on {until}")
    for start, end in _day_slices(since, until + datetime.timedelta(days=1), slice_days):
        found = differences(start, end, using=using)
        wrong = [difference for difference in found if not difference.pending]
        report.pending += len(found) - len(wrong)
        report.wrong += len(wrong)
        report.shown.extend(wrong[: max(0, keep - len(report.shown))])
        if repair:
            report.queued += queue_buckets((difference.key for difference in wrong), using=using)
    return report
