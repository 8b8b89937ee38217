"""The OpenID Provider's records in SQL: ``CodeTx`` (``tokens.authorization_code``) and
``HandOffTx`` (``tokens.kiosk_sso``) over ``SqlTx``, and the store that opens their
transactions.

Browser sessions, authorization codes and kiosk single sign-on hand-offs are kept as
SHA-256 hashes of their random values. Claiming a code, and satisfying or claiming a
hand-off, is one conditional UPDATE whose row count says who won, so of two requests that
present the same one at once (on any replica) exactly one wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tokenstile.store import schema as t
from tokenstile.store.database import transaction
from tokenstile.store.repository import Store
from tokenstile.store.rows import session_from_row
from tokenstile.store.token_tx import SqlTx
from tokenstile.tokens.authorization_code import StoredCode
from tokenstile.tokens.kiosk_sso import HandOff
from tokenstile.tokens.model import Session

_codes = t.authorization_codes
_browser = t.browser_sessions
_handoffs = t.kiosk_sso_handoffs


class SqlCodeTx(SqlTx):
    """``CodeTx`` and ``HandOffTx``: ``SqlTx`` plus browser sessions, authorization codes
    and kiosk single sign-on hand-offs."""

    __slots__ = ()

    def add_browser_session(self, cookie_hash: bytes, *, sid: str, at: float) -> None:
        self.connection.execute(
            insert(_browser).values(cookie_hash=cookie_hash, sid=sid, created_at=at)
        )

    def browser_session(self, cookie_hash: bytes) -> Session | None:
        row = (
            self.connection.execute(
                select(t.sessions)
                .select_from(t.sessions.join(_browser, _browser.c.sid == t.sessions.c.sid))
                .where(_browser.c.cookie_hash == cookie_hash)
            )
            .mappings()
            .first()
        )
        return session_from_row(row) if row is not None else None

    def add_authorization_code(
        self,
        *,
        code_hash: bytes,
        client_id: str,
        sid: str,
        redirect_uri: str,
        code_challenge: str,
        scope: str,
        nonce: str | None,
        at: float,
        expires_at: float,
    ) -> None:
        self.connection.execute(
            insert(_codes).values(
                code_hash=code_hash,
                client_id=client_id,
                sid=sid,
                redirect_uri=redirect_uri,
                code_challenge=code_challenge,
                scope=scope,
                nonce=nonce,
                created_at=at,
                expires_at=expires_at,
            )
        )

    def find_authorization_code(self, code_hash: bytes) -> StoredCode | None:
        row = self.connection.execute(select(_codes).where(_codes.c.code_hash == code_hash)).first()
        if row is None:
            return None
        return StoredCode(
            client_id=row.client_id,
            sid=row.sid,
            redirect_uri=row.redirect_uri,
            code_challenge=row.code_challenge,
            scope=row.scope,
            nonce=row.nonce,
            created_at=row.created_at,
            expires_at=row.expires_at,
            used_at=row.used_at,
            issued_sid=row.issued_sid,
        )

    def claim_authorization_code(self, code_hash: bytes, *, at: float) -> bool:
        done = self.connection.execute(
            update(_codes)
            .where(_codes.c.code_hash == code_hash, _codes.c.used_at.is_(None))
            .values(used_at=at)
        )
        return done.rowcount == 1

    def set_code_issued_sid(self, code_hash: bytes, *, sid: str) -> None:
        self.connection.execute(
            update(_codes).where(_codes.c.code_hash == code_hash).values(issued_sid=sid)
        )

    # -- kiosk single sign-on hand-offs ---------------------------------------------------

    def count_open_handoffs(self, *, now: float) -> int:
        return int(
            self.connection.execute(
                select(func.count())
                .select_from(_handoffs)
                .where(_handoffs.c.expires_at > now, _handoffs.c.claimed.is_(False))
            ).scalar_one()
        )

    def add_handoff(
        self,
        handoff_hash: bytes,
        *,
        browser_hash: bytes,
        request: tuple[tuple[str, str], ...],
        expires_at: float,
    ) -> None:
        self.connection.execute(
            insert(_handoffs).values(
                handoff_hash=handoff_hash,
                browser_hash=browser_hash,
                request=json.dumps([list(pair) for pair in request]),
                expires_at=expires_at,
            )
        )

    def find_handoff(self, handoff_hash: bytes) -> HandOff | None:
        row = self.connection.execute(
            select(_handoffs).where(_handoffs.c.handoff_hash == handoff_hash)
        ).first()
        if row is None:
            return None
        return HandOff(
            browser=bytes(row.browser_hash),
            request=tuple((str(k), str(v)) for k, v in json.loads(row.request)),
            expires_at=row.expires_at,
            sid=row.sid,
            ticket=bytes(row.ticket_hash) if row.ticket_hash is not None else None,
            claimed=bool(row.claimed),
        )

    def satisfy_handoff(
        self, handoff_hash: bytes, *, sid: str, ticket_hash: bytes, now: float
    ) -> bool:
        done = self.connection.execute(
            update(_handoffs)
            .where(
                _handoffs.c.handoff_hash == handoff_hash,
                _handoffs.c.sid.is_(None),
                _handoffs.c.claimed.is_(False),
                _handoffs.c.expires_at > now,
            )
            .values(sid=sid, ticket_hash=ticket_hash)
        )
        return done.rowcount == 1

    def claim_handoff(self, handoff_hash: bytes, *, now: float) -> bool:
        done = self.connection.execute(
            update(_handoffs)
            .where(
                _handoffs.c.handoff_hash == handoff_hash,
                _handoffs.c.claimed.is_(False),
                _handoffs.c.expires_at > now,
            )
            .values(claimed=True)
        )
        return done.rowcount == 1


class SqlCodeStore:
    """``CodeStore`` over the deployment's ``Store`` (its engine)."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def shared_key(self, name: str, make: Callable[[], bytes]) -> bytes:
        """The deployment's key ``name`` (in ``meta``), made once by whichever replica comes
        first: an INSERT that does nothing when another got there, then a read."""
        with transaction(self._engine, write=True) as conn:
            dialect = conn.dialect.name
            maker = postgresql_insert if dialect == "postgresql" else sqlite_insert
            conn.execute(maker(t.meta).values(key=name, value=make()).on_conflict_do_nothing())
            value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == name)).scalar_one()
        return bytes(value)

    @contextmanager
    def write(self) -> Iterator[SqlCodeTx]:
        with transaction(self._engine, write=True) as conn:
            yield SqlCodeTx(conn)

    @contextmanager
    def read(self) -> Iterator[SqlCodeTx]:
        with transaction(self._engine, write=False) as conn:
            yield SqlCodeTx(conn)
