"""Reads on a real hot standby, maintenance refused there by name, and the rollup after a failover
(issue 14): a primary and a standby of Debian's PostgreSQL 15 of the tests' own
(conftest.standby_pair), the app's "default" alias on the primary and "replica" on the standby.
Nothing here uses the test server."""

import contextlib
import datetime
import io
import threading
import time
import uuid

import psycopg
import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections, transaction
from django.test import Client, RequestFactory
from django.urls import reverse

from tests import committed, components
from usage_rollup import queries, rollup
from usage_rollup.admin import TaskUsageDailyAdmin, TaskUsageRollupStateAdmin
from usage_rollup.models import TaskUsageDaily, TaskUsageRollupState
from usage_rollup.source.models import Workspace

SINCE = datetime.date(2026, 1, 1)
REFUSAL = "is a hot standby, which cannot write: run ticks, backfills, repairs and scheduling"
# A usage row the standby has not replayed (replay_paused).
UNSEEN_MODEL = "unseen-on-the-standby"

pytestmark = pytest.mark.usefixtures("standby_pair")


@pytest.fixture
def primary(standby_pair):
    with standby_pair.primary.connect(autocommit=True) as conn:
        yield conn


@pytest.fixture
def world(primary, standby_pair):
    """The committed world (tests/committed.py) of this test, ticked and replicated."""
    built = committed.build(primary)
    # Its rows are stamped back then, behind the watermark the module's earlier tests moved to
    # now: touched, the database stamps them now (as every write is), and the tick sees them.
    primary.execute(
        "UPDATE task_usage SET input_tokens = input_tokens WHERE task_id IN (%s, %s)",
        [built.t1, built.t2],
    )
    committed.tick(primary)
    components.wait_for_replay(standby_pair.primary, standby_pair.standby)
    return built


@pytest.fixture
def replay_paused(standby_pair, primary, world):
    """The standby's replay paused, then a usage row of world.t1 committed on the primary that
    the standby does not have: a read shows which of the two servers answered it."""
    with standby_pair.standby.connect(autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        while standby.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
            time.sleep(0.01)
        primary.execute(
            "INSERT INTO task_usage (task_id, model, input_tokens) VALUES (%s, %s, 5)",
            [world.t1, UNSEEN_MODEL],
        )
        try:
            yield
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")


def _models(rows) -> set[str]:
    return {row["model"] for row in rows}


class _Writers:
    """Threads that write usage of `tasks` on the primary (inserts, corrections, deletes, and a
    transaction held open across ticks) and tick it with lag 0, until stopped."""

    def __init__(self, primary: components.Node, tasks: list[uuid.UUID]) -> None:
        self.primary, self.tasks = primary, tasks
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.ticks = 0
        self.threads = [threading.Thread(target=self._guard, args=(self._ticker,))] + [
            threading.Thread(target=self._guard, args=(self._writer, n)) for n in range(2)
        ]

    def _guard(self, work, *args) -> None:
        try:
            work(*args)
        except BaseException as error:  # noqa: BLE001 -- reported by the test's thread
            self.errors.append(error)

    def _writer(self, n: int) -> None:
        with self.primary.connect(autocommit=True) as conn:
            step = 0
            while not self.stop.is_set():
                step += 1
                task, model = self.tasks[step % len(self.tasks)], f"m{n}-{step % 7}"
                if step % 5 == 0:
                    conn.execute(
                        "DELETE FROM task_usage WHERE task_id = %s AND model = %s", [task, model]
                    )
                    continue
                with conn.transaction():
                    conn.execute(
                        """
                        INSERT INTO task_usage (task_id, model, input_tokens) VALUES (%s, %s, 3)
                        ON CONFLICT (task_id, provider, model)
                        DO UPDATE SET input_tokens = task_usage.input_tokens + 1
                        """,
                        [task, model],
                    )
                    if step % 9 == 0:  # open across the ticker's next ticks
                        time.sleep(0.2)

    def _ticker(self) -> None:
        try:
            while not self.stop.is_set():
                assert not rollup.tick(datetime.timedelta(0)).failed
                self.ticks += 1
                time.sleep(0.02)
        finally:
            connections.close_all()  # this thread's

    def __enter__(self) -> "_Writers":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        assert not self.errors, self.errors


def _one_snapshot(world: committed.World) -> tuple[bool, bool]:
    """In one REPEATABLE READ transaction on the standby: whether every realtime read equals the
    raw read, and whether the rollup alone lagged any of them (a pending bucket was read)."""
    exact, pending = True, False
    with transaction.atomic(using="replica"), connections["replica"].cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for read, owner in (
            (queries.runtime_usage, world.r1),
            (queries.runtime_usage, world.r3),
            (queries.workspace_usage, world.a),
        ):
            raw = read(owner, SINCE, source="raw", using="replica")
            exact &= read(owner, SINCE, source="realtime", using="replica") == raw
            pending |= read(owner, SINCE, source="rollup", using="replica") != raw
    return exact, pending


def test_realtime_reads_on_the_standby_equal_raw_reads_of_its_snapshot_under_writes_and_ticks(
    standby_pair, world
):
    snapshots, inexact, pending = 0, 0, 0
    with standby_pair.standby.connect(autocommit=True) as standby:
        first_watermark = committed.watermark(standby)
        with _Writers(standby_pair.primary, [world.t1, world.t2]) as writers:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                exact, lagging = _one_snapshot(world)
                snapshots += 1
                inexact += not exact
                pending += lagging
        components.wait_for_replay(standby_pair.primary, standby_pair.standby)
        last_watermark = committed.watermark(standby)

    assert inexact == 0, f"{inexact} of {snapshots} realtime reads differed from the raw rows"
    # The reads were taken while the standby replayed ticks and writes: the rollup moved there,
    # and some snapshots held buckets the rollup alone had not caught up with.
    assert snapshots >= 20 and writers.ticks >= 20
    assert last_watermark > first_watermark
    assert pending > 0


def _api_client() -> Client:
    client = Client()
    name = f"viewer-{uuid.uuid4().hex[:8]}"
    client.force_login(get_user_model().objects.create_superuser(name, password=None))
    return client


def _runtime_usage(client: Client, runtime: uuid.UUID):
    return client.get(reverse("usage_rollup:runtime-usage", args=[runtime]), {"days": 365})


def test_the_api_reads_the_replica_and_reports_how_far_it_trails(settings, world, replay_paused):
    settings.USAGE_ROLLUP_READ_DATABASE = "replica"
    settings.USAGE_ROLLUP_READ_MODE = "realtime"
    settings.USAGE_ROLLUP_READ_MAX_LAG_SECONDS = 3600
    time.sleep(0.2)  # the standby trails by at least this much now

    response = _runtime_usage(_api_client(), world.r1)

    assert response.status_code == 200
    assert _models(response.json()) == {"opus", "haiku"}  # not the row it has not replayed
    assert response["Usage-Read-Database"] == "replica"
    assert 0.2 <= float(response["Usage-Replay-Lag"]) < 3600


def test_the_api_falls_back_to_default_when_the_replica_trails_by_more_than_the_limit(
    settings, world, replay_paused
):
    settings.USAGE_ROLLUP_READ_DATABASE = "replica"
    settings.USAGE_ROLLUP_READ_MODE = "realtime"
    settings.USAGE_ROLLUP_READ_MAX_LAG_SECONDS = 0.1
    time.sleep(0.2)

    response = _runtime_usage(_api_client(), world.r1)

    assert response.status_code == 200
    assert UNSEEN_MODEL in _models(response.json())
    assert response["Usage-Read-Database"] == "default"
    assert float(response["Usage-Replay-Lag"]) >= 0.2


def test_the_api_falls_back_to_default_when_the_replica_cannot_be_reached(
    settings, standby_pair, world, replay_paused, caplog
):
    settings.USAGE_ROLLUP_READ_DATABASE = "replica"
    settings.USAGE_ROLLUP_READ_MODE = "realtime"
    # The replica's alias, pointed at a port nothing listens on: a standby stopped or gone.
    nowhere = standby_pair.standby.settings(PORT=str(components.free_port()))

    with components.registered_alias("replica", nowhere):
        response = _runtime_usage(_api_client(), world.r1)

    assert response.status_code == 200
    assert UNSEEN_MODEL in _models(response.json())
    assert response["Usage-Read-Database"] == "default"
    assert "read database 'replica' unreachable" in caplog.text


def test_the_api_reads_default_without_measuring_a_lag_by_default(world, replay_paused):
    response = _runtime_usage(_api_client(), world.r1)

    assert UNSEEN_MODEL in _models(response.json())
    assert response["Usage-Read-Database"] == "default"
    assert "Usage-Replay-Lag" not in response


def test_the_admin_chart_reads_the_replica(settings, world, replay_paused):
    settings.USAGE_ROLLUP_READ_DATABASE = "replica"
    settings.USAGE_ROLLUP_READ_MAX_LAG_SECONDS = ""  # never leave the standby

    response = _api_client().get(
        reverse("admin:usage_rollup_source_agentruntime_usage_chart", args=[world.r1]),
        {"days": 365},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="read-database">replica<' in html
    assert 'data-model="opus"' in html and UNSEEN_MODEL not in html


def test_the_router_reads_from_the_replica_and_writes_to_default(settings, world, replay_paused):
    settings.USAGE_ROLLUP_READ_DATABASE = "replica"
    settings.DATABASE_ROUTERS = ["usage_rollup.standby.ReadRouter"]
    workspace = Workspace.objects.get(pk=world.a)  # replicated before the pause
    assert workspace._state.db == "replica"

    workspace.name = "renamed"
    workspace.save()  # to default, where a standby would refuse it
    created = Workspace.objects.create(name="new", slug=str(uuid.uuid4()))

    assert Workspace.objects.using("default").get(pk=world.a).name == "renamed"
    assert Workspace.objects.get(pk=world.a).name == "a"  # the replica, paused
    assert not Workspace.objects.filter(pk=created.pk).exists()


MAINTENANCE = [
    ("rollup_usage",),
    ("rollup_usage", "--catch-up"),
    ("rollup_usage", "--from", "2026-03-01", "--to", "2026-04-01"),
    ("backfill_task_usage_daily",),
    ("backfill_task_usage_daily", "--dry-run"),
    ("verify_usage_rollup", "--repair"),
    ("schedule_usage_rollup",),
    ("schedule_usage_rollup", "--unschedule"),
]


@pytest.mark.parametrize("command", MAINTENANCE, ids=" ".join)
def test_maintenance_pointed_at_the_standby_refuses_by_name(standby_pair, world, command):
    with standby_pair.standby.connect(autocommit=True) as standby:
        before = committed.state_row(standby)

        with pytest.raises(CommandError) as refused:
            call_command(*command, database="replica", stdout=io.StringIO())

        assert committed.state_row(standby) == before
    message = str(refused.value)
    assert (
        message
        == f"database {components.STANDBY_DATABASE!r} (alias 'replica') {REFUSAL} on the primary"
    )


def test_the_sql_entry_point_on_the_standby_refuses_by_name(standby_pair, world):
    """As pg_cron, psql or another language's client would call it there."""
    with standby_pair.standby.connect(autocommit=True) as standby:
        before = committed.state_row(standby)

        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as refused:
            standby.execute("SELECT rollup_task_usage_daily(interval '0 seconds')")

        assert committed.state_row(standby) == before
    assert refused.value.diag.message_primary == (
        "this server is a hot standby, which cannot write: run the rollup's tick on the primary"
    )


def test_status_and_verify_read_the_standby(world):
    out = io.StringIO()

    call_command("usage_rollup_status", database="replica", stdout=out)
    call_command("verify_usage_rollup", database="replica", stdout=out)

    assert "The rollup equals the raw aggregate." in out.getvalue()
    assert "a hot standby: it replays " in out.getvalue()
    on_primary = io.StringIO()
    call_command("usage_rollup_status", stdout=on_primary)
    assert "hot standby" not in on_primary.getvalue()


def test_the_loop_pointed_at_the_standby_waits_and_says_so_once():
    out = io.StringIO()

    args = ("--loop", "--max-ticks", "3", "--interval", "0.05")
    call_command("rollup_usage", *args, database="replica", stdout=out)

    assert out.getvalue().count("Waiting: the database is a hot standby") == 1
    assert "Stopped after 3 ticks." in out.getvalue()


@contextlib.contextmanager
def _admin_on_the_standby(standby_pair):
    """The admin's own database ("default") pointed at the standby, and a request by a
    superuser that needs no session (signing in writes, which a standby refuses)."""
    request = RequestFactory().post("/")
    request.user = get_user_model()(is_superuser=True, is_active=True)
    request._messages = CookieStorage(request)
    with components.registered_alias("default", standby_pair.standby.settings()):
        yield request


def test_the_admin_actions_on_a_standby_refuse_with_a_message(standby_pair, world):
    with _admin_on_the_standby(standby_pair) as request:
        TaskUsageRollupStateAdmin(TaskUsageRollupState, admin.site).tick_view(request)
        TaskUsageDailyAdmin(TaskUsageDaily, admin.site).queue_selected(
            request, TaskUsageDaily.objects.filter(runtime_id=world.r1)
        )

    said = [str(message) for message in request._messages]
    assert len(said) == 2
    assert said[0].startswith("The tick failed: database") and REFUSAL in said[0]
    assert said[1].startswith("Nothing was queued: database") and REFUSAL in said[1]


def _promote_on_the_first_wait(node: components.Node, results: list) -> None:
    """A loop that ticks "promoted" until it has ticked once, promoting the standby the first
    time the loop says it waits for that."""

    def on_tick(result: rollup.TickResult) -> None:
        results.append(result)
        if result.skip_reason == rollup.SKIPPED_ON_STANDBY:
            node.promote()

    rollup.run_loop(
        0.05,
        lambda: bool(results) and not results[-1].skipped,
        lag=datetime.timedelta(0),
        using="promoted",
        on_tick=on_tick,
    )


def test_after_a_failover_the_promoted_standby_ticks_on_exactly_from_the_replicated_watermark(
    standby_pair, primary, world, second_standby
):
    ticker = components.create_ticking_role(primary)
    with _Writers(standby_pair.primary, [world.t1, world.t2]):
        time.sleep(1)
    # A writer still open on the primary when it is given up: its row never reaches the standby.
    with standby_pair.primary.connect() as open_writer:
        open_writer.execute(
            "INSERT INTO task_usage (task_id, model) VALUES (%s, 'never-committed')", [world.t2]
        )
        components.wait_for_replay(standby_pair.primary, second_standby)
        with second_standby.connect(autocommit=True) as standby:
            replicated = committed.watermark(standby)
        results = []
        as_ticker = second_standby.settings(USER=ticker.name, PASSWORD=ticker.password)
        with components.registered_alias("promoted", as_ticker):
            _promote_on_the_first_wait(second_standby, results)
            with second_standby.connect(autocommit=True) as promoted:
                # Resumed: nothing lost, nothing counted twice.
                committed.assert_exact(promoted)
                # Life goes on on the new primary: a correction, a delete, a reassignment.
                promoted.execute(
                    "UPDATE task_usage SET output_tokens = 9 WHERE task_id = %s", [world.t1]
                )
                promoted.execute(
                    "DELETE FROM task_usage WHERE task_id = %s AND model = 'haiku'", [world.t2]
                )
                promoted.execute(
                    "UPDATE agent_task_queue SET runtime_id = %s WHERE id = %s",
                    [world.r2, world.t1],
                )
                assert rollup.catch_up(datetime.timedelta(0), using="promoted").caught_up
                committed.assert_exact(promoted)
                never = promoted.execute(
                    "SELECT count(*) FROM task_usage WHERE model = 'never-committed'"
                )
                assert never.fetchone()[0] == 0
        open_writer.rollback()

    assert [result.skip_reason for result in results] == [rollup.SKIPPED_ON_STANDBY, None]
    # The first tick on the new primary went on from the watermark the old one had replicated.
    assert results[-1].window_start == replicated and results[-1].rows is not None
