"""The read path: usage per day, provider and model of a runtime or a workspace, and the views
that stay on the raw table (per agent, per hour of the day). Days are UTC days, or the days of
any IANA time zone the caller names (`tz`), read exactly from the quarter-hour running sums.

Three read modes return the same rows (`config.read_mode()` picks one at call time):
- raw: a GROUP BY over task_usage, the truth, whose cost grows with the scope's history;
- rollup: task_usage_daily, as fresh as its last tick;
- realtime: the rollup's settled buckets plus the raw rows of the pending ones, in one statement:
  equal to raw at every moment, and close to rollup in cost when little is pending.

Every statement is assembled once, at import, from fixed fragments (the scope's column); values
are always bound parameters.
"""

import dataclasses
import datetime
import functools
import time
import uuid
import zoneinfo
from typing import Literal, TypedDict, cast

from django.db import DataError, connections
from psycopg.types.numeric import IntLoader

from usage_rollup import config
from usage_rollup.config import ReadMode

Scope = Literal["runtime", "workspace"]

TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
USAGE_COLUMNS = ("runtime_id", "date", "provider", "model", *TOKEN_COLUMNS)
SUMMARY_COLUMNS = ("provider", "model", *TOKEN_COLUMNS)
# What the daily statements select: the scope's id, the same in every row, is added by
# _daily_dicts (loading it from every row cost 0.10-0.14 ms of a 1.7 ms 30-day rollup read).
_DAILY_COLUMNS = USAGE_COLUMNS[1:]
BY_AGENT_COLUMNS = ("agent_id", "provider", "model", *TOKEN_COLUMNS)
BY_HOUR_COLUMNS = ("hour", "provider", "model", *TOKEN_COLUMNS)


class UsageTotals(TypedDict):
    """The four token counts of a row the reads return (sums over its usage rows)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


class RuntimeUsageRow(UsageTotals):
    """A runtime's usage on one UTC day with one provider and model (SPEC section 2's row)."""

    runtime_id: uuid.UUID
    date: datetime.date
    provider: str
    model: str


class WorkspaceUsageRow(UsageTotals):
    """A workspace's usage on one UTC day with one provider and model."""

    workspace_id: uuid.UUID
    date: datetime.date
    provider: str
    model: str


class SummaryRow(UsageTotals):
    """A runtime's or workspace's usage with one provider and model over a period."""

    provider: str
    model: str


class AgentUsageRow(UsageTotals):
    """A runtime's usage by one agent with one provider and model over a period."""

    agent_id: uuid.UUID
    provider: str
    model: str


class HourUsageRow(UsageTotals):
    """A runtime's usage in one UTC hour of the day (0-23) with one provider and model."""

    hour: int
    provider: str
    model: str


# How each scope is named: its column in task_usage_daily and the queue, and the expression that
# gives a raw row's owner (SPEC section 3: the workspace is the task's agent's, not the issue's).
_SCOPES: dict[Scope, dict[str, str]] = {
    "runtime": {
        "column": "runtime_id",
        "owner": "t.runtime_id",
        "owner_tasks": "SELECT q.id FROM agent_task_queue q WHERE q.runtime_id = %(id)s",
    },
    "workspace": {
        "column": "workspace_id",
        "owner": "a.workspace_id",
        "owner_tasks": (
            "SELECT q.id FROM agent g JOIN agent_task_queue q ON q.agent_id = g.id"
            " WHERE g.workspace_id = %(id)s AND q.runtime_id IS NOT NULL"
        ),
    },
}

# The most tasks of a scope that the realtime read reads its stale buckets through; a scope with
# more reads them through their slices (as a tick's usage_rollup.runtime_path_max_tasks).
OWNER_PATH_MAX_TASKS = 20_000

# numeric, as sum() makes it: a period's total may pass bigint's range although no bucket does
# (and a bucket the rollup set aside does); _fetch loads them as ints.
_SUMS = """
    sum({rows}.input_tokens) AS input_tokens,
    sum({rows}.output_tokens) AS output_tokens,
    sum({rows}.cache_read_tokens) AS cache_read_tokens,
    sum({rows}.cache_write_tokens) AS cache_write_tokens
"""

# The scope's raw rows since the day, as the rollup counts them: the task has a runtime, the
# workspace is its agent's.
_RAW_DAILY = """
    SELECT task_usage_utc_day(tu.created_at) AS date, tu.provider, tu.model, {sums}
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
      JOIN agent a ON a.id = t.agent_id
     WHERE {owner} = %(id)s
       AND t.runtime_id IS NOT NULL
       AND task_usage_utc_day(tu.created_at) >= %(since)s
     GROUP BY 1, 2, 3
"""

# A runtime's tasks may belong to agents of several workspaces (and a workspace's agents run
# tasks on several runtimes): the rollup keeps one bucket for each, so the read sums them.
_ROLLUP_DAILY = """
    SELECT d.bucket_date AS date, d.provider, d.model, {sums}
      FROM task_usage_daily d
     WHERE d.{column} = %(id)s
       AND d.bucket_date >= %(since)s
     GROUP BY d.bucket_date, d.provider, d.model
"""

# The realtime reads' first steps (daily and zoned): the settled check and the scope's stale
# slices from {since_day} (a UTC day) on, with the rows that recompute them, by the cheaper path.
_STALE_SLICES = """
    WITH settled AS MATERIALIZED (
        SELECT FROM task_usage_rollup_state
         WHERE id = 1 AND watermark_at >= %(watermark)s
    ),
    stale AS MATERIALIZED (
        SELECT q.bucket_date, q.provider, q.model
          FROM task_usage_daily_dirty q
         WHERE q.{column} = %(id)s
           AND q.bucket_date >= {since_day}
        UNION
        SELECT x.bucket_date, x.provider, x.model
          FROM task_usage_daily_set_aside x
         WHERE x.{column} = %(id)s
           AND x.bucket_date >= {since_day}
        UNION
        SELECT task_usage_utc_day(tu.created_at), tu.provider, tu.model
          FROM task_usage tu
          JOIN agent_task_queue t ON t.id = tu.task_id
          JOIN agent a ON a.id = t.agent_id
         WHERE tu.updated_at >= %(watermark)s::timestamptz - interval '1 second'
           AND {owner} = %(id)s
           AND t.runtime_id IS NOT NULL
           AND task_usage_utc_day(tu.created_at) >= {since_day}
    ),
    -- The stale slices' rows of the scope, by the cheaper of two exact paths, as a tick chooses
    -- (sql/task_usage_daily_choose_paths.v2.sql): the scope's own tasks and their usage, or the
    -- stale slices' rows of every tenant. Weighed only when something is stale, and the slices'
    -- rows are counted only up to one more than the scope's tasks: deciding costs about what the
    -- cheaper path does. The tasks are counted in their index alone (an index-only scan of the
    -- runtime's entries), not kept: only the owner's path reads them again, whole. The guards
    -- are one-time filters, so the other path is never started.
    owner_count AS MATERIALIZED (
        SELECT count(*) AS tasks
          FROM ({owner_tasks} AND EXISTS (SELECT FROM stale) LIMIT {max_tasks} + 1) AS counted
    ),
    owner_path AS MATERIALIZED (
        SELECT c.tasks <= {max_tasks}
               AND c.tasks < (
                       SELECT count(*)
                         FROM (SELECT 1
                                 FROM stale s
                                 JOIN task_usage tu
                                   ON task_usage_utc_day(tu.created_at) = s.bucket_date
                                  AND tu.provider = s.provider
                                  AND tu.model = s.model
                                LIMIT c.tasks + 1) AS counted)
               AS chosen
          FROM owner_count c
    ),
    owner_rows AS MATERIALIZED (
        SELECT task_usage_utc_day(u.created_at) AS bucket_date, u.created_at, u.provider,
               u.model, u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens
          FROM ({owner_tasks}) AS o
          CROSS JOIN LATERAL (
                SELECT tu.created_at, tu.provider, tu.model, tu.input_tokens, tu.output_tokens,
                       tu.cache_read_tokens, tu.cache_write_tokens
                  FROM task_usage tu
                 WHERE tu.task_id = o.id
                OFFSET 0) AS u
         WHERE (SELECT chosen FROM owner_path)
    ),
    stale_rows AS MATERIALIZED (
        SELECT s.bucket_date, tu.created_at, s.provider, s.model, tu.task_id, tu.input_tokens,
               tu.output_tokens, tu.cache_read_tokens, tu.cache_write_tokens
          FROM stale s
          JOIN task_usage tu
            ON task_usage_utc_day(tu.created_at) = s.bucket_date
           AND tu.provider = s.provider
           AND tu.model = s.model
         WHERE NOT (SELECT chosen FROM owner_path)
    )
"""

# Why this equals the raw read. Let W be the watermark. By the entry point's contract
# (rollup_task_usage_daily.v3.sql), W never passes the start of a transaction that may still
# commit, less the one second each tick re-reads for a transaction not yet visible when W was
# chosen; so a row stamped below W - 1 second had committed when a window last recomputed its
# bucket. Since that recompute, a bucket can only have changed through (a) a change queued in
# task_usage_daily_dirty (deletes, reassignments, agent moves, key changes, TRUNCATE: whatever
# leaves updated_at alone) or set aside in task_usage_daily_set_aside (a sum out of bigint's
# range, which the rollup cannot hold), or (b) a row now stamped at or above W - 1 second
# (inserts and corrections, found by the updated_at index). A window drains only queue rows whose
# changes its later recompute sees, so (a) stays visible until the bucket is recomputed.
#
# The read marks a (day, provider, model) slice of the scope stale if any of the scope's buckets
# in it is (a) or (b), serves the other slices from the rollup and recomputes the stale ones from
# their raw rows, the scope's own (through its tasks) or the slices' (through
# task_usage_day_model_idx), whichever is fewer, so a slice emptied by a delete has no row. All of
# it is ONE statement: one snapshot of task_usage, the tasks, the agents, the rollup, the queue
# and the state row. A tick commits its buckets, its drain and its
# watermark at once, so the snapshot sees all of a tick or none of it, and a writer's rows and
# its queue rows are both visible or both not: the invariant above holds inside the snapshot, and
# the result equals the raw read of the same snapshot.
#
# The watermark comes in as a parameter, %(watermark)s, read just before: the planner then knows
# how few rows are pending (a value computed inside the statement would be estimated at a third
# of the table, for plans that read all of the scope's tasks). The statement checks it against
# its own snapshot: the watermark there may only be later, which makes the test (b) above only
# more cautious. If the snapshot has no watermark that late (the state row is gone, or the
# rollup was reset), nothing counts as settled and the raw branch serves alone.
_REALTIME_DAILY = """
{stale_slices}
    SELECT d.bucket_date AS date, d.provider, d.model, {rollup_sums}
      FROM task_usage_daily d
     WHERE d.{column} = %(id)s
       AND d.bucket_date >= %(since)s
       AND EXISTS (SELECT FROM settled)
       AND NOT EXISTS (
               SELECT FROM stale s
                WHERE s.bucket_date = d.bucket_date
                  AND s.provider = d.provider
                  AND s.model = d.model)
     GROUP BY 1, 2, 3
    UNION ALL
    SELECT r.bucket_date, r.provider, r.model, {stale_sums}
      FROM stale_rows r
      JOIN agent_task_queue t ON t.id = r.task_id
      JOIN agent a ON a.id = t.agent_id
     WHERE {owner} = %(id)s
       AND t.runtime_id IS NOT NULL
       AND EXISTS (SELECT FROM settled)
     GROUP BY 1, 2, 3
    UNION ALL
    SELECT r.bucket_date, r.provider, r.model, {stale_sums}
      FROM owner_rows r
      JOIN stale s
        ON (s.bucket_date, s.provider, s.model) = (r.bucket_date, r.provider, r.model)
     WHERE EXISTS (SELECT FROM settled)
     GROUP BY 1, 2, 3
    UNION ALL
    -- OFFSET 0 keeps the guard above the raw read's plan, so that it is not even started (its
    -- parallel workers cost milliseconds) when the rollup serves.
    SELECT * FROM ({raw} OFFSET 0) AS unsettled WHERE NOT EXISTS (SELECT FROM settled)
"""

# Days in a viewer's time zone (issue 13), for any zone but UTC (UTC days are the daily
# statements above). A local day D counts the raw rows whose task_usage_local_day is D. Each UTC
# day of the scope's buckets divides into runs of quarter hours that lie in one local day
# (task_usage_local_day_parts), and a bucket's usage in a run is the difference of two of its
# running sums in task_usage_daily_quarters: the one at the end of its last quarter with usage in
# the run less the one at the end of its last quarter before it (width_bucket finds each position
# by binary search in the bucket's ascending quarters; position 0, no quarter, is no usage yet).
# A bucket with no usage in a run gives no row for it. The rollup keeps every difference of two
# running sums of a bucket within bigint's range (sql/task_usage_daily_recompute_slices.v4.sql).
# A run that lies in no single local day, an edge (a zone offset that is not a whole number of
# quarter hours, as some were before the 1970s), takes the scope's own raw rows of it instead,
# each counted in its own local day, reached through the day index (task_usage_day_model_idx) of
# the bucket's UTC day, provider and model, which holds every tenant's rows of that slice.
#
# The period starts a day before the local day `since` starts, in UTC: a local midnight that a
# clock change makes ambiguous or skips is then inside it whatever AT TIME ZONE makes of it, and
# the rows and runs before `since` are dropped by their local day.
_ZONED_FIRST_DAY = (
    "task_usage_utc_day((%(since)s::date::timestamp AT TIME ZONE %(tz)s) - interval '1 day')"
)

# The scope's raw rows, by local day.
_RAW_ZONED = f"""
    SELECT task_usage_local_day(tu.created_at, %(tz)s) AS date, tu.provider, tu.model, {{sums}}
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
      JOIN agent a ON a.id = t.agent_id
     WHERE {{owner}} = %(id)s
       AND t.runtime_id IS NOT NULL
       AND task_usage_utc_day(tu.created_at) >= {_ZONED_FIRST_DAY}
       AND task_usage_local_day(tu.created_at, %(tz)s) >= %(since)s
     GROUP BY 1, 2, 3
"""

# The runs of the UTC days the scope has buckets on, then each bucket's usage in each run (the
# differences are taken before the rows are grouped, so that the grouping does not carry the
# arrays). {days_filter} leaves out buckets the realtime read recomputes.
_ZONED_RUNS = f"""
    day_parts AS MATERIALIZED (
        SELECT p.bucket_date, p.first_quarter, p.end_quarter, p.local_date
          FROM task_usage_local_day_parts(
                   ARRAY(SELECT DISTINCT q.bucket_date
                           FROM task_usage_daily_quarters q
                          WHERE q.{{column}} = %(id)s
                            AND q.bucket_date >= {_ZONED_FIRST_DAY}),
                   %(tz)s) AS p
         WHERE p.local_date >= %(since)s OR p.local_date IS NULL
    ),
    runs AS MATERIALIZED (
        SELECT p.bucket_date, p.first_quarter, p.end_quarter, p.local_date AS date, q.provider,
               q.model,
               coalesce(q.input_tokens[e.upto], 0) - coalesce(q.input_tokens[e.before], 0)
               AS input_tokens,
               coalesce(q.output_tokens[e.upto], 0) - coalesce(q.output_tokens[e.before], 0)
               AS output_tokens,
               coalesce(q.cache_read_tokens[e.upto], 0)
               - coalesce(q.cache_read_tokens[e.before], 0) AS cache_read_tokens,
               coalesce(q.cache_write_tokens[e.upto], 0)
               - coalesce(q.cache_write_tokens[e.before], 0) AS cache_write_tokens
          FROM task_usage_daily_quarters q
          JOIN day_parts p ON p.bucket_date = q.bucket_date
         -- OFFSET 0: each position found once, not again at each of the ten places it is named.
         CROSS JOIN LATERAL (
               SELECT width_bucket((p.first_quarter - 1)::smallint, q.quarters) AS before,
                      width_bucket((p.end_quarter - 1)::smallint, q.quarters) AS upto
               OFFSET 0) AS e
         WHERE q.{{column}} = %(id)s
           AND q.bucket_date >= {_ZONED_FIRST_DAY}
           AND e.upto > e.before
           {{days_filter}}
    ),
    -- The edges' raw rows: the scope's rows of each edge run, through its slice's day index
    -- (OFFSET 0 keeps the lookup per edge: the planner cannot turn it into a scan of task_usage,
    -- whatever it guesses of the edges).
    edge_rows AS MATERIALIZED (
        SELECT task_usage_local_day(u.created_at, %(tz)s) AS date, u.provider, u.model,
               u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens
          FROM (SELECT DISTINCT bucket_date, first_quarter, end_quarter, provider, model
                  FROM runs
                 WHERE date IS NULL) AS e
          CROSS JOIN LATERAL (
                SELECT tu.task_id, tu.created_at, tu.provider, tu.model, tu.input_tokens,
                       tu.output_tokens, tu.cache_read_tokens, tu.cache_write_tokens
                  FROM task_usage tu
                 WHERE task_usage_utc_day(tu.created_at) = e.bucket_date
                   AND tu.provider = e.provider
                   AND tu.model = e.model
                   AND task_usage_utc_quarter(tu.created_at) >= e.first_quarter
                   AND task_usage_utc_quarter(tu.created_at) < e.end_quarter
                OFFSET 0) AS u
          JOIN agent_task_queue t ON t.id = u.task_id
          JOIN agent a ON a.id = t.agent_id
         WHERE {{owner}} = %(id)s
           AND t.runtime_id IS NOT NULL
           AND task_usage_local_day(u.created_at, %(tz)s) >= %(since)s
    )"""

_ZONED_FROM_RUNS = """
    SELECT r.date, r.provider, r.model, r.input_tokens, r.output_tokens, r.cache_read_tokens,
           r.cache_write_tokens
      FROM runs r
     WHERE r.date IS NOT NULL
    UNION ALL
    SELECT * FROM edge_rows"""

_ROLLUP_ZONED = (
    """
    WITH"""
    + _ZONED_RUNS
    + """
    SELECT usage.date, usage.provider, usage.model, {sums}
      FROM ("""
    + _ZONED_FROM_RUNS
    + """) AS usage
     GROUP BY 1, 2, 3
"""
)

# The realtime read in a zone: as _REALTIME_DAILY (the argument there holds for the running sums,
# since a bucket's are written with it), the settled buckets' runs and edges from the rollup, the
# stale slices from their raw rows, each row in its local day.
_REALTIME_ZONED = (
    """
{stale_slices},"""
    + _ZONED_RUNS
    + """
    SELECT usage.date, usage.provider, usage.model, {sums}
      FROM ("""
    + _ZONED_FROM_RUNS
    + """
            UNION ALL
            SELECT task_usage_local_day(r.created_at, %(tz)s), r.provider, r.model,
                   r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens
              FROM stale_rows r
              JOIN agent_task_queue t ON t.id = r.task_id
              JOIN agent a ON a.id = t.agent_id
             WHERE {owner} = %(id)s
               AND t.runtime_id IS NOT NULL
            UNION ALL
            SELECT task_usage_local_day(r.created_at, %(tz)s), r.provider, r.model,
                   r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens
              FROM owner_rows r
              JOIN stale s
                ON (s.bucket_date, s.provider, s.model) = (r.bucket_date, r.provider, r.model)
           ) AS usage
     WHERE EXISTS (SELECT FROM settled)
       AND usage.date >= %(since)s
     GROUP BY 1, 2, 3
    UNION ALL
    SELECT * FROM ({raw} OFFSET 0) AS unsettled WHERE NOT EXISTS (SELECT FROM settled)
"""
)

# The realtime read leaves out the buckets of stale slices (their rows are read instead) and,
# when the snapshot has no watermark as late as the one read, every bucket (the raw read serves).
_REALTIME_DAYS_FILTER = """AND EXISTS (SELECT FROM settled)
           AND NOT EXISTS (
                   SELECT FROM stale s
                    WHERE s.bucket_date = q.bucket_date
                      AND s.provider = q.provider
                      AND s.model = q.model)"""

_DAILY_ROWS = """
    SELECT usage.date, usage.provider, usage.model, usage.input_tokens,
           usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens
      FROM ({daily}) AS usage
     ORDER BY usage.date DESC, usage.provider, usage.model
"""

# The rollup's daily rows, grouped and ordered in one query block: the planner then groups in
# the ORDER BY's order, which the scope's read index (usage_daily_<scope>_read_idx, migration
# 0008) yields as it is walked, so the read is an index-only scan of the period's buckets and a
# streaming aggregate. _DAILY_ROWS around _ROLLUP_DAILY would plan the subquery's GROUP BY apart
# from the outer ORDER BY: the same scan read backwards, hashed, then sorted.
_ROLLUP_DAILY_ROWS = _ROLLUP_DAILY + "     ORDER BY d.bucket_date DESC, d.provider, d.model\n"

_SUMMARY_ROWS = """
    SELECT usage.provider, usage.model, {sums}
      FROM ({daily}) AS usage
     GROUP BY usage.provider, usage.model
     ORDER BY usage.provider, usage.model
"""


def _stale_slices(scope: Scope, since_day: str) -> str:
    return _STALE_SLICES.format(
        since_day=since_day, max_tasks=OWNER_PATH_MAX_TASKS, **_SCOPES[scope]
    )


def _daily_sql(mode: ReadMode, scope: Scope, zoned: bool = False) -> str:
    """The scope's usage per day, provider and model since a day, read the way `mode` says:
    UTC days, or with `zoned` the days of the zone %(tz)s."""
    names = _SCOPES[scope]
    if zoned:
        if mode == "raw":
            return _RAW_ZONED.format(sums=_SUMS.format(rows="tu"), **names)
        template, days_filter, stale = _ROLLUP_ZONED, "", ""
        if mode == "realtime":
            template, days_filter = _REALTIME_ZONED, _REALTIME_DAYS_FILTER
            stale = _stale_slices(scope, _ZONED_FIRST_DAY)
        return template.format(
            stale_slices=stale,
            days_filter=days_filter,
            sums=_SUMS.format(rows="usage"),
            raw=_daily_sql("raw", scope, zoned),
            **names,
        )
    if mode == "raw":
        return _RAW_DAILY.format(sums=_SUMS.format(rows="tu"), **names)
    if mode == "rollup":
        return _ROLLUP_DAILY.format(sums=_SUMS.format(rows="d"), **names)
    return _REALTIME_DAILY.format(
        stale_slices=_stale_slices(scope, "%(since)s"),
        rollup_sums=_SUMS.format(rows="d"),
        stale_sums=_SUMS.format(rows="r"),
        raw=_daily_sql("raw", scope),
        **names,
    )


_ZONINGS = (False, True)
_DAILY_SQL = {
    (mode, scope, zoned): (
        _ROLLUP_DAILY_ROWS.format(sums=_SUMS.format(rows="d"), **_SCOPES[scope])
        if mode == "rollup" and not zoned
        else _DAILY_ROWS.format(daily=_daily_sql(mode, scope, zoned))
    )
    for mode in config.READ_MODES
    for scope in _SCOPES
    for zoned in _ZONINGS
}
_SUMMARY_SQL = {
    (mode, scope, zoned): _SUMMARY_ROWS.format(
        sums=_SUMS.format(rows="usage"), daily=_daily_sql(mode, scope, zoned)
    )
    for mode in config.READ_MODES
    for scope in _SCOPES
    for zoned in _ZONINGS
}

# A realtime read's first statement. A scope with few tasks (config.realtime_raw_max_tasks) has
# as few raw rows: the raw read is then the exact answer, no dearer than the rows of its stale
# slices alone, and it spares the realtime statement's planning (2-3.5 ms, as much as a
# 200-task tenant's whole raw read: benchmarks/README.md). So this statement counts the scope's
# tasks, as far as the choice needs, and in the same round trip returns either the raw read's
# rows, each marked as the answer, or one row that marks the scope as large and carries the
# watermark for the realtime statement (see _REALTIME_DAILY). The guard keeps the raw read's
# plan from being started for a large scope; the outer ORDER BY keeps the raw read's order.
_REALTIME_FIRST = """
    WITH probe AS MATERIALIZED (
        SELECT (SELECT watermark_at FROM task_usage_rollup_state WHERE id = 1) AS watermark,
               (SELECT count(*) FROM ({owner_tasks} LIMIT %(limit)s) AS tasks) < %(limit)s
               AS few
    )
    SELECT true, NULL::timestamptz, answer.*
      FROM ({raw} OFFSET 0) AS answer
     WHERE (SELECT few FROM probe)
    UNION ALL
    SELECT false, watermark{nulls} FROM probe WHERE NOT few
     ORDER BY {order}
"""


def _realtime_first_sql(raw: str, columns: tuple[str, ...], order: str, scope: Scope) -> str:
    return _REALTIME_FIRST.format(
        owner_tasks=_SCOPES[scope]["owner_tasks"],
        raw=raw,
        nulls=", NULL" * len(columns),
        order=order,
    )


# Positions in the first statement's rows: the mark and the watermark come first.
_REALTIME_FIRST_SQL = {
    **{
        ("daily", scope, zoned): _realtime_first_sql(
            _DAILY_SQL["raw", scope, zoned], _DAILY_COLUMNS, "3 DESC, 4, 5", scope
        )
        for scope in _SCOPES
        for zoned in _ZONINGS
    },
    **{
        ("summary", scope, zoned): _realtime_first_sql(
            _SUMMARY_SQL["raw", scope, zoned], SUMMARY_COLUMNS, "3, 4", scope
        )
        for scope in _SCOPES
        for zoned in _ZONINGS
    },
}


# The views whose keys the rollup does not keep (agent, hour of the day) read the raw rows.
_RUNTIME_USAGE_BY_AGENT = f"""
    SELECT t.agent_id, tu.provider, tu.model, {_SUMS.format(rows="tu")}
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
     WHERE t.runtime_id = %(id)s
       AND task_usage_utc_day(tu.created_at) >= %(since)s
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
"""

_RUNTIME_USAGE_BY_HOUR = f"""
    SELECT extract(hour FROM tu.created_at AT TIME ZONE 'UTC')::int AS hour, tu.provider,
           tu.model, {_SUMS.format(rows="tu")}
      FROM task_usage tu
      JOIN agent_task_queue t ON t.id = tu.task_id
     WHERE t.runtime_id = %(id)s
       AND task_usage_utc_day(tu.created_at) >= %(since)s
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3
"""


UTC = "UTC"


class UnknownTimeZone(ValueError):
    """A time zone that is not an IANA zone name known to Python and to PostgreSQL."""


@functools.cache
def _known_zones() -> frozenset[str]:
    # available_timezones() walks the zone database on disk at each call.
    return frozenset(zoneinfo.available_timezones()) | {UTC}


def time_zone(name: str) -> str:
    """`name` if it is an IANA time zone name ("Asia/Kolkata"), else UnknownTimeZone.

    Only names of the zone database are taken, not paths or POSIX rules ("EST5EDT,M3.2.0"),
    which PostgreSQL would read otherwise. A zone Python knows and the database server does not
    is refused by the read itself (UnknownTimeZone too).
    """
    if name not in _known_zones():
        raise UnknownTimeZone(f"{name!r} is not a time zone name of the IANA database")
    return name


def today(tz: str = UTC) -> datetime.date:
    """Today's calendar day in the time zone `tz` (UTC by default)."""
    if tz == UTC:
        return datetime.datetime.now(datetime.UTC).date()
    return datetime.datetime.now(zoneinfo.ZoneInfo(time_zone(tz))).date()


def utc_today() -> datetime.date:
    """Today's UTC calendar day (the day of a usage row is its UTC day, unless read in a zone)."""
    return today(UTC)


def period_start(days: int, tz: str = UTC) -> datetime.date:
    """The first day of the last `days` days in the zone `tz`: `days` full days before today
    there, plus today.

    What `days=N` means wherever a period is asked for: the API, the admin's chart, the demo.
    """
    return today(tz) - datetime.timedelta(days=days)


def _fetch(sql: str, params: dict, using: str) -> list[tuple]:
    with connections[using].cursor() as cursor:
        # The sums are numeric (_SUMS) and whole: loaded as ints straight from the text the
        # server sends, not as Decimals converted after (that conversion was a quarter of a
        # 30-day rollup read's time at 1M rows). Only this cursor's loaders change.
        cursor.cursor.adapters.register_loader("numeric", IntLoader)
        try:
            cursor.execute(sql, params)
        except DataError as error:
            # The server's zone database lacks a zone Python's has (time_zone() took it).
            if "tz" in params and getattr(error.__cause__, "sqlstate", None) == "22023":
                raise UnknownTimeZone(
                    f"the database server does not know the time zone {params['tz']!r}"
                ) from error
            raise
        return cursor.fetchall()


def _rows(sql: str, params: dict, columns: tuple[str, ...], using: str) -> list[dict]:
    return [dict(zip(columns, row, strict=True)) for row in _fetch(sql, params, using)]


_STATEMENTS = {"daily": _DAILY_SQL, "summary": _SUMMARY_SQL}


def _read(
    kind: Literal["daily", "summary"],
    scope: Scope,
    scope_id: uuid.UUID,
    since: datetime.date,
    tz: str,
    source: ReadMode | None,
    using: str,
) -> list[tuple]:
    mode = source or config.read_mode()
    params = {"id": scope_id, "since": since}
    # UTC days are the daily rollup's; any other zone's are read from its quarter hours.
    zoned = tz != UTC
    if zoned:
        params["tz"] = time_zone(tz)
    rows = None
    if mode == "realtime":
        rows, params["watermark"] = _realtime_first(kind, scope, zoned, params, using)
    if rows is None:
        rows = _fetch(_STATEMENTS[kind][mode, scope, zoned], params, using)
    return rows


def _daily_dicts(column: str, scope_id: uuid.UUID, rows: list[tuple]) -> list[dict]:
    # A dict display per row: a third of the time dict(zip(...)) takes, which was a fifth of a
    # 90-day rollup read of 546 rows (measured: 2.73 -> 2.16 ms at 10M rows; 30 days 1.34 -> 0.97).
    owner = uuid.UUID(str(scope_id))
    return [
        {
            column: owner,
            "date": date,
            "provider": provider,
            "model": model,
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write,
        }
        for date, provider, model, tokens_in, tokens_out, cache_read, cache_write in rows
    ]


def _realtime_first(
    kind: Literal["daily", "summary"], scope: Scope, zoned: bool, params: dict, using: str
) -> tuple[list[tuple] | None, datetime.datetime | None]:
    """The raw read's rows if the scope has few tasks, else None and the rollup's watermark
    (see _REALTIME_FIRST), in one statement."""
    limit = config.realtime_raw_max_tasks() + 1
    rows = _fetch(_REALTIME_FIRST_SQL[kind, scope, zoned], {**params, "limit": limit}, using)
    if rows and not rows[0][0]:
        return None, rows[0][1]
    return [row[2:] for row in rows], None


def runtime_usage(
    runtime_id: uuid.UUID,
    since: datetime.date,
    *,
    tz: str = UTC,
    source: ReadMode | None = None,
    using: str = "default",
) -> list[RuntimeUsageRow]:
    """A runtime's usage per day of the time zone `tz` (an IANA name, UTC by default), provider
    and model from the day `since` there on, newest day first."""
    rows = _read("daily", "runtime", runtime_id, since, tz, source, using)
    return cast(list[RuntimeUsageRow], _daily_dicts("runtime_id", runtime_id, rows))


def workspace_usage(
    workspace_id: uuid.UUID,
    since: datetime.date,
    *,
    tz: str = UTC,
    source: ReadMode | None = None,
    using: str = "default",
) -> list[WorkspaceUsageRow]:
    """A workspace's usage per day of the time zone `tz` (UTC by default), provider and model
    from the day `since` there on, newest day first.

    A task counts in its agent's workspace; tasks without a runtime are not counted (SPEC 3).
    """
    rows = _read("daily", "workspace", workspace_id, since, tz, source, using)
    return cast(list[WorkspaceUsageRow], _daily_dicts("workspace_id", workspace_id, rows))


def usage_summary(
    scope: Scope,
    scope_id: uuid.UUID,
    since: datetime.date,
    *,
    tz: str = UTC,
    source: ReadMode | None = None,
    using: str = "default",
) -> list[SummaryRow]:
    """A runtime's or workspace's total usage per provider and model from the day `since` of
    the time zone `tz` (UTC by default) on."""
    rows = _read("summary", scope, scope_id, since, tz, source, using)
    return cast(list[SummaryRow], [dict(zip(SUMMARY_COLUMNS, row, strict=True)) for row in rows])


def runtime_usage_by_agent(
    runtime_id: uuid.UUID, since: datetime.date, *, using: str = "default"
) -> list[AgentUsageRow]:
    """A runtime's usage per agent, provider and model from `since` on (raw table)."""
    params = {"id": runtime_id, "since": since}
    return cast(
        list[AgentUsageRow], _rows(_RUNTIME_USAGE_BY_AGENT, params, BY_AGENT_COLUMNS, using)
    )


def runtime_usage_by_hour(
    runtime_id: uuid.UUID, since: datetime.date, *, using: str = "default"
) -> list[HourUsageRow]:
    """A runtime's usage per UTC hour of the day (0-23), provider and model from `since` on."""
    params = {"id": runtime_id, "since": since}
    return cast(list[HourUsageRow], _rows(_RUNTIME_USAGE_BY_HOUR, params, BY_HOUR_COLUMNS, using))


@dataclasses.dataclass(frozen=True)
class ReadComparison:
    """The same runtime usage read from the rollup and from the raw table."""

    rollup_rows: list[RuntimeUsageRow]
    raw_rows: list[RuntimeUsageRow]
    rollup_seconds: float
    raw_seconds: float

    @property
    def equal(self) -> bool:
        return self.rollup_rows == self.raw_rows


def busiest_runtime(*, using: str = "default") -> uuid.UUID | None:
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
    runtime_id: uuid.UUID, since: datetime.date, *, repeat: int = 5, using: str = "default"
) -> ReadComparison:
    """Read a runtime's usage both ways; each timing is the best of `repeat` runs."""

    def best_of(source: ReadMode) -> tuple[list[RuntimeUsageRow], float]:
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            rows = runtime_usage(runtime_id, since, source=source, using=using)
            timings.append(time.perf_counter() - started)
        return rows, min(timings)

    rollup_rows, rollup_seconds = best_of("rollup")
    raw_rows, raw_seconds = best_of("raw")
    return ReadComparison(rollup_rows, raw_rows, rollup_seconds, raw_seconds)


def estimated_row_count(table: str, *, using: str = "default") -> int | None:
    """The planner's estimate of a table's rows (pg_class.reltuples): free, unlike count(*) on a
    large table, and close after each autovacuum or ANALYZE; None before the first ANALYZE."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table]
        )
        row = cursor.fetchone()
    return row[0] if row and row[0] >= 0 else None
