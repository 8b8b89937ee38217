"""Kiosk groups and shift grants in SQL (tap-and-go, issue 17; ``tokens.shifts``).

The statements ``SqlTx`` runs for the token service's ``TokenTx`` (a kiosk's group, a
person's grant, the live grants of a group, renewing and ending grants), and the admin
side (``KioskGroups``): groups and their shift length, which group a kiosk client is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tokenstile.clock import Clock
from tokenstile.errors import InvalidRequest, NotFound
from tokenstile.store import schema as t
from tokenstile.tokens.model import AuditEvent, KioskShift, ShiftGrant

if TYPE_CHECKING:  # the store's facade imports SqlTx, which imports this module
    from tokenstile.store.repository import Store

MAX_SHIFT_HOURS = 24.0
MAX_GROUP_NAME = 64

_g, _m, _s = t.kiosk_groups, t.kiosk_group_members, t.shift_grants
_UPSERT: dict[str, Any] = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}


def _grant(row: Row[Any]) -> ShiftGrant:
    return ShiftGrant(
        user_id=int(row.user_id),
        group=row.kiosk_group,
        credential=row.credential,
        sid=row.sid,
        created_at=float(row.created_at),
        expires_at=float(row.expires_at),
        ended_at=None if row.ended_at is None else float(row.ended_at),
        end_reason=row.end_reason,
    )


def kiosk_shift(conn: Connection, client_id: str) -> KioskShift | None:
    row = conn.execute(
        select(_g.c.name, _g.c.shift_hours)
        .select_from(_m.join(_g, _g.c.name == _m.c.kiosk_group))
        .where(_m.c.client_id == client_id)
    ).first()
    return None if row is None else KioskShift(row.name, float(row.shift_hours))


def shift_grants_of(conn: Connection, user_id: int) -> list[ShiftGrant]:
    rows = conn.execute(select(_s).where(_s.c.user_id == user_id).order_by(_s.c.id)).all()
    return [_grant(row) for row in rows]


def live_grants_of_group(
    conn: Connection, group: str, *, prefix: str, at: float, limit: int
) -> list[ShiftGrant]:
    """The live grants at ``group`` whose credential starts with ``prefix`` (``otp:``: the
    fob tap's candidates), at most ``limit`` of them, oldest first."""
    rows = conn.execute(
        select(_s)
        .where(
            _s.c.kiosk_group == group,
            _s.c.ended_at.is_(None),
            _s.c.expires_at > at,
            _s.c.credential.startswith(prefix, autoescape=True),
        )
        .order_by(_s.c.id)
        .limit(limit)
    ).all()
    return [_grant(row) for row in rows]


def renew_shift_grant(
    conn: Connection,
    *,
    user_id: int,
    group: str,
    credential: str,
    sid: str,
    at: float,
    expires_at: float,
) -> None:
    """One statement (``INSERT ... ON CONFLICT DO UPDATE``): two full sign-ins of one
    person at once, on two replicas, both leave one grant and neither fails."""
    values = {
        "credential": credential,
        "sid": sid,
        "created_at": at,
        "expires_at": expires_at,
        "ended_at": None,
        "end_reason": None,
    }
    insert_ = _UPSERT[conn.dialect.name]
    conn.execute(
        insert_(_s)
        .values(user_id=user_id, kiosk_group=group, **values)
        .on_conflict_do_update(index_elements=[_s.c.user_id, _s.c.kiosk_group], set_=values)
    )


def end_shift_grants(
    conn: Connection,
    *,
    reason: str,
    at: float,
    user_id: int | None = None,
    group: str | None = None,
    credential: str | None = None,
) -> list[tuple[str, str]]:
    """End the live grants matching every given condition; (username, group) of each."""
    conditions = [_s.c.ended_at.is_(None), _s.c.expires_at > at]
    if user_id is not None:
        conditions.append(_s.c.user_id == user_id)
    if group is not None:
        conditions.append(_s.c.kiosk_group == group)
    if credential is not None:
        conditions.append(_s.c.credential == credential)
    rows = conn.execute(
        select(_s.c.id, _s.c.kiosk_group, t.users.c.username)
        .select_from(_s.join(t.users, t.users.c.id == _s.c.user_id))
        .where(*conditions)
        .order_by(_s.c.id)
    ).all()
    if rows:
        conn.execute(
            update(_s)
            .where(_s.c.id.in_([row.id for row in rows]), _s.c.ended_at.is_(None))
            .values(ended_at=at, end_reason=reason)
        )
    return [(row.username, row.kiosk_group) for row in rows]


# -- administration ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KioskGroupInfo:
    name: str
    shift_hours: float
    kiosks: tuple[str, ...]
    live_grants: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shift_hours": self.shift_hours,
            "kiosks": list(self.kiosks),
            "live_grants": self.live_grants,
        }


def check_group_name(name: str) -> str:
    if not name or len(name) > MAX_GROUP_NAME or not name.isprintable() or name != name.strip():
        raise InvalidRequest(
            f"A kiosk group's name is 1 to {MAX_GROUP_NAME} printable characters, "
            "without leading or trailing spaces."
        )
    return name


def check_shift_hours(hours: float) -> float:
    if not 0 <= hours <= MAX_SHIFT_HOURS:
        raise InvalidRequest(f"A shift is 0 (tap-and-go off) to {MAX_SHIFT_HOURS:g} hours long.")
    return float(hours)


class KioskGroups:
    """Kiosk groups for the admin: create one or set its shift length, put a kiosk client
    in a group or take it out, list them. Each change is audited."""

    def __init__(self, store: Store, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def set_shift_hours(self, name: str, hours: float, *, by: str) -> KioskGroupInfo:
        """Create the group ``name`` or change its shift length. Turning tap-and-go off
        (0) ends the group's live grants: a tap must not outlive the setting."""
        check_group_name(name)
        check_shift_hours(hours)
        now = self._clock.now()
        with self._store.write() as tx:
            conn = tx.connection
            done = conn.execute(update(_g).where(_g.c.name == name).values(shift_hours=hours))
            if done.rowcount == 0:
                conn.execute(insert(_g).values(name=name, shift_hours=hours, created_at=now))
            ended = 0 if hours > 0 else tx.end_shift_grants(reason="tap_off", at=now, group=name)
            tx.audit(
                AuditEvent(
                    "kiosk_group_set",
                    "info",
                    detail={"by": by, "group": name, "shift_hours": hours, "ended": ended},
                ),
                at=now,
            )
            return self._info(conn, name)

    def assign(self, client_id: str, group: str | None, *, by: str) -> KioskShift | None:
        """Put the kiosk client ``client_id`` in ``group`` (None: in no group)."""
        now = self._clock.now()
        with self._store.write() as tx:
            conn = tx.connection
            kind = conn.execute(
                select(t.clients.c.kind).where(t.clients.c.client_id == client_id)
            ).scalar()
            if kind is None:
                raise NotFound(f"No client has the id {client_id!r}.")
            if kind != "kiosk":
                raise InvalidRequest(
                    f"Only a kiosk client joins a kiosk group; {client_id} is {kind}."
                )
            if (
                group is not None
                and conn.execute(select(_g.c.name).where(_g.c.name == group)).first() is None
            ):
                raise NotFound(f"No kiosk group is named {group!r}.")
            conn.execute(delete(_m).where(_m.c.client_id == client_id))
            if group is not None:
                conn.execute(insert(_m).values(client_id=client_id, kiosk_group=group))
            tx.audit(
                AuditEvent(
                    "kiosk_group_member",
                    "info",
                    client_id=client_id,
                    detail={"by": by, "group": group},
                ),
                at=now,
            )
            return kiosk_shift(conn, client_id)

    def groups(self) -> list[KioskGroupInfo]:
        with self._store.read() as tx:
            conn = tx.connection
            names = conn.execute(select(_g.c.name).order_by(_g.c.name)).scalars().all()
            return [self._info(conn, name) for name in names]

    def _info(self, conn: Connection, name: str) -> KioskGroupInfo:
        hours = conn.execute(select(_g.c.shift_hours).where(_g.c.name == name)).scalar_one()
        kiosks = conn.execute(
            select(_m.c.client_id).where(_m.c.kiosk_group == name).order_by(_m.c.client_id)
        ).scalars()
        live = conn.execute(
            select(func.count())
            .select_from(_s)
            .where(
                _s.c.kiosk_group == name,
                _s.c.ended_at.is_(None),
                _s.c.expires_at > self._clock.now(),
            )
        ).scalar_one()
        return KioskGroupInfo(name, float(hours), tuple(kiosks), int(live))
