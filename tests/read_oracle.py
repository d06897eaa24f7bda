"""What the read path must answer, derived from the oracle's buckets (tests/oracle.py) in Python,
not from any SQL of the read path."""

import collections
import datetime
import uuid

from tests.oracle import oracle_buckets, oracle_local_days

OWNER_COLUMN = {"runtime": "runtime_id", "workspace": "workspace_id"}
# The zones the zoned reads are tested in (issue 13): whole-hour offsets with and without clock
# changes, 30- and 45-minute offsets, and a 30-minute clock change (Australia/Lord_Howe).
ZONES = (
    "UTC",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
)


def expected_usage(
    cursor, scope: str, owner: uuid.UUID, since: datetime.date, tz: str = "UTC"
) -> list[dict]:
    """The owner's usage per day of the zone `tz`, provider and model since the day, newest day
    first."""
    buckets = oracle_buckets(cursor) if tz == "UTC" else oracle_local_days(cursor, tz)
    totals = collections.defaultdict(lambda: [0, 0, 0, 0])
    for (day, workspace_id, runtime_id, provider, model), values in buckets.items():
        if (runtime_id if scope == "runtime" else workspace_id) == owner and day >= since:
            sums = totals[day, provider, model]
            for i in range(4):
                sums[i] += values[i]
    keys = sorted(totals, key=lambda key: (-key[0].toordinal(), key[1], key[2]))
    return [
        {
            OWNER_COLUMN[scope]: owner,
            "date": day,
            "provider": provider,
            "model": model,
            "input_tokens": totals[day, provider, model][0],
            "output_tokens": totals[day, provider, model][1],
            "cache_read_tokens": totals[day, provider, model][2],
            "cache_write_tokens": totals[day, provider, model][3],
        }
        for day, provider, model in keys
    ]


def expected_summary(
    cursor, scope: str, owner: uuid.UUID, since: datetime.date, tz: str = "UTC"
) -> list[dict]:
    """The owner's total usage per provider and model since the day of the zone `tz`."""
    totals = collections.defaultdict(lambda: [0, 0, 0, 0])
    for row in expected_usage(cursor, scope, owner, since, tz):
        sums = totals[row["provider"], row["model"]]
        for i, name in enumerate(
            ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
        ):
            sums[i] += row[name]
    return [
        {
            "provider": provider,
            "model": model,
            "input_tokens": sums[0],
            "output_tokens": sums[1],
            "cache_read_tokens": sums[2],
            "cache_write_tokens": sums[3],
        }
        for (provider, model), sums in sorted(totals.items())
    ]
