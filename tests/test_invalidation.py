"""Every change that moves or removes usage without touching task_usage.updated_at is caught by
the invalidation triggers (SPEC section 3). Each test rolls everything up, makes one change, then
recomputes only the queued buckets and asks the oracle."""

import datetime

import pytest

from tests import world
from tests.oracle import assert_rollup_matches_oracle, rollup_buckets
from tests.rollup_calls import queued_buckets, roll_up_everything, roll_up_queue_only

NOON = datetime.datetime(2026, 3, 10, 12, tzinfo=datetime.UTC)


@pytest.fixture
def history(cursor):
    """Two workspaces; each with two runtimes, two agents, two issues and usage over two days,
    including a task with no runtime, already rolled up."""
    made = {}
    for name in ("a", "b"):
        ws = world.workspace()
        runtimes = [world.runtime(ws), world.runtime(ws)]
        agents = [world.agent(ws), world.agent(ws)]
        issues = [world.issue(ws), world.issue(ws)]
        tasks = []
        for n in range(8):
            job = world.task(agents[n % 2], runtimes[n // 4], issues[(n // 2) % 2])
            tasks.append(job)
            for day, model in ((0, "opus"), (1, "haiku"), (n % 2, "sonnet")):
                if model == "sonnet" and n % 3:
                    continue
                world.usage(job, model, at=NOON + datetime.timedelta(days=day), input_tokens=n + 1)
        world.usage(world.task(agents[0], None), "opus", at=NOON, input_tokens=999)
        made[name] = {"ws": ws, "runtimes": runtimes, "agents": agents, "issues": issues}
        made[name]["tasks"] = tasks
    roll_up_everything(cursor)
    assert_rollup_matches_oracle(cursor)
    return made


def _change_then_drain(cursor, sql: str, params: list) -> None:
    cursor.execute(sql, params)
    assert queued_buckets(cursor), "the change queued no bucket"
    roll_up_queue_only(cursor)
    assert_rollup_matches_oracle(cursor)


def test_deleting_usage_rows_empties_their_buckets(cursor, history):
    job = history["a"]["tasks"][0]
    _change_then_drain(cursor, "DELETE FROM task_usage WHERE task_id = %s", [job.id])


def test_deleting_a_task_removes_its_usage(cursor, history):
    job = history["a"]["tasks"][3]
    _change_then_drain(cursor, "DELETE FROM agent_task_queue WHERE id = %s", [job.id])


def test_moving_a_task_to_another_runtime_moves_its_usage(cursor, history):
    job, target = history["a"]["tasks"][0], history["a"]["runtimes"][1]
    sql = "UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s"
    _change_then_drain(cursor, sql, [target.id, job.id])


def test_taking_a_task_off_its_runtime_removes_its_usage(cursor, history):
    job = history["a"]["tasks"][0]
    _change_then_drain(
        cursor, "UPDATE agent_task_queue SET runtime_id = NULL WHERE id = %s", [job.id]
    )


def test_giving_a_task_a_runtime_adds_its_usage(cursor, history):
    cursor.execute("SELECT id FROM agent_task_queue WHERE runtime_id IS NULL LIMIT 1")
    (job_id,) = cursor.fetchone()
    target = history["b"]["runtimes"][0]
    sql = "UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s"
    _change_then_drain(cursor, sql, [target.id, job_id])


def test_moving_a_task_to_an_agent_of_another_workspace_moves_its_usage(cursor, history):
    job, target = history["a"]["tasks"][1], history["b"]["agents"][0]
    sql = "UPDATE agent_task_queue SET agent_id = %s WHERE id = %s"
    _change_then_drain(cursor, sql, [target.id, job.id])


def test_moving_an_agent_to_another_workspace_moves_its_usage(cursor, history):
    moved, target = history["a"]["agents"][0], history["b"]["ws"]
    sql = "UPDATE agent SET workspace_id = %s WHERE id = %s"
    _change_then_drain(cursor, sql, [target.id, moved.id])


@pytest.mark.parametrize(
    "table, owner",
    [("issue", "issues"), ("agent", "agents"), ("agent_runtime", "runtimes")],
)
def test_deleting_a_parent_cascades_out_of_the_rollup(cursor, history, table, owner):
    doomed = history["a"][owner][0]
    _change_then_drain(cursor, f"DELETE FROM {table} WHERE id = %s", [doomed.id])


def test_deleting_a_workspace_cascades_out_of_the_rollup(cursor, history):
    doomed = history["b"]["ws"]
    _change_then_drain(cursor, "DELETE FROM workspace WHERE id = %s", [doomed.id])
    assert not [key for key in rollup_buckets(cursor) if key[1] == doomed.id]


@pytest.mark.parametrize(
    "assignment",
    [
        "created_at = created_at - interval '3 days'",
        "provider = 'openai'",
        "model = 'gpt-5'",
    ],
)
def test_changing_a_usage_rows_key_column_moves_it_out_of_its_old_bucket(
    cursor, history, assignment
):
    job = history["a"]["tasks"][2]
    cursor.execute(
        f"UPDATE task_usage SET {assignment} WHERE task_id = %s AND model = 'opus'", [job.id]
    )
    # The new bucket is found by updated_at, the old one only through the queue.
    cursor.execute("SELECT rollup_task_usage_daily_window(now(), now() + interval '1 second')")
    assert_rollup_matches_oracle(cursor)


def test_moving_a_usage_row_to_another_task_moves_it_out_of_its_old_bucket(cursor, history):
    source, target = history["a"]["tasks"][0], history["b"]["tasks"][7]
    cursor.execute(
        "UPDATE task_usage SET task_id = %s WHERE task_id = %s AND model = 'sonnet'",
        [target.id, source.id],
    )
    cursor.execute("SELECT rollup_task_usage_daily_window(now(), now() + interval '1 second')")
    assert_rollup_matches_oracle(cursor)


@pytest.mark.parametrize("first", ["usage", "task"])
def test_one_statement_deleting_a_task_and_its_usage_empties_their_buckets(cursor, history, first):
    # The deletes' statement-level triggers fire after both deletes, each seeing neither the
    # other's rows: whichever fires first records its half for the other
    # (sql/task_usage_daily_deleted_rows.v1.sql); the WITH clause's order picks which.
    job = history["a"]["tasks"][0]
    deletes = {
        "usage": "DELETE FROM task_usage WHERE task_id = %s",
        "task": "DELETE FROM agent_task_queue WHERE id = %s",
    }
    (second,) = set(deletes) - {first}
    sql = f"WITH earlier AS ({deletes[first]} RETURNING 1) {deletes[second]}"
    _change_then_drain(cursor, sql, [job.id, job.id])


def test_changing_a_tasks_id_and_runtime_at_once_moves_its_usage(cursor, history):
    # Through ON UPDATE CASCADE the usage follows the new id: for the rollup the old task was
    # deleted, and the usage rows, stamped anew, are found under the new one by updated_at.
    cursor.execute(
        """
        ALTER TABLE task_usage
            DROP CONSTRAINT task_usage_task_id_fkey,
            ADD CONSTRAINT task_usage_task_id_fkey FOREIGN KEY (task_id)
                REFERENCES agent_task_queue (id) ON DELETE CASCADE ON UPDATE CASCADE
        """
    )
    job, target = history["a"]["tasks"][0], history["a"]["runtimes"][1]
    cursor.execute(
        "UPDATE agent_task_queue SET id = gen_random_uuid(), runtime_id = %s WHERE id = %s",
        [target.id, job.id],
    )
    assert queued_buckets(cursor), "the change queued no bucket"
    cursor.execute("SELECT rollup_task_usage_daily_window(now(), now() + interval '1 second')")
    assert_rollup_matches_oracle(cursor)


def test_a_tick_between_a_tasks_delete_and_its_usages_in_one_transaction_keeps_its_record(
    cursor, history
):
    # Under a deferred key without a cascade (a Django host's default) the usage may go after
    # its task, and the transaction may tick in between (as this test's transaction does): the
    # tick must not forget the task's owner, which the usage's trigger reads after it.
    cursor.execute(
        """
        ALTER TABLE task_usage
            DROP CONSTRAINT task_usage_task_id_fkey,
            ADD CONSTRAINT task_usage_task_id_fkey FOREIGN KEY (task_id)
                REFERENCES agent_task_queue (id) DEFERRABLE INITIALLY DEFERRED
        """
    )
    job = history["a"]["tasks"][0]
    cursor.execute("DELETE FROM agent_task_queue WHERE id = %s", [job.id])
    roll_up_queue_only(cursor)
    cursor.execute("DELETE FROM task_usage WHERE task_id = %s", [job.id])
    roll_up_queue_only(cursor)
    assert_rollup_matches_oracle(cursor)


def test_truncating_usage_empties_the_rollup(cursor, history):
    cursor.execute("TRUNCATE task_usage")
    roll_up_queue_only(cursor)
    assert rollup_buckets(cursor) == {}


def test_the_database_stamps_updated_at_on_insert_and_on_every_update(cursor, history):
    job = history["a"]["tasks"][0]
    cursor.execute(
        "INSERT INTO task_usage (task_id, model) VALUES (%s, 'new') RETURNING updated_at = now()",
        [job.id],
    )
    assert cursor.fetchone() == (True,)
    cursor.execute(
        """
        UPDATE task_usage SET input_tokens = 7, updated_at = '2000-01-01'
         WHERE task_id = %s AND model = 'opus'
        RETURNING updated_at = now()
        """,
        [job.id],
    )
    assert cursor.fetchone() == (True,)


def _trigger_function_calls(cursor, name: str) -> int:
    cursor.execute(
        "SELECT coalesce(pg_stat_get_xact_function_calls(p.oid), 0) FROM pg_proc p "
        "JOIN pg_trigger t ON t.tgfoid = p.oid WHERE t.tgname LIKE %s",
        [f"pgtrigger_{name}_%"],
    )
    return cursor.fetchone()[0]


def test_inserting_usage_with_the_default_updated_at_calls_no_trigger_function(cursor):
    cursor.execute("SET LOCAL track_functions = 'pl'")
    job = world.task(world.agent(world.workspace()), None)

    cursor.execute("INSERT INTO task_usage (task_id, model) VALUES (%s, 'opus')", [job.id])

    assert _trigger_function_calls(cursor, "task_usage_inserted") == 0


def test_a_client_sent_updated_at_is_stamped_with_the_database_clock_on_insert(cursor):
    job = world.task(world.agent(world.workspace()), None)

    cursor.execute(
        """
        INSERT INTO task_usage (task_id, model, updated_at)
        VALUES (%s, 'opus', now() - interval '1 hour'), (%s, 'haiku', '2100-01-01'),
               (%s, 'sonnet', NULL)
        RETURNING updated_at = now()
        """,
        [job.id] * 3,
    )

    assert cursor.fetchall() == [(True,)] * 3
