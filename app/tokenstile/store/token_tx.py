"""``SqlTx``: the token service's transaction port (``TokenTx``) in SQL.

The refresh grant's statements are built once and the hottest of them run on the
driver's own cursor (``_HotStatement``); the rest go through SQLAlchemy Core.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import aliased

from tokenstile.errors import NotFound, StoreError
from tokenstile.store import audit_feed
from tokenstile.store import schema as t
from tokenstile.store import shift_repository as shifts
from tokenstile.store.backchannel_repository import end_under
from tokenstile.store.rows import (
    audience_from_row,
    client_from_row,
    json_text,
    session_from_row,
    session_values,
    user_from_row,
)
from tokenstile.tokens.model import (
    AudiencePolicy,
    AuditEvent,
    Client,
    KioskShift,
    RefreshLookup,
    RefreshToken,
    Session,
    ShiftGrant,
    User,
)

# A session revoked for one of these reasons ends its person's shift grants too (tap-and-go):
# an admin ended it, the person was disabled, or the credential was revoked or suspended.
SHIFT_ENDING_REASONS = frozenset(
    {"admin", "user_disabled", "credential_revoked", "credential_suspended"}
)

_succ = aliased(t.refresh_tokens, name="succ")
# Built once: the refresh grant runs this on every request.
_FIND_REFRESH = (
    select(
        t.refresh_tokens.c.id,
        t.refresh_tokens.c.client_id.label("rt_client_id"),
        t.refresh_tokens.c.created_at.label("rt_created_at"),
        t.refresh_tokens.c.used_at,
        t.refresh_tokens.c.successor_id,
        t.refresh_tokens.c.superseded_at,
        *t.sessions.c,
        t.users.c.username,
        t.users.c.display_name,
        t.users.c.is_admin,
        t.users.c.enabled,
        _succ.c.used_at.label("succ_used_at"),
        _succ.c.superseded_at.label("succ_superseded_at"),
        _succ.c.created_at.label("succ_created_at"),
    )
    .select_from(
        t.refresh_tokens.join(t.sessions, t.sessions.c.sid == t.refresh_tokens.c.sid)
        .join(t.users, t.users.c.id == t.sessions.c.user_id)
        .outerjoin(_succ, _succ.c.id == t.refresh_tokens.c.successor_id)
    )
    .where(t.refresh_tokens.c.token_hash == bindparam("token_hash"))
)


_rt = t.refresh_tokens
_INSERT_REFRESH = insert(_rt)
_CLAIM_REFRESH = (
    update(_rt)
    .where(_rt.c.id == bindparam("tid"), _rt.c.used_at.is_(None), _rt.c.superseded_at.is_(None))
    .values(used_at=bindparam("at"), successor_id=bindparam("succ"))
)
_SUPERSEDE_REFRESH = (
    update(_rt)
    .where(_rt.c.id == bindparam("tid"), _rt.c.used_at.is_(None), _rt.c.superseded_at.is_(None))
    .values(superseded_at=bindparam("at"))
)
_RELINK_REFRESH = (
    update(_rt).where(_rt.c.id == bindparam("tid")).values(successor_id=bindparam("succ"))
)
_TOUCH_SESSION = (
    update(t.sessions)
    .where(t.sessions.c.sid == bindparam("the_sid"))
    .values(last_used_at=bindparam("at"))
)
_INSERT_AUDIT = insert(t.audit)
_SELECT_AUDIENCES = select(t.audiences)
_PURGE_DPOP_REPLAY = t.dpop_replay.delete().where(t.dpop_replay.c.expires_at < bindparam("now"))
# A proof seen before makes the INSERT do nothing (and return no row) instead of failing
# the transaction, which may hold other callers' work (group commit). RETURNING, as
# psycopg reports no row count for it.
_INSERT_DPOP_REPLAY = {
    "sqlite": sqlite_insert(t.dpop_replay)
    .on_conflict_do_nothing()
    .returning(t.dpop_replay.c.key_hash),
    "postgresql": postgresql_insert(t.dpop_replay)
    .on_conflict_do_nothing()
    .returning(t.dpop_replay.c.key_hash),
}


class _HotStatement:
    """A statement of the refresh grant, run on the driver's own cursor.

    SQLAlchemy's execution machinery costs ~40 us a statement, more than SQLite takes to
    run it; the refresh grant runs five. The statement is compiled once per dialect and
    executed inside the same transaction, on the same connection, as everything else.
    """

    __slots__ = ("_compiled", "_statement")

    def __init__(self, statement: Any) -> None:
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None]] = {}

    def execute(self, conn: Connection, params: dict[str, Any]) -> Any:
        dialect = conn.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            done = self._statement.compile(dialect=dialect)
            order = tuple(done.positiontup) if done.positional else None
            compiled = self._compiled[dialect.name] = (str(done), order)
        sql, order = compiled
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        values = tuple(params[name] for name in order) if order else params
        try:
            cursor.execute(sql, values)
        except dialect.loaded_dbapi.Error as exc:
            # Wrapped as SQLAlchemy would have, so ``transaction()`` maps a full or
            # read-only disk (or a lost server) to StoreUnavailable, not a 500.
            raise DBAPIError.instance(
                sql, values, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        return cursor


_HOT_FIND_REFRESH = _HotStatement(_FIND_REFRESH)
_HOT_SIGNING_KEY_STORED = _HotStatement(
    select(t.signing_keys.c.kid).where(t.signing_keys.c.kid == bindparam("kid"))
)
_HOT_INSERT_REFRESH = _HotStatement(
    insert(_rt)
    .values(
        {c: bindparam(c) for c in ("token_hash", "sid", "client_id", "parent_id", "created_at")}
    )
    .returning(_rt.c.id)
)
_HOT_CLAIM_REFRESH = _HotStatement(_CLAIM_REFRESH)
_HOT_TOUCH_SESSION = _HotStatement(_TOUCH_SESSION)
_HOT_INSERT_AUDIT = _HotStatement(
    # Every column but the id, as ``schema.audit`` names them.
    _INSERT_AUDIT.values({c.name: bindparam(c.name) for c in t.audit.c if not c.primary_key})
)
_FIND_REFRESH_COLUMNS = tuple(c.name for c in _FIND_REFRESH.selected_columns)
# What ``SqlTx.end_session`` needs to know of a session: select from this and filter.
SESSION_ROWS = select(
    t.sessions.c.sid, t.sessions.c.client_id, t.sessions.c.factor, t.users.c.username
).select_from(t.sessions.join(t.users, t.users.c.id == t.sessions.c.user_id))


class SqlTx:
    """``TokenTx`` over one SQLAlchemy connection inside a transaction."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def connection(self) -> Connection:
        return self._conn

    # refresh tokens
    def find_refresh(self, token_hash: bytes) -> RefreshLookup | None:
        found = _HOT_FIND_REFRESH.execute(self._conn, {"token_hash": token_hash}).fetchone()
        if found is None:
            return None
        row = dict(zip(_FIND_REFRESH_COLUMNS, found, strict=True))
        token = RefreshToken(
            id=row["id"],
            sid=row["sid"],
            client_id=row["rt_client_id"],
            created_at=row["rt_created_at"],
            used_at=row["used_at"],
            successor_id=row["successor_id"],
            superseded_at=row["superseded_at"],
        )
        successor = None
        if row["successor_id"] is not None:
            successor = RefreshToken(
                id=row["successor_id"],
                sid=row["sid"],
                client_id=row["rt_client_id"],
                created_at=row["succ_created_at"],
                used_at=row["succ_used_at"],
                successor_id=None,
                superseded_at=row["succ_superseded_at"],
            )
        user = User(
            row["user_id"],
            row["username"],
            row["display_name"],
            bool(row["is_admin"]),
            bool(row["enabled"]),
        )
        return RefreshLookup(token, session_from_row(row), user, successor)

    def add_refresh(
        self, *, token_hash: bytes, sid: str, client_id: str, parent_id: int | None, at: float
    ) -> int:
        cursor = _HOT_INSERT_REFRESH.execute(
            self._conn,
            {
                "token_hash": token_hash,
                "sid": sid,
                "client_id": client_id,
                "parent_id": parent_id,
                "created_at": at,
            },
        )
        return int(cursor.fetchone()[0])

    def claim_refresh(self, token_id: int, *, successor_id: int, at: float) -> bool:
        cursor = _HOT_CLAIM_REFRESH.execute(
            self._conn, {"tid": token_id, "at": at, "succ": successor_id}
        )
        return bool(cursor.rowcount == 1)

    def supersede_refresh(self, token_id: int, *, at: float) -> bool:
        return self._conn.execute(_SUPERSEDE_REFRESH, {"tid": token_id, "at": at}).rowcount == 1

    def relink_refresh(self, token_id: int, *, successor_id: int) -> None:
        self._conn.execute(_RELINK_REFRESH, {"tid": token_id, "succ": successor_id})

    def retire_refresh(self, token_id: int, *, at: float) -> None:
        self._conn.execute(update(_rt).where(_rt.c.id == token_id).values(superseded_at=at))

    # sessions
    def add_session(self, session: Session) -> None:
        self._conn.execute(insert(t.sessions).values(session_values(session)))

    def get_session(self, sid: str) -> Session | None:
        row = self._conn.execute(select(t.sessions).where(t.sessions.c.sid == sid)).mappings()
        first = row.first()
        return session_from_row(first) if first is not None else None

    def touch_session(self, sid: str, *, at: float) -> None:
        _HOT_TOUCH_SESSION.execute(self._conn, {"the_sid": sid, "at": at})

    def revoke_session(self, sid: str, *, at: float, reason: str) -> bool:
        s = t.sessions
        result = self._conn.execute(
            update(s)
            .where(s.c.sid == sid, s.c.revoked_at.is_(None))
            .values(revoked_at=at, revoke_reason=reason)
        )
        if result.rowcount != 1:
            return False
        # The app sessions under it end with it; back-channel logouts are queued.
        for child in end_under(self._conn, sid, at=at, reason=reason):
            self.audit(
                AuditEvent(
                    "session_revoked",
                    "success",
                    username=child.username,
                    client_id=child.client_id,
                    sid=child.sid,
                    factor=child.factor,
                    detail={"by": "provider session", "reason": reason, "provider_sid": sid},
                ),
                at=at,
            )
        return True

    def park_session(self, sid: str, *, at: float, until: float) -> bool:
        s = t.sessions
        result = self._conn.execute(
            update(s)
            .where(s.c.sid == sid, s.c.revoked_at.is_(None), s.c.parked_until.is_(None))
            .values(parked_at=at, parked_until=until)
        )
        return bool(result.rowcount == 1)

    def unpark_session(self, sid: str, *, at: float) -> bool:
        s = t.sessions
        result = self._conn.execute(
            update(s)
            .where(s.c.sid == sid, s.c.revoked_at.is_(None), s.c.parked_until > at)
            .values(parked_at=None, parked_until=None, last_used_at=at)
        )
        return bool(result.rowcount == 1)

    def end_sessions_of(
        self, credential: str, *, reason: str, by: str, origin: str | None, at: float
    ) -> int:
        """Revoke every session ``credential`` (``credential_ref``) opened that is not
        revoked yet, each with its ``session_revoked`` audit row; how many it revoked.
        Run inside the transaction that revokes or suspends the credential itself."""
        s = t.sessions
        rows = self._conn.execute(
            SESSION_ROWS.where(s.c.credential == credential, s.c.revoked_at.is_(None)).order_by(
                s.c.sid
            )
        ).all()
        # The shift grants it made end with it, even when their sessions ended long ago.
        self.end_shift_grants(reason=reason, at=at, credential=credential)
        return sum(
            self.end_session(row, reason=reason, by=by, origin=origin, at=at, credential=credential)
            for row in rows
        )

    def end_session(
        self,
        row: Row[*tuple[Any, ...]],
        *,
        reason: str,
        by: str,
        origin: str | None,
        at: float,
        credential: str | None = None,
    ) -> bool:
        """Revoke one session (a row of ``SESSION_ROWS``) with its ``session_revoked``
        audit row (``by``: who ended it; ``credential``: the credential whose revocation
        ended it); False when it was revoked already."""
        if not self.revoke_session(row.sid, at=at, reason=reason):
            return False
        if reason in SHIFT_ENDING_REASONS:
            user_id = self._conn.execute(
                select(t.users.c.id).where(t.users.c.username == row.username)
            ).scalar_one()
            self.end_shift_grants(reason=reason, at=at, user_id=user_id)
        detail = {"by": by, "reason": reason}
        if credential is not None:
            detail["credential"] = credential
        self.audit(
            AuditEvent(
                "session_revoked",
                "success",
                username=row.username,
                client_id=row.client_id,
                sid=row.sid,
                factor=row.factor,
                origin=origin,
                detail=detail,
            ),
            at=at,
        )
        return True

    # tap-and-go: kiosk groups and shift grants (``store.shift_repository``)
    def kiosk_shift(self, client_id: str) -> KioskShift | None:
        return shifts.kiosk_shift(self._conn, client_id)

    def shift_grants_of(self, user_id: int) -> list[ShiftGrant]:
        return shifts.shift_grants_of(self._conn, user_id)

    def renew_shift_grant(
        self, *, user_id: int, group: str, credential: str, sid: str, at: float, expires_at: float
    ) -> None:
        shifts.renew_shift_grant(
            self._conn,
            user_id=user_id,
            group=group,
            credential=credential,
            sid=sid,
            at=at,
            expires_at=expires_at,
        )

    def end_shift_grants(
        self,
        *,
        reason: str,
        at: float,
        user_id: int | None = None,
        group: str | None = None,
        credential: str | None = None,
    ) -> int:
        """End the live grants that match, with a ``shift_grant_ended`` audit row each."""
        ended = shifts.end_shift_grants(
            self._conn, reason=reason, at=at, user_id=user_id, group=group, credential=credential
        )
        for username, group_name in ended:
            self.audit(
                AuditEvent(
                    "shift_grant_ended",
                    "info",
                    username=username,
                    detail={"group": group_name, "reason": reason},
                ),
                at=at,
            )
        return len(ended)

    # opaque access tokens
    def add_opaque_token(
        self, *, token_hash: bytes, sid: str, claims: dict[str, Any], expires_at: float
    ) -> None:
        self._conn.execute(
            insert(t.opaque_tokens).values(
                token_hash=token_hash, sid=sid, claims=json_text(claims), expires_at=expires_at
            )
        )

    def find_opaque_token(self, token_hash: bytes) -> tuple[dict[str, Any], str] | None:
        row = self._conn.execute(
            select(t.opaque_tokens.c.claims, t.opaque_tokens.c.sid).where(
                t.opaque_tokens.c.token_hash == token_hash
            )
        ).first()
        if row is None:
            return None
        return json.loads(row.claims), row.sid

    def delete_opaque_token(self, token_hash: bytes) -> bool:
        ot = t.opaque_tokens
        done = self._conn.execute(ot.delete().where(ot.c.token_hash == token_hash))
        return bool(done.rowcount)

    # access tokens revoked alone (their session lives)
    def revoke_access_token(self, jti: str, *, sid: str, expires_at: float, at: float) -> bool:
        conn = self._conn
        r = t.revoked_access_tokens
        row = {"jti": jti, "sid": sid, "expires_at": expires_at, "revoked_at": at}
        if conn.dialect.name == "sqlite":
            done = conn.execute(
                sqlite_insert(r).values(row).on_conflict_do_nothing().returning(r.c.jti)
            )
        elif conn.dialect.name == "postgresql":
            done = conn.execute(
                postgresql_insert(r).values(row).on_conflict_do_nothing().returning(r.c.jti)
            )
        else:  # pragma: no cover - the store supports these two only
            raise StoreError(
                f"Token revocation needs SQLite or PostgreSQL, not {conn.dialect.name}."
            )
        return done.first() is not None

    def access_token_revoked(self, jti: str) -> bool:
        r = t.revoked_access_tokens
        return self._conn.execute(select(r.c.jti).where(r.c.jti == jti)).first() is not None

    # users, clients, audiences
    def get_user(self, user_id: int) -> User | None:
        row = self._conn.execute(select(t.users).where(t.users.c.id == user_id)).first()
        return user_from_row(row) if row is not None else None

    def user_has_role(self, user_id: int, role: str) -> bool:
        r = t.user_roles
        found = select(r.c.role).where(r.c.user_id == user_id, r.c.role == role)
        return self._conn.execute(found).first() is not None

    def get_user_by_name(self, username: str) -> User | None:
        row = self._conn.execute(select(t.users).where(t.users.c.username == username)).first()
        return user_from_row(row) if row is not None else None

    def require_user(self, username: str) -> User:
        """The person by name, or ``NotFound``."""
        user = self.get_user_by_name(username)
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        return user

    def get_client(self, client_id: str) -> Client | None:
        row = self._conn.execute(
            select(t.clients).where(t.clients.c.client_id == client_id)
        ).first()
        return client_from_row(row) if row is not None else None

    def get_audience(self, audience: str) -> AudiencePolicy | None:
        row = self._conn.execute(
            select(t.audiences).where(t.audiences.c.audience == audience)
        ).first()
        return audience_from_row(row) if row is not None else None

    def audiences(self) -> list[AudiencePolicy]:
        return [audience_from_row(row) for row in self._conn.execute(_SELECT_AUDIENCES)]

    # DPoP proofs seen (replay protection shared by every replica)
    def remember_dpop_proof(self, key: bytes, *, expires_at: float, now: float) -> bool:
        conn = self._conn
        conn.execute(_PURGE_DPOP_REPLAY, {"now": now})
        insert_new = _INSERT_DPOP_REPLAY.get(conn.dialect.name)
        if insert_new is None:  # pragma: no cover - the store supports these two only
            raise StoreError(
                f"DPoP replay records need SQLite or PostgreSQL, not {conn.dialect.name}."
            )
        done = conn.execute(insert_new, {"key_hash": key, "expires_at": expires_at})
        return done.first() is not None

    # signing keys
    def signing_key_trusted(self, kid: str) -> bool:
        """Whether the key ``kid`` is still stored: ``rotate-keys --compromised`` deletes
        the keys it distrusts, so a replica whose key ring is older learns it here."""
        return _HOT_SIGNING_KEY_STORED.execute(self._conn, {"kid": kid}).fetchone() is not None

    # audit
    def audit(self, event: AuditEvent, *, at: float) -> None:
        row = {
            "at": at,
            "event": event.event,
            "outcome": event.outcome,
            "username": event.username,
            "client_id": event.client_id,
            "sid": event.sid,
            "factor": event.factor,
            "origin": event.origin[:256] if event.origin else None,
            "detail": json_text(event.detail),
        }
        _HOT_INSERT_AUDIT.execute(self._conn, row)
        audit_feed.note(self._conn, row)
