"""Hostile clocks and values: a clock that steps back, a bucket whose sums overflow bigint, usage
dated at infinity. None of them loses committed usage or stops the other buckets."""

import datetime

import psycopg
import pytest

from tests import world
from tests.committed import assert_exact, build, tick, watermark
from usage_rollup import queries, rollup, verification


def _state(conn, *columns: str) -> tuple:
    return conn.execute(
        f"SELECT {', '.join(columns)} FROM task_usage_rollup_state WHERE id = 1"
    ).fetchone()


def _clock_steps_back(conn, by: str) -> None:
    """As if the server's clock had run `by` fast until the last tick and was then corrected:
    the watermark that tick left lies ahead of the clock now."""
    conn.execute(
        "UPDATE task_usage_rollup_state SET watermark_at = now() + %s::interval WHERE id = 1", [by]
    )


def test_rows_written_after_the_clock_stepped_back_are_rolled_up(session):
    setup = session()
    world = build(setup)
    _clock_steps_back(setup, "1 hour")
    # Stamped by the corrected clock: an hour behind the watermark.
    setup.execute(
        "INSERT INTO task_usage (task_id, model, input_tokens, created_at)"
        " VALUES (%s, 'late', 7, '2026-03-10 12:00+00')",
        [world.t1],
    )
    setup.execute("UPDATE task_usage SET input_tokens = 11 WHERE task_id = %s", [world.t2])

    tick(setup)

    assert_exact(setup)
    assert watermark(setup) <= setup.execute("SELECT now()").fetchone()[0]
    ahead_at, ahead_seconds, steps = _state(
        setup, "watermark_ahead_at", "watermark_ahead_seconds", "clock_steps_back"
    )
    assert ahead_at is not None and 3500 < ahead_seconds <= 3600 and steps == 1
    tick(setup)  # recovered: the next tick is an ordinary one
    assert _state(setup, "clock_steps_back") == (1,)


def test_a_watermark_ahead_of_the_clock_with_no_transaction_record_rereads_every_row(session):
    setup = session()
    world = build(setup)
    setup.execute("UPDATE task_usage_rollup_state SET watermark_xmin = NULL WHERE id = 1")
    _clock_steps_back(setup, "1 day")
    setup.execute(
        "INSERT INTO task_usage (task_id, model, input_tokens) VALUES (%s, 'late', 7)", [world.t2]
    )

    tick(setup)

    assert_exact(setup)
    assert watermark(setup) <= setup.execute("SELECT now()").fetchone()[0]


BIG = 5 * 10**18  # two of these overflow bigint's 9.2e18


def _huge_bucket(conn, world, created_at: str) -> None:
    """A second task of agent ga on r1; both tasks report BIG input tokens of model 'huge'."""
    conn.execute(
        "INSERT INTO agent_task_queue (agent_id, runtime_id) VALUES (%s, %s)", [world.ga, world.r1]
    )
    conn.execute(
        f"INSERT INTO task_usage (task_id, model, input_tokens, created_at)"
        f" SELECT id, 'huge', %s, {created_at} FROM agent_task_queue WHERE runtime_id = %s",
        [BIG, world.r1],
    )


def test_a_bucket_whose_sum_overflows_is_set_aside_and_the_others_roll_up(session):
    setup = session()
    world = build(setup)
    _huge_bucket(setup, world, "'2026-03-10 12:00+00'")
    setup.execute(
        "INSERT INTO task_usage (task_id, model, input_tokens) VALUES (%s, 'fresh', 3)",
        [world.t2],
    )

    assert tick(setup) is not None  # the tick succeeds

    (fresh,) = setup.execute(
        "SELECT input_tokens FROM task_usage_daily WHERE model = 'fresh'"
    ).fetchone()
    assert fresh == 3  # every other tenant's new usage is in
    aside = setup.execute(
        "SELECT runtime_id, model, error, attempts FROM task_usage_daily_set_aside"
    ).fetchall()
    assert [(runtime, model) for runtime, model, _, _ in aside] == [(world.r1, "huge")]
    assert "out of bigint range" in aside[0][2] and aside[0][3] == 1
    assert not setup.execute("SELECT 1 FROM task_usage_daily WHERE model = 'huge'").fetchall()

    tick(setup)  # retried on every tick
    assert setup.execute("SELECT attempts FROM task_usage_daily_set_aside").fetchone() == (2,)

    setup.execute("UPDATE task_usage SET input_tokens = 1 WHERE model = 'huge'")  # corrected
    tick(setup)
    assert not setup.execute("SELECT 1 FROM task_usage_daily_set_aside").fetchall()
    assert_exact(setup)


def test_a_set_aside_bucket_reads_exactly_in_realtime_and_verifies_as_pending(session):
    setup = session()
    world = build(setup)
    _huge_bucket(setup, world, "now()")
    tick(setup)
    since = datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=3)

    rows = queries.runtime_usage(world.r1, since, source="realtime")

    (huge,) = [row for row in rows if row["model"] == "huge"]
    assert huge["input_tokens"] == 2 * BIG
    report = verification.verify()
    assert report.pending >= 1 and not report.wrong


@pytest.mark.parametrize(
    "created_at", ["infinity", "-infinity", "0044-03-15 BC", "1900-01-01", "2200-01-01 00:00+00"]
)
def test_usage_dated_outside_2000_to_2199_is_refused_at_write(session, created_at):
    setup = session()
    world = build(setup)

    with pytest.raises(psycopg.errors.CheckViolation, match="task_usage_created_at_sane"):
        setup.execute(
            "INSERT INTO task_usage (task_id, model, created_at) VALUES (%s, 'x', %s)",
            [world.t1, created_at],
        )


def test_a_tick_right_after_a_backfill_finds_no_clock_step(cursor):
    # In one transaction the backfill's stamp (the clock when it planned) lies after now():
    # that is no step of the clock, and must not be reported as one.
    ws = world.workspace()
    world.usage(world.task(world.agent(ws), world.runtime(ws)))
    rollup.backfill()

    rollup.tick()

    cursor.execute("SELECT clock_steps_back FROM task_usage_rollup_state")
    assert cursor.fetchone() == (0,)
