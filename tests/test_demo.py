"""The README's main job, `manage.py usage_rollup_demo`, run small."""

import io

import pytest
from django.core.management import CommandError, call_command

from tests.oracle import assert_rollup_matches_oracle


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
