"""Temporary access codes in ``access_codes`` (``factors.access_code``): issue and redeem.

Issuing a code for a person ends their earlier codes that are still live (one code in
circulation per person), and is audited (``access_code_issued``, never the code). A
redemption finds the person's live codes, checks the typed code against each hash, and
spends one use in one conditional UPDATE (``uses_left > 0`` and still live), so a code
with one use left cannot open two sessions even when two kiosks race on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, select, true, update

from tokenstile.clock import Clock
from tokenstile.errors import InvalidRequest, NotFound
from tokenstile.factors.access_code import (
    check_lifetime,
    code_matches,
    hash_code,
    new_code,
    normalize,
)
from tokenstile.store import schema as t
from tokenstile.store.repository import Store
from tokenstile.tokens.model import AuditEvent, User


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A new code: ``code`` is shown once and never stored."""

    username: str
    code: str
    expires_at: float
    uses: int
    replaced: int  # earlier live codes this one ended

    def to_json(self) -> dict[str, object]:
        return {
            "username": self.username,
            "code": self.code,
            "expires_at": self.expires_at,
            "uses": self.uses,
            "replaced": self.replaced,
        }


def _live(now: float) -> tuple[ColumnElement[bool], ...]:
    a = t.access_codes
    return (a.c.revoked_at.is_(None), a.c.expires_at > now, a.c.uses_left > 0)


class AccessCodeRepository:
    def __init__(self, store: Store, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def issue(
        self, username: str, *, hours: float, uses: int, by: str, origin: str | None
    ) -> IssuedCode:
        """A new code for ``username``; ``NotFound`` for an unknown person,
        ``InvalidRequest`` for a disabled one or a lifetime or a number of uses out of
        bounds."""
        check_lifetime(hours, uses)
        now = self._clock.now()
        code = new_code()
        stored = hash_code(code)
        expires_at = now + hours * 3600.0
        a, u = t.access_codes, t.users
        with self._store.write() as tx:
            conn = tx.connection
            person = conn.execute(
                select(u.c.id, u.c.enabled).where(u.c.username == username)
            ).first()
            if person is None:
                raise NotFound(f"No person named {username!r}.")
            if not person.enabled:
                raise InvalidRequest(f"{username} is disabled: enable them first.")
            user_id = person.id
            replaced = conn.execute(
                update(a).where(a.c.user_id == user_id, *_live(now)).values(revoked_at=now)
            ).rowcount
            conn.execute(
                a.insert().values(
                    user_id=user_id,
                    code_hash=stored,
                    created_at=now,
                    expires_at=expires_at,
                    uses=uses,
                    uses_left=uses,
                    issued_by=by[:200],
                )
            )
            tx.audit(
                AuditEvent(
                    "access_code_issued",
                    "info",
                    username=username,
                    factor="tac",
                    origin=origin,
                    detail={
                        "by": by,
                        "hours": hours,
                        "uses": uses,
                        "expires_at": expires_at,
                        "replaced": replaced,
                    },
                ),
                at=now,
            )
        return IssuedCode(username, code, expires_at, uses, replaced)

    def find(
        self, username: str, typed: str, *, client_id: str | None, origin: str | None
    ) -> tuple[User, int, float] | None:
        """The person, the id and the end of the live code of theirs that ``typed`` is; None
        otherwise (unknown or disabled person, no live code, wrong, expired or used-up
        code), audited as a failed ``tac`` login. Always at least one hash."""
        now = self._clock.now()
        plain = normalize(typed)
        a = t.access_codes
        with self._store.read() as tx:
            user = tx.get_user_by_name(username)
            rows = (
                tx.connection.execute(
                    select(a.c.id, a.c.code_hash, a.c.expires_at).where(
                        a.c.user_id == user.id, *_live(now)
                    )
                ).all()
                if user is not None and user.enabled
                else []
            )
        matched = [row for row in rows if code_matches(plain, row.code_hash)]
        if not rows:
            code_matches(plain, None)  # the same time as a wrong code
        if user is None or not matched:
            self.refused(username, "code_not_valid", client_id=client_id, origin=origin)
            return None
        return user, int(matched[0].id), float(matched[0].expires_at)

    def refused(
        self, username: str, reason: str, *, client_id: str | None, origin: str | None
    ) -> None:
        self._store.audit(
            AuditEvent(
                "login",
                "failure",
                username=username,
                client_id=client_id,
                factor="tac",
                origin=origin,
                detail={"reason": reason},
            ),
            at=self._clock.now(),
        )


def spend(conn: Connection, code_id: int, *, now: float) -> int | None:
    """Spend one use of the code ``code_id`` if it is still live, in the caller's
    transaction (the one that opens the session); the uses left, or None."""
    a = t.access_codes
    spent = conn.execute(
        update(a)
        .where(a.c.id == code_id, *_live(now))
        .values(uses_left=a.c.uses_left - 1)
        .returning(a.c.uses_left)
    ).first()
    return None if spent is None else int(spent.uses_left)


def any_live_code(store: Store, *, now: float) -> bool:
    """Whether some enabled person holds a code that still works (the kiosk then offers
    its code screen even where nobody has a fob: ``GET /login/factors`` says ``tac``)."""
    a, u = t.access_codes, t.users
    probe = (
        select(a.c.id)
        .select_from(a.join(u, u.c.id == a.c.user_id))
        .where(u.c.enabled == true(), *_live(now))
        .limit(1)
    )
    with store.read() as tx:
        return tx.connection.execute(probe).first() is not None
