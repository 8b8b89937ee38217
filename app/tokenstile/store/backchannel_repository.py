"""Back-channel logout in SQL: what ending a session enqueues, and the delivery queue.

**Ending a session** (``SqlTx.revoke_session``, which every path that ends a session goes
through: sign-out, ``/revoke``, ``/logout``, refresh-token reuse, an admin's revocation,
a credential's revocation, a disabled account, idle or absolute end seen at a refresh)
calls ``end_under`` in the same transaction: the app sessions opened under the ended
session (``sessions.parent_sid``) end with it, and each ended app session whose client
registered a ``backchannel_logout_uri`` gets a row in ``backchannel_logouts``. The
logout is therefore queued exactly when, and only if, the session's end commits.

**The queue** is drained by every replica's delivery thread. ``claim`` takes due rows
for one replica: on PostgreSQL the candidates are read ``FOR UPDATE SKIP LOCKED`` (two
replicas never wait on each other's rows), and on every database each row is claimed by
one conditional UPDATE that writes the replica's random ``lease`` and pushes
``next_attempt_at`` past the delivery's time limit, so a row is handed to exactly one
replica; a replica that dies mid-delivery leaves the row to be claimed again once that
time has passed. ``finish`` and ``retry`` only touch a row whose lease is still theirs.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, update

from tokenstile.store import schema as t
from tokenstile.tokens.model import AuditEvent

if TYPE_CHECKING:  # repository imports token_tx, which imports this module
    from tokenstile.store.repository import Store

_q = t.backchannel_logouts
_s = t.sessions
JTI_BYTES = 24


@dataclass(frozen=True, slots=True)
class PendingLogout:
    """One claimed delivery: everything its logout token and audit rows need."""

    id: int
    jti: str
    client_id: str
    uri: str
    sid: str
    app_sid: str
    subject: str
    reason: str
    attempts: int
    lease: str


def end_under(conn: Connection, sid: str, *, at: float, reason: str) -> list[Row[*tuple[Any, ...]]]:
    """End the live app sessions under ``sid`` and queue the back-channel logouts of
    ``sid`` and of them; the ended app sessions (sid, client_id, factor, username) for
    their audit rows. Run in the transaction that ended ``sid``."""
    children = conn.execute(
        select(_s.c.sid, _s.c.client_id, _s.c.factor, t.users.c.username)
        .select_from(_s.join(t.users, t.users.c.id == _s.c.user_id))
        .where(_s.c.parent_sid == sid, _s.c.revoked_at.is_(None))
        .order_by(_s.c.sid)
    ).all()
    if children:
        conn.execute(
            update(_s)
            .where(_s.c.sid.in_([c.sid for c in children]), _s.c.revoked_at.is_(None))
            .values(revoked_at=at, revoke_reason=reason)
        )
    _enqueue(conn, [sid, *(c.sid for c in children)], at=at, reason=reason)
    return list(children)


def _enqueue(conn: Connection, sids: Sequence[str], *, at: float, reason: str) -> None:
    c = t.clients
    rows = conn.execute(
        select(
            _s.c.sid, _s.c.parent_sid, c.c.client_id, c.c.backchannel_logout_uri, t.users.c.username
        )
        .select_from(
            _s.join(c, c.c.client_id == _s.c.client_id).join(t.users, t.users.c.id == _s.c.user_id)
        )
        .where(
            _s.c.sid.in_(list(sids)),
            _s.c.parent_sid.is_not(None),
            c.c.backchannel_logout_uri.is_not(None),
        )
    ).all()
    for row in rows:
        conn.execute(
            insert(_q).values(
                jti=secrets.token_urlsafe(JTI_BYTES),
                client_id=row.client_id,
                uri=row.backchannel_logout_uri,
                sid=row.parent_sid,
                app_sid=row.sid,
                subject=row.username,
                reason=reason[:64],
                created_at=at,
                next_attempt_at=at,
                attempts=0,
                state="pending",
            )
        )


class SqlBackchannelQueue:
    """The delivery queue over the store's transactions (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def claim(self, *, now: float, hold: float, limit: int) -> list[PendingLogout]:
        """Up to ``limit`` due rows, each claimed for this caller until ``now + hold``."""
        lease = secrets.token_urlsafe(16)
        claimed: list[PendingLogout] = []
        with self._store.write() as tx:
            conn = tx.connection
            due = (
                select(_q)
                .where(_q.c.state == "pending", _q.c.next_attempt_at <= now)
                .order_by(_q.c.next_attempt_at, _q.c.id)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            for row in conn.execute(due).all():
                won = conn.execute(
                    update(_q)
                    .where(
                        _q.c.id == row.id,
                        _q.c.state == "pending",
                        _q.c.next_attempt_at == row.next_attempt_at,
                    )
                    .values(lease=lease, next_attempt_at=now + hold, attempts=row.attempts + 1)
                ).rowcount
                if won == 1:
                    claimed.append(
                        PendingLogout(
                            id=row.id,
                            jti=row.jti,
                            client_id=row.client_id,
                            uri=row.uri,
                            sid=row.sid,
                            app_sid=row.app_sid,
                            subject=row.subject,
                            reason=row.reason,
                            attempts=row.attempts + 1,
                            lease=lease,
                        )
                    )
        return claimed

    def finish(self, item: PendingLogout, *, state: str, at: float, audit: AuditEvent) -> bool:
        """Mark ``item`` delivered or failed, with its audit row, if its lease is still
        the caller's; False (and nothing written) otherwise."""
        with self._store.write() as tx:
            done = tx.connection.execute(
                update(_q)
                .where(_q.c.id == item.id, _q.c.lease == item.lease, _q.c.state == "pending")
                .values(state=state, finished_at=at, lease=None)
            ).rowcount
            if done != 1:
                return False
            tx.audit(audit, at=at)
        return True

    def retry(self, item: PendingLogout, *, next_attempt_at: float) -> bool:
        """Release ``item`` for another attempt at ``next_attempt_at``."""
        with self._store.write() as tx:
            done = tx.connection.execute(
                update(_q)
                .where(_q.c.id == item.id, _q.c.lease == item.lease, _q.c.state == "pending")
                .values(next_attempt_at=next_attempt_at, lease=None)
            ).rowcount
        return done == 1
