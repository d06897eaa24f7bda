"""The five scenarios of SPEC section 5, from the seed's own tests, judged by the oracle."""

import datetime

from tests import world
from tests.oracle import assert_rollup_matches_oracle, rollup_buckets
from tests.rollup_calls import queued_buckets, roll_up_everything, roll_up_queue_only

DAY = datetime.date(2026, 3, 10)
NOON = datetime.datetime(2026, 3, 10, 12, tzinfo=datetime.UTC)


def _buckets_of_runtime(cursor, runtime_id) -> dict:
    return {key: value for key, value in rollup_buckets(cursor).items() if key[2] == runtime_id}


def test_three_rows_of_one_day_roll_up_to_one_bucket_per_model(cursor):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    first, second = world.task(ag, rt), world.task(ag, rt)
    world.usage(first, "opus", at=NOON, input_tokens=100, output_tokens=10)
    world.usage(second, "opus", at=NOON, input_tokens=50, cache_read_tokens=7)
    world.usage(first, "haiku", at=NOON, output_tokens=3, cache_write_tokens=2)

    cursor.execute(
        "SELECT rollup_task_usage_daily_window(%s, %s)",
        [NOON, NOON + datetime.timedelta(seconds=1)],
    )
    assert cursor.fetchone()[0] == 2

    assert rollup_buckets(cursor) == {
        (DAY, ws.id, rt.id, "anthropic", "opus"): (150, 10, 7, 0, 2),
        (DAY, ws.id, rt.id, "anthropic", "haiku"): (0, 3, 0, 2, 1),
    }
    assert_rollup_matches_oracle(cursor)


def test_a_second_identical_window_changes_nothing(cursor):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    world.usage(world.task(ag, rt), "opus", at=NOON, input_tokens=100)
    window = [NOON, NOON + datetime.timedelta(seconds=1)]
    cursor.execute("SELECT rollup_task_usage_daily_window(%s, %s)", window)
    cursor.execute("SELECT id, updated_at, input_tokens FROM task_usage_daily")
    before = cursor.fetchall()

    cursor.execute("SELECT rollup_task_usage_daily_window(%s, %s)", window)

    assert cursor.fetchone()[0] == 0
    cursor.execute("SELECT id, updated_at, input_tokens FROM task_usage_daily")
    assert cursor.fetchall() == before


def test_a_corrected_row_recomputes_its_whole_bucket(cursor):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    world.usage(world.task(ag, rt), "opus", at=NOON, input_tokens=100)
    corrected = world.usage(world.task(ag, rt), "opus", at=NOON, input_tokens=10)
    roll_up_everything(cursor)

    cursor.execute(
        "UPDATE task_usage SET input_tokens = 40 WHERE id = %s RETURNING updated_at, now()",
        [corrected.id],
    )
    updated_at, now = cursor.fetchone()
    assert updated_at == now  # moved by the database, so the next window finds the row
    cursor.execute(
        "SELECT rollup_task_usage_daily_window(%s, %s)",
        [now, now + datetime.timedelta(seconds=1)],
    )

    assert rollup_buckets(cursor)[(DAY, ws.id, rt.id, "anthropic", "opus")] == (140, 0, 0, 0, 2)
    assert_rollup_matches_oracle(cursor)


def test_the_entry_point_moves_the_watermark_to_now_minus_the_lag(cursor):
    cursor.execute("SELECT rollup_task_usage_daily()")
    cursor.execute(
        """
        SELECT watermark_at = now() - interval '5 minutes', last_error
          FROM task_usage_rollup_state
        """
    )
    assert cursor.fetchone() == (True, None)


def test_reassigning_a_task_moves_its_usage_to_the_new_runtime(cursor):
    ws = world.workspace()
    old, new, ag = world.runtime(ws), world.runtime(ws), world.agent(ws)
    job = world.task(ag, old)
    world.usage(job, "opus", at=NOON, input_tokens=100)
    roll_up_everything(cursor)
    assert set(_buckets_of_runtime(cursor, old.id)) == {(DAY, ws.id, old.id, "anthropic", "opus")}

    cursor.execute("UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s", [new.id, job.id])
    roll_up_queue_only(cursor)

    assert _buckets_of_runtime(cursor, old.id) == {}
    assert _buckets_of_runtime(cursor, new.id) == {
        (DAY, ws.id, new.id, "anthropic", "opus"): (100, 0, 0, 0, 1)
    }
    assert queued_buckets(cursor) == set()
    assert_rollup_matches_oracle(cursor)


def test_deleting_an_issue_removes_its_usage_from_the_buckets(cursor):
    ws = world.workspace()
    rt, ag = world.runtime(ws), world.agent(ws)
    doomed, kept = world.issue(ws), world.issue(ws)
    world.usage(world.task(ag, rt, doomed), "opus", at=NOON, input_tokens=100)
    world.usage(world.task(ag, rt, doomed), "haiku", at=NOON, input_tokens=5)
    world.usage(world.task(ag, rt, kept), "opus", at=NOON, input_tokens=1)
    roll_up_everything(cursor)

    cursor.execute("DELETE FROM issue WHERE id = %s", [doomed.id])
    roll_up_queue_only(cursor)

    assert rollup_buckets(cursor) == {(DAY, ws.id, rt.id, "anthropic", "opus"): (1, 0, 0, 0, 1)}
    assert_rollup_matches_oracle(cursor)


def test_usage_counts_under_the_agents_workspace_not_the_issues(cursor):
    issue_ws, agent_ws = world.workspace(), world.workspace()
    rt, other_rt = world.runtime(issue_ws), world.runtime(agent_ws)
    job = world.task(world.agent(agent_ws), rt, world.issue(issue_ws))
    world.usage(job, "opus", at=NOON, input_tokens=100)
    roll_up_everything(cursor)
    assert set(rollup_buckets(cursor)) == {(DAY, agent_ws.id, rt.id, "anthropic", "opus")}

    cursor.execute(
        "UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s", [other_rt.id, job.id]
    )
    roll_up_queue_only(cursor)

    assert set(rollup_buckets(cursor)) == {(DAY, agent_ws.id, other_rt.id, "anthropic", "opus")}
    assert_rollup_matches_oracle(cursor)
