"""What the read path must answer, derived from the oracle's buckets (tests/oracle.py) in Python,
not from any SQL of the read path."""

import collections
import datetime
import uuid

from tests.oracle import oracle_buckets

OWNER_COLUMN = {"runtime": "runtime_id", "workspace": "workspace_id"}


def expected_usage(cursor, scope: str, owner: uuid.UUID, since: datetime.date) -> list[dict]:
    """The owner's usage per day, provider and model since the day, newest day first."""
    totals = collections.defaultdict(lambda: [0, 0, 0, 0])
    for (day, workspace_id, runtime_id, provider, model), values in oracle_buckets(cursor).items():
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
