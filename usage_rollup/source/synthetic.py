"""Synthetic usage histories, generated in SQL, for the demo and the benchmarks.

Shaped like production: several workspaces, agents and runtimes, a skewed share of tasks per
runtime (the first runtime is the busiest), each task's agent in its runtime's workspace, several
providers and models, a steady daily rate over `days` days ending now, and some tasks that never
got a runtime.

Its workspaces are the ones whose slug starts with SLUG_PREFIX: that is how the demo tells its
own rows from a host's (`foreign_data`).
"""

import dataclasses
import random
import threading
from collections.abc import Callable

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
        if self.agents < self.workspaces:
            raise ValueError(
                f"every workspace needs an agent: {self.agents} agents for "
                f"{self.workspaces} workspaces"
            )
        if not -1 <= self.seed <= 1:
            raise ValueError(f"seed must be between -1 and 1, not {self.seed}")


# The parents: workspaces, their runtimes and agents, and the issues.
_GENERATE_PARENTS = """
SELECT setseed(%(seed)s);

INSERT INTO workspace (name, slug)
SELECT 'Synthetic workspace ' || w, %(slug_prefix)s || w FROM generate_series(1, %(workspaces)s) w;

CREATE TEMPORARY TABLE synthetic_workspace ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY slug) AS n, id FROM workspace
 WHERE starts_with(slug, %(slug_prefix)s);

INSERT INTO agent_runtime (workspace_id, name, provider)
SELECT w.id, format('runtime-%%s', lpad(r::text, 4, '0')), 'cloud'
  FROM generate_series(1, %(runtimes)s) r
  JOIN synthetic_workspace w ON w.n = 1 + (r - 1) %% %(workspaces)s;

INSERT INTO agent (workspace_id, name)
SELECT w.id, format('agent-%%s', lpad(a::text, 4, '0'))
  FROM generate_series(1, %(agents)s) a
  JOIN synthetic_workspace w ON w.n = 1 + (a - 1) %% %(workspaces)s;

INSERT INTO issue (workspace_id, title)
SELECT a.workspace_id, 'Synthetic issue ' || g
  FROM generate_series(1, %(issues)s) g
  JOIN agent a ON a.name = format('agent-%%s', lpad((1 + g %% %(agents)s)::text, 4, '0'));
"""

# What a writer of chunks joins to, in its own session and transaction.
_PREPARE_WRITER = """
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

-- Time-ordered ids (UUIDv7's layout: milliseconds first, then the version, random bits, the
-- variant and more random bits), as many live systems use: each index insert lands at the right
-- edge instead of a random page, which makes a million rows a matter of seconds. The bits come
-- from random(), so a seed gives the same ids (gen_random_uuid() reads /dev/urandom anew for
-- every id on a server built without OpenSSL, as the embedded one is: a fifth of the time of
-- writing a history). OR REPLACE: the session's temporary schema keeps it, and a second history
-- in the same session (the demo's --reset after a run) defines it again.
CREATE OR REPLACE FUNCTION pg_temp.synthetic_uuid(p_at timestamptz) RETURNS uuid
LANGUAGE sql AS $f$
    SELECT (lpad(to_hex((extract(epoch FROM p_at) * 1000)::bigint), 12, '0')
            || '7' || lpad(to_hex(floor(random() * 4096)::int), 3, '0')
            || to_hex(8 + floor(random() * 4)::int)
            || lpad(to_hex(floor(random() * 281474976710656)::bigint), 12, '0')
            || lpad(to_hex(floor(random() * 4096)::int), 3, '0'))::uuid
$f$;
"""

# Tasks first to last: two usage rows each. Task n's time is drawn within the n-th of `tasks`
# equal parts of the history, so the tasks are in time order and the history can be written
# in chunks of consecutive tasks, each appended in time order as a live table is (a day's rows
# sit in few pages, as in production), with a steady daily rate. The runtime is skewed
# (random()^3 favours the first runtime); one task in twenty has none. A task's agent is one of
# its runtime's workspace (any agent when it has no runtime), as a platform's are.
_GENERATE_CHUNK = """
SELECT setseed(%(chunk_seed)s);

CREATE TEMPORARY TABLE synthetic_task AS
SELECT g AS n, runtime_n,
       CASE WHEN runtime_n IS NULL THEN 1 + floor(random() * %(agents)s)::int
            ELSE workspace_n
                 + %(workspaces)s
                   * floor(random() * ((%(agents)s - workspace_n) / %(workspaces)s + 1))::int
       END AS agent_n,
       at, pg_temp.synthetic_uuid(at) AS id,
       floor(random() * %(models)s)::int AS first_model
  FROM generate_series(%(first_task)s, %(last_task)s) g
 CROSS JOIN LATERAL (
       SELECT CASE WHEN random() < 0.05 THEN NULL
                   ELSE 1 + floor(%(runtimes)s * power(random(), 3))::int END AS runtime_n,
              now() - %(days)s * interval '1 day' * (1 - (g - random()) / %(tasks)s) AS at
       OFFSET 0) AS drawn
 CROSS JOIN LATERAL (SELECT 1 + (runtime_n - 1) %% %(workspaces)s AS workspace_n) AS runtime;

INSERT INTO agent_task_queue (id, agent_id, issue_id, runtime_id, status, created_at)
SELECT t.id, a.id, i.id, r.id, 'done', t.at
  FROM synthetic_task t
  JOIN synthetic_parent a ON a.kind = 'agent' AND a.n = t.agent_n
  JOIN synthetic_parent i ON i.kind = 'issue' AND i.n = 1 + t.n %% %(issues)s
  LEFT JOIN synthetic_parent r ON r.kind = 'runtime' AND r.n = t.runtime_n
 ORDER BY t.id;

-- Usage. updated_at is now(), as the rollup's insert trigger would stamp it anyway (a row is
-- pending from the moment it is written, whatever its creation time says); stamped here, the
-- trigger's WHEN leaves it uncalled.
INSERT INTO task_usage (id, task_id, provider, model, input_tokens, output_tokens,
                        cache_read_tokens, cache_write_tokens, created_at, updated_at)
SELECT pg_temp.synthetic_uuid(u.at), t.id, m.provider, m.model,
       (1000 + random() * 40000)::bigint, (100 + random() * 4000)::bigint,
       (random() * 60000)::bigint, (random() * 8000)::bigint,
       u.at, now()
  FROM synthetic_task t
 CROSS JOIN LATERAL (VALUES (0), (1)) AS k(i)
 CROSS JOIN LATERAL (SELECT t.at + random() * interval '10 minutes' AS at) AS u
  JOIN unnest(%(providers)s::text[], %(model_names)s::text[])
       WITH ORDINALITY AS m(provider, model, i)
    ON m.i = 1 + (t.first_model + k.i) %% %(models)s
 WHERE t.n * 2 - 1 + k.i <= %(rows)s
 ORDER BY u.at;

DROP TABLE synthetic_task;
"""

# Tasks per chunk: a million usage rows, half a minute of work, a sort that fits in memory.
CHUNK_TASKS = 500_000

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


def generate_history(
    shape: HistoryShape,
    using: str = "default",
    progress: Callable[[int], None] | None = None,
    writers: int = 1,
) -> None:
    """Write a synthetic history of `shape.rows` usage rows, in one transaction; `progress` is
    told the usage rows written so far after each chunk of CHUNK_TASKS tasks.

    With several `writers`, the parents are committed first and each writer writes every
    writers-th chunk in a session and transaction of its own (a history of 100M rows in about
    half the time on two cores): an error can leave part of the history behind, for the caller
    to empty. Each chunk draws from its own seed, so the history is the same either way."""
    tasks = (shape.rows + 1) // 2
    params = {
        **dataclasses.asdict(shape),
        "slug_prefix": SLUG_PREFIX,
        "models": len(MODELS),
        "providers": [provider for provider, _ in MODELS],
        "model_names": [model for _, model in MODELS],
        "tasks": tasks,
        "issues": max(1, (shape.rows + 39) // 40),
    }
    chunks = [
        (first, min(tasks, first + CHUNK_TASKS - 1)) for first in range(1, tasks + 1, CHUNK_TASKS)
    ]
    written = _Written(shape.rows, progress)

    def write(own_chunks: list[tuple[int, int]]) -> None:
        with connections[using].cursor() as cursor:
            cursor.execute(_PREPARE_WRITER)
            for first_task, last_task in own_chunks:
                cursor.execute(
                    _GENERATE_CHUNK,
                    {
                        **params,
                        "first_task": first_task,
                        "last_task": last_task,
                        "chunk_seed": random.Random(f"{shape.seed}:{first_task}").uniform(-1, 1),
                    },
                )
                written.add(2 * (last_task - first_task + 1))

    if writers == 1:
        with transaction.atomic(using=using):
            with connections[using].cursor() as cursor:
                cursor.execute(_GENERATE_PARENTS, params)
            write(chunks)
    else:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute(_GENERATE_PARENTS, params)
        _in_threads(using, [chunks[n::writers] for n in range(writers)], write)
    with connections[using].cursor() as cursor:
        cursor.execute("ANALYZE task_usage; ANALYZE agent_task_queue; ANALYZE agent")


class _Written:
    """The usage rows written so far, told to `progress` (from any writer's thread)."""

    def __init__(self, rows: int, progress: Callable[[int], None] | None) -> None:
        self.rows, self.progress, self.count, self.lock = rows, progress, 0, threading.Lock()

    def add(self, rows: int) -> None:
        with self.lock:
            self.count = min(self.rows, self.count + rows)
            if self.progress:
                self.progress(self.count)


def _in_threads(using: str, shares: list, write: Callable) -> None:
    """write(share) for each share, each in a thread with its own connection and transaction;
    the first error is raised once every thread has ended."""
    errors: list[BaseException] = []

    def run(share) -> None:
        try:
            with transaction.atomic(using=using):
                write(share)
        except BaseException as error:  # raised by the caller, not lost in the thread
            errors.append(error)
        finally:
            connections[using].close()

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
