"""The README's main job, `manage.py usage_rollup_demo`, run small."""

import io

import pytest
from django.core.management import CommandError, call_command

from tests import world
from tests.oracle import assert_rollup_matches_oracle
from usage_rollup.source.models import TaskUsage, Workspace


def _demo(*args, **options) -> str:
    out = io.StringIO()
    call_command("usage_rollup_demo", *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def host_usage(db) -> TaskUsage:
    """A platform's own workspace and usage, as on a database the app was installed onto."""
    ws = world.workspace()
    return world.usage(world.task(world.agent(ws), world.runtime(ws)))


@pytest.mark.django_db(transaction=True)
def test_the_demo_builds_a_history_rolls_it_up_and_reads_it_back_equal(cursor):
    out, err = io.StringIO(), io.StringIO()
    call_command("usage_rollup_demo", rows=3000, days=40, stdout=out, stderr=err)

    printed = out.getvalue()
    assert "Writing 3,000 usage rows over 40 days" in printed
    assert "Rollup and raw reads are equal." in printed
    assert "backfill: 100%" in err.getvalue()
    cursor.execute("SELECT count(*) FROM task_usage")
    assert cursor.fetchone()[0] == 3000
    assert_rollup_matches_oracle(cursor)

    again = io.StringIO()
    call_command("usage_rollup_demo", stdout=again, stderr=io.StringIO())
    assert "Using the existing history of 3,000 usage rows." in again.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("option", ["--rows", "--days", "--read-days"])
def test_the_demo_refuses_bad_sizes(option):
    with pytest.raises(CommandError, match=f"{option}: must be a whole number from 1 to .*'0'"):
        call_command("usage_rollup_demo", option, "0", stdout=io.StringIO())


@pytest.mark.parametrize("reset", [False, True])
def test_the_demo_refuses_a_database_with_usage_it_did_not_write(host_usage, reset):
    with pytest.raises(CommandError, match="the database holds data the demo did not write"):
        _demo(rows=100, reset=reset)

    assert list(TaskUsage.objects.all()) == [host_usage]
    assert not Workspace.objects.filter(slug__startswith="synthetic-").exists()


def test_the_demo_refuses_to_reset_a_database_with_a_workspace_it_did_not_create(db):
    world.workspace()

    with pytest.raises(CommandError, match=r"1 workspaces whose slug .* would delete them all"):
        _demo(rows=100, reset=True)

    assert Workspace.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_force_lets_the_demo_reset_a_database_with_data_it_did_not_write(host_usage):
    printed = _demo(rows=300, days=10, reset=True, force=True)

    assert "Rollup and raw reads are equal." in printed
    assert not TaskUsage.objects.filter(pk=host_usage.pk).exists()
    assert TaskUsage.objects.count() == 300


@pytest.mark.django_db(transaction=True)
def test_the_demo_resets_its_own_history_without_force():
    _demo(rows=300, days=10)

    printed = _demo(rows=200, days=10, reset=True)

    assert "Writing 200 usage rows over 10 days" in printed
    assert TaskUsage.objects.count() == 200
