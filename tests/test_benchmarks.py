"""The benchmarks run: each at a tiny size, as a subprocess, as a person would run it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from benchmarks import figures
from benchmarks.run import FIGURES, method_note, table
from tests import components

REPO = Path(__file__).resolve().parent.parent
SMOKE = "usage_bench_smoke"  # the databases these tests make: SMOKE, and SMOKE_<size>


@pytest.fixture(autouse=True)
def drop_smoke_databases():
    """Drop the databases the benchmark made when the test ends, as it leaves them to be
    reused by its next run (ours should not outlive the test run)."""
    yield
    params = connection.get_connection_params()
    conninfo = {key: params[key] for key in ("user", "password", "host", "port") if params.get(key)}
    with psycopg.connect(**conninfo, dbname="postgres", autocommit=True) as server:
        names = server.execute(
            "SELECT datname FROM pg_database WHERE datname = %s OR starts_with(datname, %s)",
            [SMOKE, f"{SMOKE}_"],
        ).fetchall()
        for (name,) in names:
            server.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.bench_smoke
def test_the_read_modes_benchmark_runs_small_and_only_the_rollup_lags_pending_writes():
    command = [sys.executable, "benchmarks/read_modes.py", "--rows", "3000", "--days", "60"]
    command += ["--requests", "20", "--repeat", "3", "--pending-rows", "50"]
    command += ["--db-name", SMOKE]

    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()

    def row(state: str, mode: str) -> str:
        (found,) = [line for line in lines if line.startswith(state) and f" {mode} " in line]
        return found

    for mode in ("raw", "rollup", "realtime"):
        assert row("nothing pending", mode).endswith(" yes")
    assert row("50 rows + 1 reassign", "raw").endswith(" yes")
    assert row("50 rows + 1 reassign", "realtime").endswith(" yes")
    assert row("50 rows + 1 reassign", "rollup").endswith(" no (stale)")


@pytest.mark.bench_smoke
def test_the_benchmark_command_runs_small_and_prints_every_figure_with_its_bar(tmp_path):
    command = [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(tmp_path)]
    command += ["--db-prefix", SMOKE]

    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)

    assert result.returncode == 0, result.stderr
    printed = result.stdout
    for figure in FIGURES:
        assert f"\n{figure.name}" in printed
    for bar in (">=100x at 1M: not run", "<=3x the floor", ">=0.95x", "<=2x"):
        assert bar in printed
    assert (tmp_path / "benchmarks.png").read_bytes().startswith(b"\x89PNG")

    # A size measured at scale (Repeats.at_scale) has no insert rates: its cells and bars say so.
    results = {
        int(size): measured
        for size, measured in json.loads((tmp_path / "results.json").read_text()).items()
    }
    largest = max(results)
    for key in [key for key in results[largest] if key.startswith("insert_")]:
        del results[largest][key]
    results[largest]["endpoint_raw"] = 0.0401  # requests/s of a raw 90-day read at 100M
    printed = table(results, method_note(figures.Repeats(), [100_000_000]))
    inserts = next(line for line in printed.splitlines() if line.startswith("usage inserts, with"))
    assert "not measured" in inserts and ">=0.95x: not run" in inserts
    raw_endpoint = next(
        line for line in printed.splitlines() if line.startswith("endpoint req/s, raw ")
    )
    assert "0.0401/s" in raw_endpoint
    assert "Beyond 10M rows: 3,650 days of 500 workspaces" in printed


def test_a_server_the_benchmark_cannot_reach_is_one_clear_error_and_no_traceback():
    command = [sys.executable, "-m", "benchmarks", "--smoke", "--sizes", "2k"]
    unreachable = f"postgres://nobody:secret@127.0.0.1:{components.free_port()}/nothing"

    result = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": unreachable},
    )

    assert result.returncode == 1
    assert "the benchmark cannot reach its server" in result.stderr
    assert "measuring 2,000 rows failed (exit status 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_history_of_100m_rows_is_ten_years_of_many_tenants():
    """A hundred years at the smaller sizes' daily rate would start before task_usage's CHECK
    allows (2000)."""
    assert figures.shape_for(1_000_000).days == 365
    large = figures.shape_for(100_000_000)
    assert (large.days, large.workspaces, large.runtimes) == (3_650, 500, 1_000)
    assert figures.Repeats.for_history(100_000_000, smoke=False) == figures.Repeats.at_scale()


def test_a_resumed_run_keeps_the_steps_an_unfinished_run_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(figures.read_modes, "REPO", tmp_path)
    unfinished = figures.StepRecord("usage_bench_100m", 100_000_000, resume=False)
    unfinished.add("backfill", {"backfill": 1800.0})

    assert figures.StepRecord("usage_bench_100m", 100_000_000, resume=True).steps == {
        "backfill": {"backfill": 1800.0}
    }
    # Not for a history of another size, nor without --resume (which starts the record anew).
    assert figures.StepRecord("usage_bench_100m", 10_000_000, resume=True).steps == {}
    assert figures.StepRecord("usage_bench_100m", 100_000_000, resume=False).steps == {}
    assert figures.StepRecord("usage_bench_100m", 100_000_000, resume=True).steps == {}
