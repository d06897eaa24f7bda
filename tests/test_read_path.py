"""The read path (usage_rollup/queries.py): every mode answers what the oracle says, and the
realtime mode serves settled buckets from the rollup and everything pending from the raw rows.

Each test runs in one transaction, so now() is constant: a tick moves the watermark to it, and
every row written after the tick is stamped at the watermark, inside the second the realtime read
treats as pending. Rows "written back then" (tests/world.py) are settled once a tick covers them.
"""

import datetime
import types

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import world
from tests.oracle import assert_rollup_matches_oracle
from tests.read_oracle import expected_usage
from tests.rollup_calls import roll_up_everything
from usage_rollup import queries, rollup
from usage_rollup.source.models import AgentTaskQueue, TaskUsage

NOON = datetime.datetime(2026, 3, 10, 12, tzinfo=datetime.UTC)
SINCE = NOON.date() - datetime.timedelta(days=1)
MODES = ("raw", "rollup", "realtime")


def _late_usage(job, model: str, at: datetime.datetime, **tokens: int) -> TaskUsage:
    """A usage row of a past day reported now: updated_at is stamped by the database."""
    return TaskUsage.objects.create(
        task=job, provider="anthropic", model=model, created_at=at, **tokens
    )


@pytest.fixture
def settled(cursor):
    """A runtime whose tasks belong to agents of two workspaces, a second runtime, usage over
    three days (and a task with no runtime), all rolled up by a tick."""
    ws_a, ws_b = world.workspace(), world.workspace()
    runtime, other_runtime = world.runtime(ws_a), world.runtime(ws_b)
    agents = [world.agent(ws_a), world.agent(ws_b)]
    tasks = []  # day by day: on each, tasks 0-3 run on `runtime`, 4-5 on `other_runtime`
    for day in range(3):
        for n in range(6):
            job = world.task(agents[n % 2], runtime if n < 4 else other_runtime)
            tasks.append(job)
            world.usage(
                job,
                "opus" if n % 3 else "haiku",
                at=NOON + datetime.timedelta(days=day, hours=n),
                input_tokens=100 * (n + 1) + day,
                output_tokens=10 * (n + 1),
                cache_read_tokens=n,
                cache_write_tokens=day,
            )
    world.usage(world.task(agents[0], None), "opus", at=NOON, input_tokens=999)
    assert not rollup.tick(datetime.timedelta(0)).failed
    assert_rollup_matches_oracle(cursor)
    return types.SimpleNamespace(
        ws_a=ws_a,
        ws_b=ws_b,
        runtime=runtime,
        other_runtime=other_runtime,
        agents=agents,
        tasks=tasks,
    )


def _read(scope: str, owner, mode: str, since: datetime.date = SINCE) -> list[dict]:
    read = queries.runtime_usage if scope == "runtime" else queries.workspace_usage
    return read(owner.id, since, source=mode)


def _tamper_with_rollup(cursor, runtime, day: datetime.date) -> None:
    """Make the rollup's buckets of one runtime and day wrong, to see who serves them."""
    cursor.execute(
        "UPDATE task_usage_daily SET input_tokens = 7 WHERE runtime_id = %s AND bucket_date = %s",
        [runtime.id, day],
    )


def _assert_realtime_is_current_and_rollup_is_not(cursor, scope: str, *owners) -> None:
    for owner in owners:
        rows = _read(scope, owner, "realtime")
        assert rows == expected_usage(cursor, scope, owner.id, SINCE)
        assert rows != _read(scope, owner, "rollup"), "the change did not make the rollup stale"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scope", ["runtime", "workspace"])
def test_every_mode_reads_what_the_oracle_says(cursor, settled, scope, mode):
    owners = (settled.runtime, settled.other_runtime, settled.ws_a, settled.ws_b)
    for owner in owners[:2] if scope == "runtime" else owners[2:]:
        rows = _read(scope, owner, mode)
        assert rows
        assert rows == expected_usage(cursor, scope, owner.id, SINCE)


def test_rows_are_newest_day_first_then_provider_then_model(settled):
    rows = _read("runtime", settled.runtime, "realtime")
    keys = [(row["date"], row["provider"], row["model"]) for row in rows]
    assert keys == sorted(keys, key=lambda key: (-key[0].toordinal(), key[1], key[2]))
    assert [row["date"] for row in rows][0] > [row["date"] for row in rows][-1]


def test_a_read_since_a_day_leaves_out_earlier_days(cursor, settled):
    since = NOON.date() + datetime.timedelta(days=1)
    for mode in MODES:
        rows = _read("runtime", settled.runtime, mode, since)
        assert {row["date"] for row in rows} == {since, since + datetime.timedelta(days=1)}
        assert rows == expected_usage(cursor, "runtime", settled.runtime.id, since)


def test_realtime_serves_settled_buckets_from_the_rollup(cursor, settled):
    _tamper_with_rollup(cursor, settled.runtime, NOON.date())

    rows = _read("runtime", settled.runtime, "realtime")

    # Each of the day's (provider, model) rows sums two tampered buckets, one per workspace.
    assert {row["input_tokens"] for row in rows if row["date"] == NOON.date()} == {7 + 7}


def _tasks_of(scope: str, owner) -> int:
    if scope == "runtime":
        return AgentTaskQueue.objects.filter(runtime=owner).count()
    return AgentTaskQueue.objects.filter(agent__workspace=owner, runtime__isnull=False).count()


@pytest.mark.parametrize("scope", ["runtime", "workspace"])
def test_realtime_sends_the_raw_read_for_a_scope_with_at_most_the_raw_paths_tasks(
    cursor, settled, settings, scope
):
    owner = settled.runtime if scope == "runtime" else settled.ws_a
    settings.USAGE_ROLLUP_REALTIME_RAW_MAX_TASKS = _tasks_of(scope, owner)
    _tamper_with_rollup(cursor, settled.runtime, NOON.date())
    _late_usage(settled.tasks[0], "sonnet", NOON, input_tokens=5)

    with CaptureQueriesContext(connection) as sent:
        rows = _read(scope, owner, "realtime")

    assert rows == expected_usage(cursor, scope, owner.id, SINCE)
    (statement,) = sent.captured_queries
    assert "task_usage_daily" not in statement["sql"]


def test_realtime_totals_a_scope_with_few_tasks_as_the_raw_summary(cursor, settled, settings):
    settings.USAGE_ROLLUP_REALTIME_RAW_MAX_TASKS = _tasks_of("runtime", settled.runtime)
    _tamper_with_rollup(cursor, settled.runtime, NOON.date())

    with CaptureQueriesContext(connection) as sent:
        totals = queries.usage_summary("runtime", settled.runtime.id, SINCE, source="realtime")

    assert totals == queries.usage_summary("runtime", settled.runtime.id, SINCE, source="raw")
    assert len(sent.captured_queries) == 1


def test_realtime_of_a_scope_with_few_tasks_and_no_usage_in_the_period_is_empty(settled, settings):
    settings.USAGE_ROLLUP_REALTIME_RAW_MAX_TASKS = 100
    later = NOON.date() + datetime.timedelta(days=30)

    with CaptureQueriesContext(connection) as sent:
        rows = _read("runtime", settled.runtime, "realtime", later)

    assert rows == []
    assert len(sent.captured_queries) == 1


@pytest.mark.parametrize("scope", ["runtime", "workspace"])
def test_realtime_sends_its_statement_for_a_scope_with_more_tasks(cursor, settled, settings, scope):
    owner = settled.runtime if scope == "runtime" else settled.ws_a
    settings.USAGE_ROLLUP_REALTIME_RAW_MAX_TASKS = _tasks_of(scope, owner) - 1
    _tamper_with_rollup(cursor, settled.runtime, NOON.date())

    rows = _read(scope, owner, "realtime")

    # The settled buckets come from the (tampered) rollup, as the statement serves them.
    assert rows == _read(scope, owner, "rollup") != expected_usage(cursor, scope, owner.id, SINCE)


def test_realtime_reads_a_slice_with_new_usage_from_the_raw_rows(cursor, settled):
    _tamper_with_rollup(cursor, settled.runtime, NOON.date())
    _late_usage(settled.tasks[0], "sonnet", NOON, input_tokens=5)
    _late_usage(settled.tasks[1], "haiku", NOON, input_tokens=5)
    TaskUsage.objects.filter(task=settled.tasks[2], created_at__date=NOON.date()).update(
        input_tokens=11
    )

    _assert_realtime_is_current_and_rollup_is_not(cursor, "runtime", settled.runtime)


def test_realtime_drops_a_slice_whose_rows_were_all_deleted(cursor, settled):
    day = NOON.date() + datetime.timedelta(days=2)
    TaskUsage.objects.filter(task__runtime=settled.runtime, created_at__date=day).delete()

    rows = _read("runtime", settled.runtime, "realtime")

    assert day not in {row["date"] for row in rows}
    assert rows == expected_usage(cursor, "runtime", settled.runtime.id, SINCE)
    assert day in {row["date"] for row in _read("runtime", settled.runtime, "rollup")}


def test_realtime_follows_a_reassigned_task_before_any_tick(cursor, settled):
    job = settled.tasks[0]
    job.runtime = settled.other_runtime
    job.save(update_fields=["runtime"])

    _assert_realtime_is_current_and_rollup_is_not(
        cursor, "runtime", settled.runtime, settled.other_runtime
    )


def test_realtime_follows_an_agent_moved_to_another_workspace(cursor, settled):
    agent = settled.agents[1]
    agent.workspace = settled.ws_a
    agent.save(update_fields=["workspace"])

    _assert_realtime_is_current_and_rollup_is_not(cursor, "workspace", settled.ws_a, settled.ws_b)


def test_realtime_follows_a_usage_row_moved_to_another_day(cursor, settled):
    row = TaskUsage.objects.filter(task=settled.tasks[3]).earliest("created_at")
    row.created_at = row.created_at + datetime.timedelta(days=1)
    row.save(update_fields=["created_at"])

    _assert_realtime_is_current_and_rollup_is_not(cursor, "runtime", settled.runtime)


def test_realtime_without_a_watermark_reads_the_raw_rows(cursor, settled):
    _tamper_with_rollup(cursor, settled.runtime, NOON.date())
    cursor.execute("DELETE FROM task_usage_rollup_state")

    rows = _read("runtime", settled.runtime, "realtime")

    assert rows == expected_usage(cursor, "runtime", settled.runtime.id, SINCE)


def test_realtime_reads_raw_rows_when_the_watermark_went_back_after_it_was_read(
    cursor, settled, monkeypatch
):
    # A reset between reading the watermark and the read itself: the read's own snapshot has no
    # watermark as late as the one it was given, so it trusts no rollup row.
    given = rollup.state().watermark_at
    _tamper_with_rollup(cursor, settled.runtime, NOON.date())
    cursor.execute("UPDATE task_usage_rollup_state SET watermark_at = NULL")
    monkeypatch.setattr(queries, "_realtime_first", lambda *args: (None, given))

    rows = _read("runtime", settled.runtime, "realtime")

    assert rows == expected_usage(cursor, "runtime", settled.runtime.id, SINCE)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scope", ["runtime", "workspace"])
def test_the_summary_totals_each_provider_and_model(cursor, settled, scope, mode):
    owner = settled.runtime if scope == "runtime" else settled.ws_a
    _late_usage(settled.tasks[0], "opus", NOON, input_tokens=5)
    totals = {}
    for row in expected_usage(cursor, scope, owner.id, SINCE):
        sums = totals.setdefault((row["provider"], row["model"]), [0, 0, 0, 0])
        for i, column in enumerate(queries.TOKEN_COLUMNS):
            sums[i] += row[column]
    if mode == "rollup":
        roll_up_everything(cursor)

    summary = queries.usage_summary(scope, owner.id, SINCE, source=mode)

    assert summary == [
        {
            "provider": provider,
            "model": model,
            **dict(zip(queries.TOKEN_COLUMNS, sums, strict=True)),
        }
        for (provider, model), sums in sorted(totals.items())
    ]


@pytest.fixture
def hours(cursor):
    """One runtime's tasks by two agents at known UTC hours, and another runtime's."""
    ws = world.workspace()
    runtime, other = world.runtime(ws), world.runtime(ws)
    first, second = world.agent(ws), world.agent(ws)
    world.usage(world.task(first, runtime), "opus", at=NOON.replace(hour=1), input_tokens=1)
    world.usage(world.task(first, runtime), "opus", at=NOON.replace(hour=23), input_tokens=2)
    world.usage(world.task(second, runtime), "opus", at=NOON.replace(hour=23), input_tokens=4)
    world.usage(world.task(second, runtime), "haiku", at=NOON.replace(hour=1), input_tokens=8)
    world.usage(world.task(second, other), "opus", at=NOON.replace(hour=1), input_tokens=16)
    # Before the period: not counted.
    world.usage(
        world.task(first, runtime), "opus", at=NOON - datetime.timedelta(days=2), input_tokens=32
    )
    cursor.execute("SET LOCAL TimeZone = 'Asia/Tokyo'")  # the hours are UTC's all the same
    return types.SimpleNamespace(runtime=runtime, first=first, second=second)


def _tokens(rows: list[dict], *key_columns: str) -> dict:
    return {tuple(row[c] for c in key_columns): row["input_tokens"] for row in rows}


def test_usage_by_agent_totals_each_agents_tasks_on_the_runtime(hours):
    rows = queries.runtime_usage_by_agent(hours.runtime.id, NOON.date())

    assert _tokens(rows, "agent_id", "model") == {
        (hours.first.id, "opus"): 1 + 2,
        (hours.second.id, "opus"): 4,
        (hours.second.id, "haiku"): 8,
    }


def test_usage_by_hour_groups_by_utc_hour_of_the_day(hours):
    rows = queries.runtime_usage_by_hour(hours.runtime.id, NOON.date())

    assert _tokens(rows, "hour", "model") == {(1, "haiku"): 8, (1, "opus"): 1, (23, "opus"): 6}
    assert [row["hour"] for row in rows] == [1, 1, 23]
