"""Hypothesis drives every operation that can change usage, from sessions in different time
zones, with ticks and windows in between. After every tick the rollup equals the oracle: no
missing, extra or different bucket.

Run longer with `pytest tests/test_stateful.py --hypothesis-profile=soak`."""

import collections
import itertools
import uuid

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from tests import operations
from tests.committed import assert_exact, tick

ZONES = ("UTC", "Pacific/Kiritimati", "America/Los_Angeles", "Asia/Kolkata")
WINDOWS = (
    ("-infinity", "infinity"),  # everything
    ("infinity", "infinity"),  # the queue only
    ("2026-03-10", "2026-03-12"),  # a slice of the past
    ("now", "infinity"),  # only what is newer than this call
)


# What the last run exercised, printed at its end (pytest -s shows it).
RUN = collections.Counter()


class HypothesisChooser:
    """Draws from hypothesis. Exactly one draw per pick, whatever the rows, and ids from a
    counter: the same draws always make the same database, so examples replay and shrink."""

    def __init__(self, data, ids: itertools.count) -> None:
        self.data = data
        self.ids = ids

    def pick(self, options):
        index = self.data.draw(st.integers(0, 1_000_000))
        return options[index % len(options)] if options else None

    def number(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=next(self.ids))


def _machine(open_session):
    class RollupMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.sessions = {zone: open_session(timezone=zone) for zone in ZONES}
            first = self.sessions["UTC"]
            first.execute(
                """
                TRUNCATE workspace, agent_runtime, agent, issue, agent_task_queue, task_usage,
                         task_usage_daily, task_usage_daily_dirty, task_usage_daily_quarters;
                DELETE FROM task_usage_rollup_state;
                """
            )
            RUN["examples"] += 1
            self.ids = itertools.count(1)
            operations.seed_world(first, operations.RandomChooser(0))

        @rule(data=st.data(), zone=st.sampled_from(ZONES), count=st.integers(1, 6))
        def change(self, data, zone, count):
            choose = HypothesisChooser(data, self.ids)
            for _ in range(count):
                # The destructive ones (a workspace delete, a TRUNCATE) one time in fifty.
                rare = choose.number(1, 50) == 1
                operation = choose.pick(
                    operations.RARE_OPERATIONS if rare else operations.OPERATIONS
                )
                RUN["changes"] += 1
                operation(self.sessions[zone], choose)

        @rule(zone=st.sampled_from(ZONES), bounds=st.sampled_from(WINDOWS))
        def window(self, zone, bounds):
            self.sessions[zone].execute(
                "SELECT rollup_task_usage_daily_window(%s, %s)", list(bounds)
            )

        @rule(zone=st.sampled_from(ZONES))
        def tick_then_compare(self, zone):
            tick(self.sessions[zone])
            assert_exact(self.sessions[zone])
            RUN["ticks compared"] += 1
            RUN["buckets compared"] += (
                self.sessions[zone].execute("SELECT count(*) FROM task_usage_daily").fetchone()[0]
            )

        def teardown(self) -> None:
            tick(self.sessions["UTC"])
            assert_exact(self.sessions["UTC"])
            for conn in self.sessions.values():
                conn.close()

    return RollupMachine


def test_the_rollup_equals_the_oracle_after_every_tick_of_any_history(session):
    RUN.clear()
    run_state_machine_as_test(_machine(session))
    print(f"\nstateful rollup run: {dict(RUN)}")
    assert RUN["ticks compared"] > 0 and RUN["buckets compared"] > 0
