"""PIV cards, login challenges, issuing CAs and trust anchors in the database.

``SqlPivTx`` is the factor's ``PivTx`` port (``factors.piv_port``) over one open
transaction, and ``SqlPivStorage`` opens them on a ``Store``; the use cases live in
``factors.piv_service.PivService``, built over this adapter
(``PivService(SqlPivStorage(store), ...)``, as the composition root does). A challenge
is claimed by one conditional ``UPDATE ... WHERE used_at IS NULL RETURNING``: of two
requests presenting one handle, at one replica or two, the database lets exactly one
have it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from tokenstile.errors import StoreError
from tokenstile.factors.piv import CertificateSummary
from tokenstile.factors.piv_ca import CaSource
from tokenstile.factors.piv_login import (
    CardSource,
    CardState,
    LoginStatus,
    PendingChallenge,
    PivCardRecord,
)
from tokenstile.factors.piv_port import CaCertificateInfo, CardHolder, PivCardInfo, StoredCa
from tokenstile.store import schema as t
from tokenstile.store.repository import Store
from tokenstile.store.rows import TEXT_CHARS, clip, user_from_row
from tokenstile.store.token_tx import SqlTx
from tokenstile.tokens.model import AuditEvent, User

EXPIRED_CHALLENGES_KEPT = 60.0  # an expired handle is told apart from a made-up one a while

_cards = t.piv_cards
_ch = t.piv_challenges
_cas = t.piv_issuing_cas
_anchors = t.piv_trust_anchors
_u = t.users


# -- prebuilt statements (the login runs these on every attempt) ----------------------------

_CARD_COLUMNS = (
    _cards.c.id,
    _cards.c.fingerprint,
    _cards.c.user_id,
    _cards.c.certificate,
    _cards.c.cert_serial,
    _cards.c.card_guid,
    _cards.c.state,
    _cards.c.card_auth_fingerprint,
    _cards.c.card_auth_certificate,
)
# The card with its holder in one statement: a login asks for both, one after the other.
_CARD_AND_USER = select(
    *_CARD_COLUMNS,
    _u.c.username,
    _u.c.display_name,
    _u.c.is_admin,
    _u.c.enabled,
).select_from(_cards.outerjoin(_u, _u.c.id == _cards.c.user_id))
_CARD_BY_FINGERPRINT = _CARD_AND_USER.where(_cards.c.fingerprint == bindparam("fp"))
_CARD_BY_ID = _CARD_AND_USER.where(_cards.c.id == bindparam("cid"))
_CARD_BY_CARD_AUTH = _CARD_AND_USER.where(_cards.c.card_auth_fingerprint == bindparam("fp"))
_USER_BY_ID = select(_u).where(_u.c.id == bindparam("uid"))
_USER_BY_NAME = select(_u).where(_u.c.username == bindparam("username"))
# Everyone's unexpired challenges, counted no further than the bound (the index on
# expires_at is walked at most ``limit`` rows).
_PENDING_CHALLENGES = select(func.count()).select_from(
    select(_ch.c.expires_at)
    .where(_ch.c.expires_at > bindparam("now"))
    .limit(bindparam("limit"))
    .subquery()
)
_DROP_EXPIRED = delete(_ch).where(_ch.c.expires_at < bindparam("before"))
_INSERT_CHALLENGE = insert(_ch)
_CLAIM = (
    update(_ch)
    .where(_ch.c.handle_hash == bindparam("h"), _ch.c.used_at.is_(None))
    .values(used_at=bindparam("at"))
    .returning(
        _ch.c.challenge,
        _ch.c.fingerprint,
        _ch.c.card_id,
        _ch.c.user_id,
        _ch.c.certificate,
        _ch.c.client_id,
        _ch.c.created_at,
        _ch.c.expires_at,
        _ch.c.refusal,
    )
)
_CLAIMED_FINGERPRINT = select(_ch.c.fingerprint).where(
    _ch.c.handle_hash == bindparam("h"), _ch.c.used_at.is_not(None)
)
_RECORD_USE = (
    update(_cards)
    .where(_cards.c.id == bindparam("cid"), _cards.c.state == "active")
    .values(last_used_at=bindparam("at"))
)
_INSERT_CARD = insert(_cards)
_UPN_CARD_INSERTS = {
    name: dialect_insert(_cards).on_conflict_do_nothing(index_elements=[_cards.c.fingerprint])
    for name, dialect_insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
}
_INFO_COLUMNS = [
    column for column in _cards.c if column.name not in ("certificate", "card_auth_certificate")
]
_SELECT_INFO = select(*_INFO_COLUMNS, _u.c.username).select_from(
    _cards.join(_u, _u.c.id == _cards.c.user_id)
)
_ACTIVE_CA = select(_cas).where(_cas.c.active == 1)
_CARD_HOLDER = (
    select(_cards.c.state, _cards.c.cert_serial, _cards.c.card_guid, _u.c.username)
    .select_from(_cards.join(_u, _u.c.id == _cards.c.user_id))
    .where(_cards.c.fingerprint == bindparam("fp"))
)


def _card(row: Any) -> PivCardRecord:
    return PivCardRecord(
        id=row.id,
        fingerprint=row.fingerprint,
        user_id=row.user_id,
        certificate=bytes(row.certificate),
        cert_serial=row.cert_serial,
        card_guid=row.card_guid,
        state=cast(CardState, row.state),
        card_auth_fingerprint=row.card_auth_fingerprint,
        card_auth_certificate=(
            bytes(row.card_auth_certificate) if row.card_auth_certificate is not None else None
        ),
    )


def _card_values(
    summary: CertificateSummary,
    der: bytes,
    *,
    user_id: int,
    source: CardSource,
    at: float,
    by: str | None,
    card_guid: str | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    return {
        "fingerprint": summary.fingerprint,
        "user_id": user_id,
        "certificate": der,
        "cert_serial": summary.serial[:64],
        "subject": summary.subject[:512],
        "issuer": summary.issuer[:512],
        "not_before": summary.not_before,
        "not_after": summary.not_after,
        "key_algorithm": summary.key_algorithm or "?",
        "upn": summary.upn[:TEXT_CHARS] if summary.upn else None,
        "card_guid": card_guid,
        "label": (label or "PIV card")[:TEXT_CHARS],
        "source": source,
        "state": "active",
        "created_at": at,
        "enrolled_by": by[:TEXT_CHARS] if by else None,
    }


class SqlPivTx:
    """``PivTx`` over one ``SqlTx`` (one connection inside a transaction)."""

    __slots__ = ("_conn", "_holders", "_tx", "_upn_insert")

    def __init__(self, tx: SqlTx) -> None:
        self._tx = tx
        conn: Connection = tx.connection
        self._conn = conn
        self._upn_insert = _UPN_CARD_INSERTS[conn.dialect.name]
        self._holders: dict[int, User] = {}  # read with their cards, in this transaction

    def _card(self, statement: Any, params: dict[str, Any]) -> PivCardRecord | None:
        row = self._conn.execute(statement, params).first()
        if row is None:
            return None
        if row.username is not None:
            self._holders[row.user_id] = User(
                row.user_id, row.username, row.display_name, bool(row.is_admin), bool(row.enabled)
            )
        return _card(row)

    def card_by_fingerprint(self, fingerprint: str) -> PivCardRecord | None:
        return self._card(_CARD_BY_FINGERPRINT, {"fp": fingerprint})

    def card_by_id(self, card_id: int) -> PivCardRecord | None:
        return self._card(_CARD_BY_ID, {"cid": card_id})

    def card_by_card_auth(self, fingerprint: str) -> PivCardRecord | None:
        return self._card(_CARD_BY_CARD_AUTH, {"fp": fingerprint})

    def set_card_auth(self, card_id: int, fingerprint: str, certificate: bytes) -> bool:
        holder = self._conn.execute(
            select(_cards.c.id, _cards.c.user_id).where(
                _cards.c.card_auth_fingerprint == fingerprint
            )
        ).first()
        owner = self._conn.execute(select(_cards.c.user_id).where(_cards.c.id == card_id)).scalar()
        if holder is not None and holder.id != card_id:
            if holder.user_id != owner:
                return False
            # The same person's card enrolled again (a new 9A key): the 9E moves with it.
            self._conn.execute(
                update(_cards)
                .where(_cards.c.id == holder.id)
                .values(card_auth_fingerprint=None, card_auth_certificate=None)
            )
        self._conn.execute(
            update(_cards)
            .where(_cards.c.id == card_id)
            .values(card_auth_fingerprint=fingerprint, card_auth_certificate=certificate)
        )
        return True

    def user(self, user_id: int) -> User | None:
        held = self._holders.get(user_id)
        if held is not None:
            return held
        row = self._conn.execute(_USER_BY_ID, {"uid": user_id}).first()
        return user_from_row(row) if row is not None else None

    def user_by_name(self, username: str) -> User | None:
        row = self._conn.execute(_USER_BY_NAME, {"username": username}).first()
        return user_from_row(row) if row is not None else None

    def pending_challenges(self, *, now: float, limit: int) -> int:
        count = self._conn.execute(_PENDING_CHALLENGES, {"now": now, "limit": limit}).scalar()
        return int(count or 0)

    def add_challenge(self, challenge: PendingChallenge, *, now: float) -> None:
        self._conn.execute(_DROP_EXPIRED, {"before": now - EXPIRED_CHALLENGES_KEPT})
        self._conn.execute(
            _INSERT_CHALLENGE,
            {
                "handle_hash": challenge.handle_hash,
                "challenge": challenge.challenge,
                "fingerprint": challenge.fingerprint,
                "card_id": challenge.card_id,
                "user_id": challenge.user_id,
                "certificate": challenge.certificate,
                "client_id": challenge.client_id,
                "created_at": challenge.created_at,
                "expires_at": challenge.expires_at,
                "refusal": challenge.refusal,
            },
        )

    def claim_challenge(self, handle_hash: bytes, *, at: float) -> PendingChallenge | None:
        row = self._conn.execute(_CLAIM, {"h": handle_hash, "at": at}).first()
        if row is None:
            return None
        return PendingChallenge(
            handle_hash=handle_hash,
            challenge=bytes(row.challenge),
            fingerprint=row.fingerprint,
            card_id=row.card_id,
            user_id=row.user_id,
            certificate=bytes(row.certificate) if row.certificate is not None else None,
            client_id=row.client_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
            refusal=cast(LoginStatus, row.refusal) if row.refusal is not None else None,
        )

    def claimed_challenge(self, handle_hash: bytes) -> str | None:
        found = self._conn.execute(_CLAIMED_FINGERPRINT, {"h": handle_hash}).scalar()
        return None if found is None else str(found)

    def record_card_use(self, card_id: int, *, at: float) -> bool:
        return bool(self._conn.execute(_RECORD_USE, {"cid": card_id, "at": at}).rowcount == 1)

    def add_upn_card(
        self, summary: CertificateSummary, certificate: bytes, *, user_id: int, at: float
    ) -> PivCardRecord:
        # Two first logins of one card at once: one inserts, the other finds its row.
        values = _card_values(
            summary, certificate, user_id=user_id, source="upn", at=at, by="upn-mapping"
        )
        self._conn.execute(self._upn_insert, {**values, "last_used_at": at})
        found = self.card_by_fingerprint(summary.fingerprint)
        assert found is not None  # noqa: S101
        return found

    # the transaction's audit log, people and sessions
    def audit(self, event: AuditEvent, *, at: float) -> None:
        self._tx.audit(event, at=at)

    def require_user(self, username: str) -> User:
        return self._tx.require_user(username)

    def end_sessions_of(
        self, credential: str, *, reason: str, by: str, origin: str | None, at: float
    ) -> int:
        return self._tx.end_sessions_of(credential, reason=reason, by=by, origin=origin, at=at)

    # enrollment, listing, revocation
    def card_holder(self, fingerprint: str) -> CardHolder | None:
        row = self._conn.execute(_CARD_HOLDER, {"fp": fingerprint}).first()
        if row is None:
            return None
        return CardHolder(
            username=row.username,
            state=cast(CardState, row.state),
            cert_serial=row.cert_serial,
            card_guid=row.card_guid,
        )

    def add_card(
        self,
        summary: CertificateSummary,
        certificate: bytes,
        *,
        user_id: int,
        source: CardSource,
        at: float,
        by: str,
        card_guid: str | None,
        label: str | None,
    ) -> None:
        self._conn.execute(
            _INSERT_CARD,
            _card_values(
                summary,
                certificate,
                user_id=user_id,
                source=source,
                at=at,
                by=by,
                card_guid=clip(card_guid, 64),
                label=label,
            ),
        )

    def card_fingerprints(self, prefix: str, *, limit: int) -> list[str]:
        found = self._conn.execute(
            select(_cards.c.fingerprint)
            .where(_cards.c.fingerprint.startswith(prefix, autoescape=True))
            .limit(limit)
        ).scalars()
        return [str(fp) for fp in found]

    def card_info(self, fingerprint: str) -> PivCardInfo | None:
        row = self._conn.execute(_SELECT_INFO.where(_cards.c.fingerprint == fingerprint)).first()
        return None if row is None else _info(row)

    def card_infos(self, username: str | None = None) -> list[PivCardInfo]:
        stmt = _SELECT_INFO.order_by(_cards.c.id)
        if username is not None:
            stmt = stmt.where(_u.c.username == username)
        return [_info(row) for row in self._conn.execute(stmt)]

    def revoke_card(self, fingerprint: str, *, at: float, by: str) -> bool:
        done = self._conn.execute(
            update(_cards)
            .where(_cards.c.fingerprint == fingerprint, _cards.c.state == "active")
            .values(state="revoked", revoked_at=at, revoked_by=by[:TEXT_CHARS])
        )
        return bool(done.rowcount == 1)

    def revoked_certificates(self) -> list[tuple[bytes, float]]:
        rows = self._conn.execute(
            select(_cards.c.certificate, _cards.c.revoked_at)
            .where(_cards.c.state == "revoked")
            .order_by(_cards.c.id)
        )
        return [(bytes(row.certificate), float(row.revoked_at or 0.0)) for row in rows]

    # issuing CAs
    def active_ca(self) -> StoredCa | None:
        row = self._conn.execute(_ACTIVE_CA).first()
        return None if row is None else _stored_ca(row)

    def ca_known(self, fingerprint: str) -> bool:
        found = self._conn.execute(select(_cas.c.id).where(_cas.c.fingerprint == fingerprint))
        return found.first() is not None

    def retire_active_ca(self, *, at: float) -> str | None:
        retired = self._conn.execute(select(_cas.c.fingerprint).where(_cas.c.active == 1)).scalar()
        self._conn.execute(
            update(_cas).where(_cas.c.active == 1).values(active=None, retired_at=at)
        )
        return None if retired is None else str(retired)

    def add_ca(
        self,
        fingerprint: str,
        certificate: bytes,
        sealed_key: bytes,
        *,
        source: CaSource,
        at: float,
        by: str,
    ) -> None:
        self._conn.execute(
            insert(_cas).values(
                fingerprint=fingerprint,
                certificate=certificate,
                sealed_key=sealed_key,
                source=source,
                active=1,
                created_at=at,
                created_by=by[:TEXT_CHARS],
            )
        )

    def issuing_cas(self) -> list[StoredCa]:
        rows = self._conn.execute(
            select(_cas).order_by(_cas.c.active.is_(None), _cas.c.id.desc())
        ).all()
        return [_stored_ca(row) for row in rows]

    # trust anchors
    def trust_anchors(self) -> list[bytes]:
        found = self._conn.execute(select(_anchors.c.certificate).order_by(_anchors.c.added_at))
        return [bytes(der) for der in found.scalars()]

    def trust_anchor_known(self, fingerprint: str) -> bool:
        found = self._conn.execute(
            select(_anchors.c.fingerprint).where(_anchors.c.fingerprint == fingerprint)
        )
        return found.first() is not None

    def add_trust_anchor(
        self, info: CaCertificateInfo, certificate: bytes, *, at: float, by: str
    ) -> None:
        self._conn.execute(
            insert(_anchors).values(
                fingerprint=info.fingerprint,
                certificate=certificate,
                subject=info.subject[:512],
                not_after=info.not_after,
                added_at=at,
                added_by=by[:TEXT_CHARS],
            )
        )


class SqlPivStorage:
    """``PivStorage`` on a ``Store``: each transaction a ``SqlPivTx``."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    @contextmanager
    def write(self) -> Iterator[SqlPivTx]:
        with self._store.write() as tx:
            yield SqlPivTx(tx)

    @contextmanager
    def read(self) -> Iterator[SqlPivTx]:
        with self._store.read() as tx:
            yield SqlPivTx(tx)

    def is_duplicate(self, error: StoreError) -> bool:
        return isinstance(error.__cause__, IntegrityError)


def _info(row: Any) -> PivCardInfo:
    return PivCardInfo(
        fingerprint=row.fingerprint,
        username=row.username,
        cert_serial=row.cert_serial,
        subject=row.subject,
        issuer=row.issuer,
        not_before=row.not_before,
        not_after=row.not_after,
        key_algorithm=row.key_algorithm,
        upn=row.upn,
        card_guid=row.card_guid,
        label=row.label,
        source=row.source,
        state=row.state,
        created_at=row.created_at,
        enrolled_by=row.enrolled_by,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        card_auth_fingerprint=row.card_auth_fingerprint,
    )


def _stored_ca(row: Any) -> StoredCa:
    return StoredCa(
        certificate=bytes(row.certificate),
        sealed_key=bytes(row.sealed_key),
        source=cast(CaSource, row.source),
        active=row.active == 1,
    )
