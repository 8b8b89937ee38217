"""Rate-limit counters shared by every replica: one row per bucket, fixed windows.

A bucket is a limit and what it counts for ("challenges 203.0.113.7"). One statement
both counts a hit and reads the count: an upsert that starts a new window when the
stored one has ended (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, on SQLite and
PostgreSQL alike), so two replicas counting at once never lose a hit. A refund takes
one hit back (a login that succeeded is not a failure). Rows of ended windows go with
the periodic purge (``store.purge``). On SQLite the writes join the group commit
(``group_commit``): a counted hit costs no fsync of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Double,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    case,
    delete,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite

from tokenstile.store.repository import Store
from tokenstile.store.schema import metadata

rate_limits = Table(
    "rate_limits",
    metadata,
    Column("bucket", String(160), primary_key=True),
    Column("window_start", Double, nullable=False),
    Column("hits", Integer, nullable=False),
    Index("ix_rate_limits_window_start", "window_start"),
)

# Hits stop counting here: a flood cannot overflow the column.
_MAX_HITS = 1_000_000_000


def _upsert(insert: Any) -> Any:
    """Count a hit, starting a new window when the stored one ended before ``since``."""
    rl = rate_limits
    ended = rl.c.window_start <= bindparam("since")
    return (
        insert(rl)
        .values(bucket=bindparam("bucket"), window_start=bindparam("now"), hits=1)
        .on_conflict_do_update(
            index_elements=[rl.c.bucket],
            set_={
                "window_start": case((ended, bindparam("now")), else_=rl.c.window_start),
                "hits": case((ended, 1), (rl.c.hits >= _MAX_HITS, rl.c.hits), else_=rl.c.hits + 1),
            },
        )
        .returning(rl.c.hits, rl.c.window_start)
    )


# Built once: every limited request runs one.
_HIT = {"sqlite": _upsert(sqlite.insert), "postgresql": _upsert(postgresql.insert)}
_REFUND = (
    sql_update(rate_limits)
    .where(
        rate_limits.c.bucket == bindparam("b_bucket"),
        rate_limits.c.window_start == bindparam("b_start"),
        rate_limits.c.hits > 0,
    )
    .values(hits=rate_limits.c.hits - 1)
)


@dataclass(frozen=True, kw_only=True)
class Count:
    """The bucket's hits in its current window (this one included) and when it began."""

    hits: int
    window_start: float


class RateLimitStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._hit = _HIT[store.engine.dialect.name]

    def hit(self, bucket: str, *, now: float, window: float) -> Count:
        """Count one hit in ``bucket``'s window (a new one when it has ended)."""
        params = {"bucket": bucket, "now": now, "since": now - window}
        row = self._store.run_write(lambda tx: tx.connection.execute(self._hit, params).one())
        return Count(hits=int(row.hits), window_start=float(row.window_start))

    def refund(self, bucket: str, count: Count) -> None:
        """Take back the hit that returned ``count``, if its window is still the bucket's."""
        params = {"b_bucket": bucket, "b_start": count.window_start}
        self._store.run_write(lambda tx: tx.connection.execute(_REFUND, params))

    def purge(self, *, before: float) -> int:
        """Delete the buckets whose window started before ``before``; how many."""
        stmt = delete(rate_limits).where(rate_limits.c.window_start < before)
        return int(self._store.run_write(lambda tx: tx.connection.execute(stmt).rowcount) or 0)

    def hits(self, bucket: str) -> int:
        """The stored count (0 for no row)."""
        stmt = select(rate_limits.c.hits).where(rate_limits.c.bucket == bucket)
        with self._store.read() as tx:
            return int(tx.connection.execute(stmt).scalar() or 0)
