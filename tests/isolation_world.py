"""The world the isolation specs (tests/isolation/specs/) start every permutation from, and the
check each permutation ends with: SQL helpers in a schema `isolation` of the test database, which
tests/test_isolation.py installs for its run and drops afterwards. A spec calls:

- `CALL isolation.build_world()` (setup): workspaces wa and wb; runtimes r1, r2 in wa and r3 in
  wb; agents ga in wa and gb in wb; an issue in wa; tasks t1 (ga on r1, for the issue), t2 (gb on
  r3) and t3 (ga on r1); usage of t1 and t2 on two UTC days (opus on day 0, haiku on day 1) and
  of t3 (opus on day 0, in t1's bucket). The usage is stamped an hour ago: a tick re-reads one
  second below its watermark, so rows stamped just now would have every tick recompute their
  buckets and repair a lost invalidation before the check could see it. The two days are one
  day in PST8PDT, the TimeZone pg_regress gives its sessions: a session-local day would show.
- `CALL isolation.queue_every_bucket()` (setup, after a tick): every bucket in the dirty queue,
  as pending invalidations (earlier changes, the admin's Queue for recompute) leave them, so that
  a change's own queue rows meet equal ones that a tick drains.
- `isolation.id(name)` and `isolation.day(n)`: the fixed uuid of `name` ('wa', 'r2', 't1', ...)
  and the timestamp of day 0 or 1, so that nothing printed depends on a random id or the clock.
- `SELECT * FROM isolation.check()`: one row, rollup_equals_oracle (task_usage_daily is exactly
  tests/oracle.py's plain GROUP BY over task_usage: its SQL is rendered in here, not copied),
  queue_drained (task_usage_daily_dirty is empty) and last_tick_ok (the state row keeps no error).
- `CALL isolation.clear_world()` (teardown): every source row, rollup row and queued bucket
  deleted (the deletes' triggers queue buckets; the queue is emptied after them) and the state row
  reset, so that the next permutation starts from nothing.
- `isolation.backfill_stamp`: the stamp tick-backfill's backfill takes in one step and uses in
  the next (emptied by clear_world).
"""

from tests.committed import STAMP_TRIGGER
from tests.oracle import (
    BUCKETS_FROM_RAW,
    BUCKETS_FROM_ROLLUP,
    MALFORMED_QUARTERS,
    QUARTERS_FROM_RAW,
    QUARTERS_FROM_ROLLUP,
)
from usage_rollup.rollup import ROLLUP_LOCK_KEY

IDS = {
    "wa": "00000000-0000-4000-8000-0000000000a1",
    "wb": "00000000-0000-4000-8000-0000000000a2",
    "r1": "00000000-0000-4000-8000-0000000000b1",
    "r2": "00000000-0000-4000-8000-0000000000b2",
    "r3": "00000000-0000-4000-8000-0000000000b3",
    "ga": "00000000-0000-4000-8000-0000000000c1",
    "gb": "00000000-0000-4000-8000-0000000000c2",
    "issue": "00000000-0000-4000-8000-0000000000d1",
    "t1": "00000000-0000-4000-8000-0000000000e1",
    "t2": "00000000-0000-4000-8000-0000000000e2",
    "t3": "00000000-0000-4000-8000-0000000000e3",
}

# 23:30 and 00:30 UTC: two UTC days, one day in PST8PDT.
DAY0 = "2026-03-10 23:30+00"
DAY1 = "2026-03-11 00:30+00"

_ID_CASES = "\n".join(f"        WHEN '{name}' THEN '{value}'::uuid" for name, value in IDS.items())

INSTALL = f"""
CREATE SCHEMA isolation;

CREATE FUNCTION isolation.id(p_name text) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT
AS $$
    SELECT CASE p_name
{_ID_CASES}
    END
$$;

CREATE TABLE isolation.backfill_stamp (stamp timestamptz NOT NULL);

CREATE FUNCTION isolation.day(p_day int) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT
AS $$
    SELECT CASE p_day WHEN 0 THEN '{DAY0}'::timestamptz WHEN 1 THEN '{DAY1}'::timestamptz END
$$;

CREATE PROCEDURE isolation.build_world()
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO workspace (id, name, slug) VALUES
        (isolation.id('wa'), 'wa', 'isolation-wa'),
        (isolation.id('wb'), 'wb', 'isolation-wb');
    INSERT INTO agent_runtime (id, workspace_id, name) VALUES
        (isolation.id('r1'), isolation.id('wa'), 'r1'),
        (isolation.id('r2'), isolation.id('wa'), 'r2'),
        (isolation.id('r3'), isolation.id('wb'), 'r3');
    INSERT INTO agent (id, workspace_id, name) VALUES
        (isolation.id('ga'), isolation.id('wa'), 'ga'),
        (isolation.id('gb'), isolation.id('wb'), 'gb');
    INSERT INTO issue (id, workspace_id, title) VALUES
        (isolation.id('issue'), isolation.id('wa'), 'issue');
    INSERT INTO agent_task_queue (id, agent_id, runtime_id, issue_id) VALUES
        (isolation.id('t1'), isolation.id('ga'), isolation.id('r1'), isolation.id('issue')),
        (isolation.id('t2'), isolation.id('gb'), isolation.id('r3'), NULL),
        (isolation.id('t3'), isolation.id('ga'), isolation.id('r1'), NULL);
    PERFORM set_config('pgtrigger.ignore', '{{{STAMP_TRIGGER}}}', true);
    INSERT INTO task_usage (task_id, model, input_tokens, output_tokens, created_at, updated_at)
    SELECT task_id, model, input_tokens, output_tokens, created_at, now() - interval '1 hour'
      FROM (VALUES
        (isolation.id('t1'), 'opus', 10, 1, isolation.day(0)),
        (isolation.id('t1'), 'haiku', 20, 2, isolation.day(1)),
        (isolation.id('t2'), 'opus', 30, 3, isolation.day(0)),
        (isolation.id('t2'), 'haiku', 40, 4, isolation.day(1)),
        (isolation.id('t3'), 'opus', 50, 5, isolation.day(0))
      ) AS usage (task_id, model, input_tokens, output_tokens, created_at);
    PERFORM set_config('pgtrigger.ignore', '{{}}', true);
    IF EXISTS (SELECT FROM task_usage WHERE updated_at > now() - interval '1 minute') THEN
        RAISE EXCEPTION 'the world''s usage must be stamped an hour ago, not now()'
              USING HINT = 'A tick re-reads one second below its watermark: rows stamped now() '
                           'would be re-read by every tick and hide a lost invalidation.';
    END IF;
END;
$$;

CREATE FUNCTION isolation.check(
    OUT rollup_equals_oracle boolean, OUT queue_drained boolean, OUT last_tick_ok boolean
)
LANGUAGE plpgsql
AS $$
BEGIN
    -- The daily rollup and, quarter by quarter, its running sums.
    SELECT NOT EXISTS (
               (({BUCKETS_FROM_RAW}) EXCEPT ALL ({BUCKETS_FROM_ROLLUP}))
               UNION ALL
               (({BUCKETS_FROM_ROLLUP}) EXCEPT ALL ({BUCKETS_FROM_RAW}))
           )
           AND NOT EXISTS (
               (({QUARTERS_FROM_RAW}) EXCEPT ALL ({QUARTERS_FROM_ROLLUP}))
               UNION ALL
               (({QUARTERS_FROM_ROLLUP}) EXCEPT ALL ({QUARTERS_FROM_RAW}))
           )
           AND NOT EXISTS ({MALFORMED_QUARTERS}),
           NOT EXISTS (SELECT FROM task_usage_daily_dirty),
           coalesce((SELECT last_error IS NULL FROM task_usage_rollup_state WHERE id = 1), false)
      INTO rollup_equals_oracle, queue_drained, last_tick_ok;
    -- A rare failure seen only under load: what differs, the state row and the rows stamped in
    -- the last minute (the permutation's own), printed as a notice in the spec's output.
    IF NOT rollup_equals_oracle THEN
        RAISE NOTICE 'raw only: %; rollup only: %; state: %; fresh rows: %; now: %',
            (SELECT json_agg(x) FROM (({BUCKETS_FROM_RAW}) EXCEPT ALL ({BUCKETS_FROM_ROLLUP})) x),
            (SELECT json_agg(x) FROM (({BUCKETS_FROM_ROLLUP}) EXCEPT ALL ({BUCKETS_FROM_RAW})) x),
            (SELECT row_to_json(s) FROM task_usage_rollup_state s),
            (SELECT json_agg(json_build_object('task', task_id, 'model', model,
                                               'updated_at', updated_at))
               FROM task_usage WHERE updated_at > now() - interval '1 minute'),
            clock_timestamp();
    END IF;
END;
$$;

-- Before the final tick, in its transaction: wait (at most 5 s) until no transaction that began
-- before the latest usage row's stamp is still open in the database. The spec's own sessions have
-- all committed then, but a session outside the spec (autovacuum is ignored by the horizon; a
-- connection a test elsewhere left behind, a pooler's) may hold the horizon, and so the watermark,
-- below the writer's rows for a moment: the rollup is right to wait for it (the rows are pending,
-- and the realtime read counts them), but the check after the final tick would fail. Seen twice
-- under load in 1,500 permutations. The horizon is the rollup's own (task_usage_rollup_horizon()):
-- were it wrong, the tick after the wait would still be checked. On a timeout, a notice names the
-- sessions that held it, and the check fails.
CREATE FUNCTION isolation.wait_for_open_transactions() RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_deadline timestamptz := clock_timestamp() + interval '5 seconds';
BEGIN
    WHILE task_usage_rollup_horizon()
          <= coalesce((SELECT max(updated_at) FROM task_usage), '-infinity') LOOP
        IF clock_timestamp() > v_deadline THEN
            RAISE NOTICE 'open transactions hold the horizon: %',
                (SELECT json_agg(json_build_object('type', backend_type, 'application',
                                                   application_name, 'state', state,
                                                   'xact_start', xact_start, 'query', query))
                   FROM pg_stat_activity
                  WHERE datname = current_database() AND pid <> pg_backend_pid()
                    AND xact_start IS NOT NULL);
            RETURN;
        END IF;
        PERFORM pg_sleep(0.005);
    END LOOP;
    -- And a tick run by something else (a pg_cron job) must not make the final one return 0:
    -- the rollup's lock, held to the end of the teardown's transaction, waits for it.
    PERFORM pg_advisory_xact_lock({ROLLUP_LOCK_KEY[0]}, {ROLLUP_LOCK_KEY[1]});
END;
$$;

CREATE PROCEDURE isolation.queue_every_bucket()
LANGUAGE sql
AS $$
    INSERT INTO task_usage_daily_dirty (bucket_date, workspace_id, runtime_id, provider, model)
    SELECT bucket_date, workspace_id, runtime_id, provider, model FROM task_usage_daily;
$$;

CREATE PROCEDURE isolation.clear_world()
LANGUAGE sql
AS $$
    DELETE FROM task_usage;
    DELETE FROM agent_task_queue;
    DELETE FROM issue;
    DELETE FROM agent;
    DELETE FROM agent_runtime;
    DELETE FROM workspace;
    DELETE FROM task_usage_daily;
    DELETE FROM task_usage_daily_dirty;
    DELETE FROM task_usage_daily_quarters;
    DELETE FROM isolation.backfill_stamp;
    UPDATE task_usage_rollup_state
       SET watermark_at = NULL, last_run_started_at = NULL, last_run_finished_at = NULL,
           last_run_rows = NULL, last_error = NULL, last_error_at = NULL, failed_runs = 0;
$$;
"""

UNINSTALL = "DROP SCHEMA IF EXISTS isolation CASCADE"
