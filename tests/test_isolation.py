"""PostgreSQL's own isolation tester on the rollup's races: every interleaving of each spec.

Each spec in tests/isolation/specs/ puts a tick against one change (insert, correction, delete,
task reassignment, agent move), a backfill, another tick or a long-open writer; its header says
which race it covers. None lists permutations, so isolationtester runs every interleaving of the
sessions' steps, and each ends with a final tick and the oracle check (tests/isolation_world.py):
the expected file, tests/isolation/expected/<spec>.out, holds `t` for rollup_equals_oracle after
every permutation. pg_isolation_regress runs a spec against the test database and compares.

The isolation tester ships with Debian's postgresql-15 (lib/pgxs/src/test/isolation); it is a
libpq client of whatever server the tests use, the embedded PostgreSQL 18 included. Without it
the tests skip, unless USAGE_ROLLUP_REQUIRE_ISOLATION is set (`.ci/run` sets it): then they fail.

Whatever the expected file says, each test also reads the run's own output and fails unless
every permutation ended with its check reading t | t | t: a wrong verdict is never accepted.

After a change in blocking behaviour (a step that now waits, a tick that now returns otherwise),
regenerate the expected files, then review every change before committing it:

    pytest tests/test_isolation.py --isolation-accept
    git diff tests/isolation/expected/

A step that waits for a lock while its session's next step comes before the lock's holder
commits is a permutation that cannot happen: the tester cancels it after PGISOLATIONTIMEOUT
(ISOLATION_TIMEOUT seconds here, not its 300) and says so in the output.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from tests.isolation_world import INSTALL, UNINSTALL

pytestmark = pytest.mark.isolation

ISOLATION_DIR = Path(__file__).resolve().parent / "isolation"
SPECS = sorted(path.stem for path in (ISOLATION_DIR / "specs").glob("*.spec"))

CHECK_HEADER = "rollup_equals_oracle|queue_drained|last_tick_ok"
CHECK_PASSED = ["t", "t", "t"]

# Seconds a step may wait for a lock before the tester cancels it (its default is 300).
ISOLATION_TIMEOUT = 10


def _isolation_tools() -> tuple[Path, Path] | None:
    """pg_isolation_regress and the bindir it is given, from pg_config or Debian's layout."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run(
            [pg_config, "--pkglibdir", "--bindir"], capture_output=True, text=True, check=False
        )
        if found.returncode == 0 and len(found.stdout.split()) == 2:
            pkglibdir, bindir = found.stdout.split()
            candidates.append((Path(pkglibdir), Path(bindir)))
    for version in sorted(Path("/usr/lib/postgresql").glob("*"), reverse=True):
        candidates.append((version / "lib", version / "bin"))
    for pkglibdir, bindir in candidates:
        regress = pkglibdir / "pgxs/src/test/isolation/pg_isolation_regress"
        if os.access(regress, os.X_OK) and os.access(regress.with_name("isolationtester"), os.X_OK):
            return regress, bindir
    return None


def failed_checks(output: str) -> list[str]:
    """Each permutation of an isolationtester output whose final check did not read t | t | t
    (or that printed no check, or more than one), as its whole output."""
    failed = []
    for block in output.split("\nstarting permutation: ")[1:]:
        lines = block.splitlines()
        verdicts = [
            [value.strip() for value in lines[i + 2].split("|")]
            for i, line in enumerate(lines)
            if line.strip() == CHECK_HEADER and i + 2 < len(lines)
        ]
        if verdicts != [CHECK_PASSED]:
            failed.append("starting permutation: " + block)
    return failed


@pytest.fixture
def isolation_tools() -> tuple[Path, Path]:
    tools = _isolation_tools()
    if tools is None:
        reason = "PostgreSQL's isolation tester is not installed (Debian's postgresql-15 has it)"
        if os.environ.get("USAGE_ROLLUP_REQUIRE_ISOLATION"):
            pytest.fail(reason)
        pytest.skip(reason)
    return tools


@pytest.fixture
def isolation_world(transactional_db):
    """The specs' helpers, in schema `isolation` of the (migrated, committed) test database."""
    with connection.cursor() as cursor:
        cursor.execute(UNINSTALL)
        cursor.execute(INSTALL)
    yield
    with connection.cursor() as cursor:
        cursor.execute(UNINSTALL)


@pytest.mark.parametrize("spec", SPECS)
def test_every_interleaving_ends_with_the_rollup_equal_to_the_oracle(
    spec, isolation_tools, isolation_world, tmp_path, request
):
    regress, bindir = isolation_tools
    params = connection.get_connection_params()
    command = [
        str(regress),
        "--use-existing",
        f"--bindir={bindir}",
        f"--inputdir={ISOLATION_DIR}",
        f"--outputdir={tmp_path}",
        f"--dbname={params['dbname']}",
    ]
    for option in ("host", "port", "user"):
        if params.get(option):
            command.append(f"--{option}={params[option]}")
    command.append(spec)
    env = {
        **os.environ,
        "PGISOLATIONTIMEOUT": str(ISOLATION_TIMEOUT),
        # What a commit makes visible does not wait for the disk: the specs need not either
        # (they run in 0.6x the time).
        "PGOPTIONS": f"{os.environ.get('PGOPTIONS', '')} -c synchronous_commit=off".strip(),
    }
    if params.get("password"):
        env["PGPASSWORD"] = params["password"]

    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )

    result = tmp_path / "results" / f"{spec}.out"
    assert result.exists(), f"pg_isolation_regress ran no spec:\n{run.stdout}{run.stderr}"
    output = result.read_text()
    assert "starting permutation" in output, output[:5000]
    failed = failed_checks(output)
    assert not failed, (
        f"{len(failed)} permutation(s) of {spec} do not end with the check t | t | t; the first:\n"
        + failed[0]
    )
    if request.config.getoption("--isolation-accept"):
        shutil.copyfile(result, ISOLATION_DIR / "expected" / f"{spec}.out")
        return
    if run.returncode != 0:
        diffs = tmp_path / "regression.diffs"
        shown = diffs.read_text()[:20000] if diffs.exists() else "(no regression.diffs)"
        pytest.fail(
            f"isolation spec {spec} differs from tests/isolation/expected/{spec}.out "
            f"(accept a reviewed change with --isolation-accept)\n{run.stdout}{run.stderr}\n"
            f"{shown}"
        )
