"""Synthetic usage histories, generated in SQL, for the demo and the benchmarks.

Shaped like production: several workspaces, agents and runtimes, a skewed share of tasks per
runtime (the first runtime is the busiest), several providers and models, a steady daily rate
over `days` days ending now, a few late corrections, and some tasks that never got a runtime.

Its workspaces are the ones whose slug starts with SLUG_PREFIX: that is how the demo tells its
own rows from a host's (`foreign_data`).
"""

import dataclasses

from django.db import connections, transaction

SLUG_PREFIX = "synthetic-"

MODELS = (
    ("anthropic", "claude-opus-4"),
    ("anthropic", "claude-sonnet-4"),
    ("anthropic", "claude-haiku-4"),
    ("openai", "gpt-5"),
    ("openai", "gpt-5-mini"),
    ("google", "gemini-2.5-pro"),
)


@dataclasses.dataclass(frozen=True)
class HistoryShape:
    rows: int = 200_000
    days: int = 180
    workspaces: int = 3
    runtimes: int = 12
    agents: int = 24
    seed: float = 0.42

    def __post_init__(self) -> None:
        for name in ("rows", "days", "workspaces", "runtimes", "agents"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not -1 <= self.seed <= 1:
            raise ValueError(f"seed must be between -1 and 1, not {self.seed}")


_GENERATE = """
SELECT setseed(%(seed)s);

INSERT INTO workspace (name, slug)
SELECT 'Synthetic workspace ' || w, %(slug_prefix)s || w FROM generate_series(1, %(workspaces)s) w;

CREATE TEMPORARY TABLE synthetic_workspace ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY slug) AS n, id FROM workspace
 WHERE starts_with(slug, %(slug_prefix)s);

INSERT INTO agent_runtime (workspace_id, name, provider)
SELECT w.id, format('runtime-%%s', lpad(r::text, 3, '0')), 'cloud'
  FROM generate_series(1, %(runtimes)s) r
  JOIN synthetic_workspace w ON w.n = 1 + (r - 1) %% %(workspaces)s;

INSERT INTO agent (workspace_id, name)
SELECT w.id, format('agent-%%s', lpad(a::text, 3, '0'))
  FROM generate_series(1, %(agents)s) a
  JOIN synthetic_workspace w ON w.n = 1 + (a - 1) %% %(workspaces)s;

-- Tasks: two usage rows each. The runtime is skewed (random()^3 favours the first runtime);
-- one task in twenty has none. Time is uniform over the history: a steady daily rate.
CREATE TEMPORARY TABLE synthetic_task ON COMMIT DROP AS
SELECT g AS n,
       1 + floor(random() * %(agents)s)::int AS agent_n,
       CASE WHEN random() < 0.05 THEN NULL
            ELSE 1 + floor(%(runtimes)s * power(random(), 3))::int END AS runtime_n,
       now() - random() * %(days)s * interval '1 day' AS at,
       floor(random() * %(models)s)::int AS first_model
  FROM generate_series(1, (%(rows)s + 1) / 2) g;

INSERT INTO issue (workspace_id, title)
SELECT a.workspace_id, 'Synthetic issue ' || g
  FROM generate_series(1, greatest(1, (%(rows)s + 39) / 40)) g
  JOIN agent a ON a.name = format('agent-%%s', lpad((1 + g %% %(agents)s)::text, 3, '0'));

-- Numbered parents to join tasks to (joins, not arrays: an array of thousands of issue ids
-- would be unpacked again for every task).
CREATE TEMPORARY TABLE synthetic_parent ON COMMIT DROP AS
SELECT 'agent' AS kind, row_number() OVER (ORDER BY name) AS n, id FROM agent
 WHERE name LIKE 'agent-%%'
UNION ALL
SELECT 'runtime', row_number() OVER (ORDER BY name), id FROM agent_runtime
 WHERE name LIKE 'runtime-%%'
UNION ALL
SELECT 'issue', row_number() OVER (ORDER BY title), id FROM issue
 WHERE title LIKE 'Synthetic issue %%';
CREATE INDEX ON synthetic_parent (kind, n);
ANALYZE synthetic_parent;

-- Time-ordered ids (UUIDv7's layout: milliseconds first, then random bits), as many live
-- systems use: each index insert lands at the right edge instead of a random page, which makes
-- a million rows a matter of seconds. OR REPLACE: the session's temporary schema keeps it, and a
-- second history in the same session (the demo's --reset after a run) defines it again.
CREATE OR REPLACE FUNCTION pg_temp.synthetic_uuid(p_at timestamptz) RETURNS uuid
LANGUAGE sql AS $f$
    SELECT encode(overlay(uuid_send(gen_random_uuid())
                          PLACING substring(int8send((extract(epoch FROM p_at) * 1000)::bigint)
                                            FROM 3)
                          FROM 1 FOR 6), 'hex')::uuid
$f$;

CREATE TEMPORARY TABLE synthetic_task_id ON COMMIT DROP AS
SELECT t.n, pg_temp.synthetic_uuid(t.at) AS id FROM synthetic_task t;

INSERT INTO agent_task_queue (id, agent_id, issue_id, runtime_id, status, created_at)
SELECT ti.id, a.id, i.id, r.id, 'done', t.at
  FROM synthetic_task t
  JOIN synthetic_task_id ti USING (n)
  JOIN synthetic_parent a ON a.kind = 'agent' AND a.n = t.agent_n
  JOIN synthetic_parent i
    ON i.kind = 'issue'
   AND i.n = 1 + t.n %% (SELECT count(*) FROM synthetic_parent WHERE kind = 'issue')
  LEFT JOIN synthetic_parent r ON r.kind = 'runtime' AND r.n = t.runtime_n
 ORDER BY ti.id;

-- Usage, written back then: updated_at = created_at, except 3%% corrected up to two days later.
INSERT INTO task_usage (id, task_id, provider, model, input_tokens, output_tokens,
                        cache_read_tokens, cache_write_tokens, created_at, updated_at)
SELECT pg_temp.synthetic_uuid(u.at), ti.id, m.provider, m.model,
       (1000 + random() * 40000)::bigint, (100 + random() * 4000)::bigint,
       (random() * 60000)::bigint, (random() * 8000)::bigint,
       u.at,
       CASE WHEN random() < 0.03 THEN least(now(), u.at + random() * interval '2 days')
            ELSE u.at END
  FROM synthetic_task t
  JOIN synthetic_task_id ti USING (n)
 CROSS JOIN LATERAL (VALUES (0), (1)) AS k(i)
 CROSS JOIN LATERAL (SELECT t.at + random() * interval '10 minutes' AS at) AS u
  JOIN unnest(%(providers)s::text[], %(model_names)s::text[])
       WITH ORDINALITY AS m(provider, model, i)
    ON m.i = 1 + (t.first_model + k.i) %% %(models)s
 WHERE t.n * 2 - 1 + k.i <= %(rows)s
 -- Appended in time order, as a live table is: a day's rows sit in few pages, as in production.
 ORDER BY u.at;
"""

_RESET = """
TRUNCATE workspace, agent_runtime, agent, issue, agent_task_queue, task_usage,
         task_usage_daily, task_usage_daily_dirty, task_usage_daily_quarters;
UPDATE task_usage_rollup_state
   SET watermark_at = NULL, last_run_started_at = NULL, last_run_finished_at = NULL,
       last_run_rows = NULL, last_error = NULL, last_error_at = NULL, failed_runs = 0;
"""


# Workspaces that are not the demo's, and whether any usage row is outside the demo's workspaces
# (through its task's agent, as the rollup counts it; a row whose task or agent is missing too).
_FOREIGN_DATA = """
SELECT (SELECT count(*) FROM workspace WHERE starts_with(slug, %(slug_prefix)s) IS NOT TRUE),
       EXISTS (SELECT FROM task_usage tu
                 LEFT JOIN agent_task_queue t ON t.id = tu.task_id
                 LEFT JOIN agent a ON a.id = t.agent_id
                 LEFT JOIN workspace w ON w.id = a.workspace_id
                WHERE starts_with(w.slug, %(slug_prefix)s) IS NOT TRUE)
"""


def foreign_data(*, using: str = "default") -> str | None:
    """What the database holds that no synthetic history wrote, described; None when nothing."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass('workspace') IS NULL AND to_regclass('task_usage') IS NULL"
        )
        if cursor.fetchone()[0]:  # not even the source tables: nothing to protect
            return None
        cursor.execute(_FOREIGN_DATA, {"slug_prefix": SLUG_PREFIX})
        workspaces, usage = cursor.fetchone()
    found = []
    if workspaces:
        found.append(f"{workspaces:,} workspaces whose slug does not start with {SLUG_PREFIX!r}")
    if usage:
        found.append("usage rows outside the synthetic workspaces")
    return " and ".join(found) or None


def usage_row_count(using: str = "default") -> int:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM task_usage")
        return cursor.fetchone()[0]


def reset_all(using: str = "default") -> None:
    """Empty every source and rollup table and forget the rollup's progress."""
    with connections[using].cursor() as cursor:
        cursor.execute(_RESET)


def generate_history(shape: HistoryShape, using: str = "default") -> None:
    """Write a synthetic history of `shape.rows` usage rows, in one transaction."""
    params = {
        **dataclasses.asdict(shape),
        "slug_prefix": SLUG_PREFIX,
        "models": len(MODELS),
        "providers": [provider for provider, _ in MODELS],
        "model_names": [model for _, model in MODELS],
    }
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(_GENERATE, params)
        cursor.execute("ANALYZE task_usage; ANALYZE agent_task_queue; ANALYZE agent")
