"""Hot standbys: whether a database is one, how far it trails its primary, and where reads go.

A standby replays its primary's WAL and answers reads of a consistent snapshot at its replay
point: every read mode runs there, and a realtime read is as exact there as on the primary (the
rollup, its watermark, its queue and the raw rows are all replicated in the same WAL). It refuses
every write, so the rollup's maintenance runs on the primary only (rollup.require_primary).
"""

import dataclasses
import logging

from django.db import OperationalError, connections

from usage_rollup import config

# NULL on a primary; on a standby, the seconds since the primary committed the transaction
# replayed last, or infinity before the standby has replayed any since it started. An
# expression, so that the rollup's state reads it in its own statement (rollup._STATE).
REPLAY_LAG = """CASE WHEN pg_is_in_recovery()
            THEN coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()),
                          'infinity')::double precision
       END"""


def in_recovery(using: str = "default") -> bool:
    """Whether the database is a hot standby (in recovery), which refuses every write."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        return cursor.fetchone()[0]


def replay_lag_seconds(using: str = "default") -> float | None:
    """How far a standby trails its primary, in seconds of replay; None on a primary.

    It is measured from the last replayed commit, so it grows while the primary commits nothing:
    an idle primary makes its standby look behind (docs/runbook.md, "Reads on hot standbys").
    """
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {REPLAY_LAG}")
        return cursor.fetchone()[0]


logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ReadTarget:
    """Where a read goes: the alias, the replay lag measured there (None on a primary, or when
    the alias is "default" and nothing was measured), whether it fell back to "default", and
    whether that was because the read database could not be reached."""

    alias: str
    lag_seconds: float | None = None
    fell_back: bool = False
    unreachable: bool = False


def read_target() -> ReadTarget:
    """The database the JSON API reads from: USAGE_ROLLUP_READ_DATABASE, unless it is a standby
    trailing by more than USAGE_ROLLUP_READ_MAX_LAG_SECONDS, or cannot be reached (stopped,
    restarting, its host gone), when "default" is read instead."""
    alias = config.read_database()
    if alias == "default":
        return ReadTarget(alias)
    try:
        lag = replay_lag_seconds(alias)
    except OperationalError as error:
        # A standby down is a standby to route around: the primary answers, and the log says why.
        logger.warning("read database %r unreachable, reading 'default': %s", alias, error)
        connections[alias].close()
        return ReadTarget("default", fell_back=True, unreachable=True)
    max_lag = config.read_max_lag_seconds()
    if lag is not None and max_lag is not None and lag > max_lag:
        return ReadTarget("default", lag, fell_back=True)
    return ReadTarget(alias, lag)


class ReadRouter:
    """A Django database router for a host with one primary ("default") and a standby: the ORM
    reads from USAGE_ROLLUP_READ_DATABASE and writes to "default" (DATABASE_ROUTERS =
    ["usage_rollup.standby.ReadRouter"]). It measures no lag: docs/runbook.md says when to use
    it and what it costs (a read after a write in one request may not see the write)."""

    def db_for_read(self, model, **hints) -> str:
        return config.read_database()

    def db_for_write(self, model, **hints) -> str:
        # Without an answer Django writes an object back to the database it was read from.
        return "default"

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # The standby holds the primary's rows: an object read there may point at one here.
        return True
