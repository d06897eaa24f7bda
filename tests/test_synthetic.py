"""The synthetic history the demo and the benchmarks write: its shape, chunk by chunk."""

import pytest

from tests.oracle import assert_rollup_matches_oracle
from usage_rollup import rollup
from usage_rollup.source import synthetic


@pytest.mark.django_db(transaction=True)
def test_a_history_written_in_chunks_has_its_rows_in_time_order_and_its_tenants_apart(
    cursor, monkeypatch
):
    monkeypatch.setattr(synthetic, "CHUNK_TASKS", 700)
    written = []
    shape = synthetic.HistoryShape(rows=5_001, days=30, workspaces=40, runtimes=90, agents=100)

    synthetic.generate_history(shape, progress=written.append)

    assert written == [1_400, 2_800, 4_200, 5_001]
    cursor.execute("SELECT count(*) FROM task_usage")
    assert cursor.fetchone()[0] == 5_001
    # Tasks follow one another in time, so each chunk is appended in time order.
    cursor.execute(
        """
        SELECT count(*) FILTER (WHERE created_at < lag), min(created_at), max(created_at)
          FROM (SELECT created_at, lag(created_at) OVER (ORDER BY id) FROM agent_task_queue) t
        """
    )
    out_of_order, first, last = cursor.fetchone()
    assert out_of_order == 0
    assert (last - first).days == 29
    # A task's agent belongs to its runtime's workspace; many workspaces and runtimes are used.
    cursor.execute(
        """
        SELECT count(*) FILTER (WHERE a.workspace_id <> r.workspace_id),
               count(DISTINCT r.workspace_id), count(DISTINCT r.id),
               count(*) FILTER (WHERE t.runtime_id IS NULL)
          FROM agent_task_queue t
          JOIN agent a ON a.id = t.agent_id
          LEFT JOIN agent_runtime r ON r.id = t.runtime_id
        """
    )
    across_workspaces, workspaces, runtimes, without_runtime = cursor.fetchone()
    assert across_workspaces == 0
    assert workspaces > 20 and runtimes > 30
    assert 0 < without_runtime < 300

    rollup.backfill()
    assert_rollup_matches_oracle(cursor)


def test_a_shape_with_fewer_agents_than_workspaces_is_refused():
    with pytest.raises(ValueError, match="every workspace needs an agent"):
        synthetic.HistoryShape(workspaces=5, agents=4)


# What a history's seed decides: every row's tenants, model and tokens (not its clock times).
_SIGNATURE = """
SELECT md5(string_agg(row, ',' ORDER BY row)), count(*)
  FROM (SELECT concat_ws(':', r.name, a.name, tu.provider, tu.model, tu.input_tokens,
                         tu.output_tokens, tu.cache_read_tokens, tu.cache_write_tokens) AS row
          FROM task_usage tu
          JOIN agent_task_queue t ON t.id = tu.task_id
          JOIN agent a ON a.id = t.agent_id
          LEFT JOIN agent_runtime r ON r.id = t.runtime_id) AS rows
"""


@pytest.mark.django_db(transaction=True)
def test_two_writers_write_the_same_history_as_one(cursor, monkeypatch):
    monkeypatch.setattr(synthetic, "CHUNK_TASKS", 500)
    shape = synthetic.HistoryShape(rows=4_000, days=20, workspaces=10, runtimes=20, agents=30)
    signatures = []
    for writers in (1, 2):
        synthetic.reset_all()
        written = []
        synthetic.generate_history(shape, progress=written.append, writers=writers)
        assert sorted(written) == [1_000, 2_000, 3_000, 4_000]
        cursor.execute(_SIGNATURE)
        signatures.append(cursor.fetchone())
    assert signatures[0] == signatures[1]
    assert signatures[0][1] == 4_000
