"""What the admin console reads and changes about people, sessions and the audit log.

Every change is one transaction with its audit rows in it. Disabling a person also
revokes each of their sessions that is not revoked yet (reason ``user_disabled``, one
``session_revoked`` row each), so a refresh token of theirs stops working even if they
are enabled again later.

The audit log is read newest first in keyset pages (``id < before_id``): a page costs
the same however deep it is, and rows written meanwhile never shift it. An export
walks the same pages, each in its own short read transaction, so it never holds the
whole log in memory nor a transaction open while the client downloads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Row, RowMapping, Table, and_, func, or_, select, true, update

from tokenstile.clock import Clock
from tokenstile.errors import NotFound, StoreError
from tokenstile.protocol.roles import Role
from tokenstile.store import schema as t
from tokenstile.store.repository import Store
from tokenstile.store.token_tx import SESSION_ROWS, SqlTx
from tokenstile.tokens.directory import directory_by
from tokenstile.tokens.model import AuditEvent

FACTOR_KINDS = ("fido2", "piv", "otp")
# What counts as a credential a person holds (anything an admin may still revoke) ...
_HELD_STATES: Mapping[str, tuple[str, ...]] = {
    "fido2": ("active", "suspended"),
    "piv": ("active",),
    "otp": ("pending", "active", "locked"),
}
# ... and what a login can use right now.
_USABLE_STATES: Mapping[str, tuple[str, ...]] = {
    "fido2": ("active",),
    "piv": ("active",),
    "otp": ("active",),
}
_TABLES: Mapping[str, Table] = {
    "fido2": t.webauthn_credentials,
    "piv": t.piv_cards,
    "otp": t.otp_credentials,
}
EXPORT_BATCH = 500


class AdminConflict(StoreError):
    """The change contradicts the current state (a name taken, disabling oneself)."""

    code = "admin_conflict"


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonInfo:
    username: str
    display_name: str
    is_admin: bool
    enabled: bool
    created_at: float
    factors: Mapping[str, int]
    directory: str | None = None  # the LDAP directory or SCIM client managing them

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "display_name": self.display_name,
            "is_admin": self.is_admin,
            "enabled": self.enabled,
            "created_at": self.created_at,
            "factors": dict(self.factors),
            "directory": self.directory,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionInfo:
    sid: str
    username: str
    client_id: str
    factor: str
    acr: str
    amr: tuple[str, ...]
    created_at: float
    last_used_at: float
    expires_at: float
    idle_expires_at: float
    revoked_at: float | None
    revoke_reason: str | None
    active: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "username": self.username,
            "client_id": self.client_id,
            "factor": self.factor,
            "acr": self.acr,
            "amr": list(self.amr),
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "expires_at": self.expires_at,
            "idle_expires_at": self.idle_expires_at,
            "revoked_at": self.revoked_at,
            "revoke_reason": self.revoke_reason,
            "active": self.active,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    """Which audit rows to read; ``since`` inclusive, ``until`` exclusive (epoch seconds)."""

    username: str | None = None
    event: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        a = t.audit
        found: list[ColumnElement[bool]] = []
        if self.username is not None:
            found.append(a.c.username == self.username)
        if self.event is not None:
            found.append(a.c.event == self.event)
        if self.outcome is not None:
            found.append(a.c.outcome == self.outcome)
        if self.since is not None:
            found.append(a.c.at >= self.since)
        if self.until is not None:
            found.append(a.c.at < self.until)
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditPage:
    events: list[dict[str, Any]] = field(default_factory=list)
    next_before_id: int | None = None


def _detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:  # written by hand into the database: show it, don't fail
        return {"text": text}
    return value if isinstance(value, dict) else {"value": value}


def _audit_entry(m: RowMapping) -> dict[str, Any]:
    return {
        "id": int(m["id"]),
        "at": float(m["at"]),
        "event": m["event"],
        "outcome": m["outcome"],
        "username": m["username"],
        "client_id": m["client_id"],
        "sid": m["sid"],
        "factor": m["factor"],
        "origin": m["origin"],
        "detail": _detail(m["detail"]),
    }


def _count_of(kind: str, states: Mapping[str, tuple[str, ...]]) -> Any:
    table, u = _TABLES[kind], t.users
    return (
        select(func.count())
        .select_from(table)
        .where(table.c.user_id == u.c.id, table.c.state.in_(states[kind]))
        .correlate(u)
        .scalar_subquery()
        .label(f"n_{kind}")
    )


_PERSON_COLUMNS = (
    t.users.c.username,
    t.users.c.display_name,
    t.users.c.is_admin,
    t.users.c.enabled,
    t.users.c.created_at,
    t.users.c.directory,
    *(_count_of(kind, _HELD_STATES) for kind in FACTOR_KINDS),
)


def _person(row: Row[Any]) -> PersonInfo:
    m = row._mapping
    return PersonInfo(
        username=m["username"],
        display_name=m["display_name"],
        is_admin=bool(m["is_admin"]),
        enabled=bool(m["enabled"]),
        created_at=float(m["created_at"]),
        factors={kind: int(m[f"n_{kind}"]) for kind in FACTOR_KINDS},
        directory=m["directory"],
    )


def _live(now: float) -> ColumnElement[bool]:
    """A session a refresh would still accept at ``now`` (see ``RefreshGrant.refresh``)."""
    s = t.sessions
    return and_(
        s.c.revoked_at.is_(None), s.c.expires_at > now, s.c.last_used_at + s.c.idle_timeout > now
    )


class DirectoryOwned(AdminConflict):
    """A local edit of what a directory decides about a person it manages (issue 18)."""

    code = "directory_owned"


def last_disabled_by(tx: SqlTx, usernames: Sequence[str]) -> dict[str, str]:
    """Who (``detail.by``) made the latest enable/disable of each of ``usernames`` that is
    a disable: the people whose latest such change disabled them."""
    a = t.audit
    found: dict[str, str] = {}
    for start in range(0, len(usernames), 500):
        rows = tx.connection.execute(
            select(a.c.username, a.c.event, a.c.detail)
            .where(
                a.c.username.in_(usernames[start : start + 500]),
                a.c.event.in_(("user_enabled", "user_disabled")),
            )
            .order_by(a.c.id)
        ).all()
        for row in rows:
            if row.event == "user_disabled":
                found[row.username] = str(_detail(row.detail).get("by", ""))
            else:
                found.pop(row.username, None)
    return found


def refuse_enable_of_directory_disabled(tx: SqlTx, username: str, directory: str) -> None:
    """A person a directory disabled is enabled in the directory, not here: the next sync
    would disable them again. (A person an admin disabled locally may be enabled again.)"""
    # An LDAP sync signs its rows "directory NAME"; a SCIM client signs them with the
    # person's own marker, "scim:NAME".
    if last_disabled_by(tx, [username]).get(username) in (directory_by(directory), directory):
        raise DirectoryOwned(
            f"{username} is managed by the directory {directory!r}, which disabled them: "
            f"enable them in {directory!r}, and the next sync enables them here."
        )


def set_enabled_in(
    tx: SqlTx, user_id: int, username: str, enabled: bool, *, by: str, origin: str | None, at: float
) -> list[str]:
    """Enable or disable one person inside ``tx``; disabling revokes each of their open
    sessions (queueing back-channel logouts) and ends their shift grants. The ids of the
    sessions this revoked."""
    u, s = t.users, t.sessions
    conn = tx.connection
    conn.execute(update(u).where(u.c.id == user_id).values(enabled=enabled))
    revoked: list[str] = []
    if not enabled:
        open_sessions = conn.execute(
            SESSION_ROWS.where(s.c.user_id == user_id, s.c.revoked_at.is_(None))
        ).all()
        revoked = [
            row.sid
            for row in open_sessions
            if tx.end_session(row, reason="user_disabled", by=by, origin=origin, at=at)
        ]
        tx.end_shift_grants(reason="user_disabled", at=at, user_id=user_id)
    detail: dict[str, Any] = {"by": by}
    if not enabled:
        detail["sessions_revoked"] = len(revoked)
    tx.audit(
        AuditEvent(
            "user_enabled" if enabled else "user_disabled",
            "info",
            username=username,
            origin=origin,
            detail=detail,
        ),
        at=at,
    )
    return revoked


class AdminRepository:
    """People, sessions and the audit log, for the admin HTTP API."""

    def __init__(self, store: Store, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    # -- people -------------------------------------------------------------------------

    def people(
        self, *, query: str | None, include_disabled: bool, limit: int, offset: int
    ) -> tuple[list[PersonInfo], int]:
        """One page of people by username, and how many match in all."""
        u = t.users
        where: list[ColumnElement[bool]] = []
        if query:
            where.append(
                or_(
                    u.c.username.icontains(query, autoescape=True),
                    u.c.display_name.icontains(query, autoescape=True),
                )
            )
        if not include_disabled:
            where.append(u.c.enabled == true())
        page = select(*_PERSON_COLUMNS).where(*where).order_by(u.c.username)
        total = select(func.count()).select_from(u).where(*where)
        with self._store.read() as tx:
            conn = tx.connection
            rows = conn.execute(page.limit(limit).offset(offset)).all()
            count = int(conn.execute(total).scalar_one())
        return [_person(r) for r in rows], count

    def person(self, username: str) -> PersonInfo:
        with self._store.read() as tx:
            return self._person(tx, username)

    @staticmethod
    def _person(tx: SqlTx, username: str) -> PersonInfo:
        row = tx.connection.execute(
            select(*_PERSON_COLUMNS).where(t.users.c.username == username)
        ).first()
        if row is None:
            raise NotFound(f"No person named {username!r}.")
        return _person(row)

    def add_person(
        self, username: str, *, display_name: str, is_admin: bool, by: str, origin: str | None
    ) -> PersonInfo:
        if self._store.find_user(username) is not None:
            raise AdminConflict(f"The username {username!r} is taken.")
        try:
            self._store.add_user(
                username,
                display_name=display_name,
                is_admin=is_admin,
                at=self._clock.now(),
                audit=AuditEvent(
                    "user_added",
                    "info",
                    username=username,
                    origin=origin,
                    detail={"admin": is_admin, "by": by},
                ),
            )
        except StoreError as exc:  # taken by a concurrent request since the check
            if self._store.find_user(username) is not None:
                raise AdminConflict(f"The username {username!r} is taken.") from exc
            raise
        return self.person(username)

    def set_enabled(
        self, username: str, enabled: bool, *, by: str, origin: str | None
    ) -> tuple[PersonInfo, list[str]]:
        """Enable or disable a person; disabling revokes their sessions. Returns the
        person and the ids of the sessions this revoked."""
        now = self._clock.now()
        u = t.users
        with self._store.write() as tx:
            conn = tx.connection
            found = conn.execute(
                select(u.c.id, u.c.directory).where(u.c.username == username)
            ).first()
            if found is None:
                raise NotFound(f"No person named {username!r}.")
            if enabled and found.directory is not None:
                refuse_enable_of_directory_disabled(tx, username, found.directory)
            revoked = set_enabled_in(tx, found.id, username, enabled, by=by, origin=origin, at=now)
            return self._person(tx, username), revoked

    def set_role(
        self, username: str, role: str, granted: bool, *, by: str, origin: str | None
    ) -> list[str]:
        """Give (``granted``) or take a role; the person's roles after it."""
        now = self._clock.now()
        u, r = t.users, t.user_roles
        with self._store.write() as tx:
            conn = tx.connection
            user_id = conn.execute(select(u.c.id).where(u.c.username == username)).scalar()
            if user_id is None:
                raise NotFound(f"No person named {username!r}.")
            held = conn.execute(
                select(r.c.role).where(r.c.user_id == user_id, r.c.role == role)
            ).first()
            if granted and held is None:
                conn.execute(r.insert().values(user_id=user_id, role=role, granted_at=now))
            elif not granted and held is not None:
                conn.execute(r.delete().where(r.c.user_id == user_id, r.c.role == role))
            if role == Role.ADMIN:  # users.is_admin mirrors the role (store.roles)
                conn.execute(update(u).where(u.c.id == user_id).values(is_admin=granted))
            tx.audit(
                AuditEvent(
                    "role_granted" if granted else "role_removed",
                    "info",
                    username=username,
                    origin=origin,
                    detail={"by": by, "role": role},
                ),
                at=now,
            )
            roles = conn.execute(select(r.c.role).where(r.c.user_id == user_id)).scalars()
            return sorted(roles)

    # -- sessions ---------------------------------------------------------------------

    def sessions(self, *, username: str | None, active_only: bool, limit: int) -> list[SessionInfo]:
        """Sessions, newest first."""
        now = self._clock.now()
        s, u = t.sessions, t.users
        stmt = select(s, u.c.username).select_from(s.join(u, u.c.id == s.c.user_id))
        if username is not None:
            stmt = stmt.where(u.c.username == username)
        if active_only:
            stmt = stmt.where(_live(now))
        stmt = stmt.order_by(s.c.created_at.desc(), s.c.sid).limit(limit)
        with self._store.read() as tx:
            rows = tx.connection.execute(stmt).mappings().all()
        found = []
        for m in rows:
            idle_end = float(m["last_used_at"]) + float(m["idle_timeout"])
            found.append(
                SessionInfo(
                    sid=m["sid"],
                    username=m["username"],
                    client_id=m["client_id"],
                    factor=m["factor"],
                    acr=m["acr"],
                    amr=tuple(json.loads(m["amr"])),
                    created_at=float(m["created_at"]),
                    last_used_at=float(m["last_used_at"]),
                    expires_at=float(m["expires_at"]),
                    idle_expires_at=idle_end,
                    revoked_at=m["revoked_at"],
                    revoke_reason=m["revoke_reason"],
                    active=m["revoked_at"] is None and now < m["expires_at"] and now < idle_end,
                )
            )
        return found

    def revoke_session(self, sid: str, *, by: str, origin: str | None) -> bool:
        """Revoke one session; False when it was revoked already."""
        now = self._clock.now()
        with self._store.write() as tx:
            row = tx.connection.execute(SESSION_ROWS.where(t.sessions.c.sid == sid)).first()
            if row is None:
                raise NotFound("No session has this id.")
            return tx.end_session(row, reason="admin", by=by, origin=origin, at=now)

    # -- the audit log ----------------------------------------------------------------

    def audit_page(
        self, where: AuditFilter, *, limit: int, before_id: int | None = None
    ) -> AuditPage:
        """Up to ``limit`` rows older than ``before_id``, newest first; ``next_before_id``
        is None when no older row matches."""
        rows = self._audit_rows(where, limit + 1, before_id)
        more = len(rows) > limit
        events = [_audit_entry(m) for m in rows[:limit]]
        return AuditPage(events=events, next_before_id=events[-1]["id"] if more else None)

    def audit_export(
        self, where: AuditFilter, *, before_id: int | None = None, batch: int = EXPORT_BATCH
    ) -> Iterator[list[dict[str, Any]]]:
        """Every matching row, newest first, in batches; each batch is read when asked for."""
        while True:
            rows = self._audit_rows(where, batch, before_id)
            if not rows:
                return
            entries = [_audit_entry(m) for m in rows]
            yield entries
            if len(rows) < batch:
                return
            before_id = entries[-1]["id"]

    def _audit_rows(
        self, where: AuditFilter, limit: int, before_id: int | None
    ) -> Sequence[RowMapping]:
        a = t.audit
        conditions = where.conditions()
        if before_id is not None:
            conditions.append(a.c.id < before_id)
        stmt = select(a).where(*conditions).order_by(a.c.id.desc()).limit(limit)
        with self._store.read() as tx:
            return tx.connection.execute(stmt).mappings().all()

    def audit(self, event: AuditEvent) -> None:
        self._store.audit(event, at=self._clock.now())

    # -- what the kiosk may offer -----------------------------------------------------

    def usable_factor_kinds(self) -> set[str]:
        """The kinds with at least one usable credential (a card: not expired either) of
        an enabled person."""
        u, now = t.users, self._clock.now()
        probes = []
        for kind in FACTOR_KINDS:
            table = _TABLES[kind]
            usable = [table.c.state.in_(_USABLE_STATES[kind]), u.c.enabled == true()]
            if kind == "piv":
                usable.append(table.c.not_after > now)
            probes.append(
                select(table.c.id)
                .select_from(table.join(u, u.c.id == table.c.user_id))
                .where(*usable)
                .exists()
                .label(kind)
            )
        with self._store.read() as tx:
            row = tx.connection.execute(select(*probes)).one()
        return {kind for kind in FACTOR_KINDS if row._mapping[kind]}
