"""FIDO2 credentials and WebAuthn challenges in the database: the SQL side of the factor.

``SqlWebAuthnStore`` implements the factor's ``WebAuthnTransactions`` (the use cases are
``factors.webauthn_service.WebAuthnService``); each transaction it opens is a
``SqlWebAuthnTx``, the ``WebAuthnTx`` over one connection. Taking a challenge is one
``DELETE ... RETURNING`` (single use, decided by the database), recording a sign count
one conditional ``UPDATE`` that only moves forward. Loading FIDO metadata and reading it at
enrollment are ordered by a PostgreSQL advisory lock (``lock_metadata``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from tokenstile.factors.webauthn import CHALLENGE_TTL
from tokenstile.factors.webauthn_login import (
    CredentialState,
    Purpose,
    StoredChallenge,
    WebAuthnCredential,
)
from tokenstile.factors.webauthn_service import (
    EnrolledCredential,
    WebAuthnConflict,
    WebAuthnCredentialInfo,
)
from tokenstile.store import schema as t
from tokenstile.store.repository import Store
from tokenstile.store.token_tx import SqlTx
from tokenstile.tokens.model import AuditEvent, User

# Expired challenges stay this long, so a late answer hears "expired", not "unknown".
KEEP_EXPIRED = 600.0

_w = t.webauthn_credentials
_ch = t.webauthn_challenges
_u = t.users


# -- prebuilt statements (a login runs these) ---------------------------------------------

_INSERT_CHALLENGE = insert(_ch)
_PURGE_CHALLENGES = delete(_ch).where(_ch.c.expires_at < bindparam("before"))
_TAKE_CHALLENGE = (
    delete(_ch)
    .where(_ch.c.handle_hash == bindparam("digest"), _ch.c.purpose == bindparam("wanted"))
    .returning(_ch.c.challenge, _ch.c.purpose, _ch.c.expires_at, _ch.c.user_id, _ch.c.context)
)
_CREDENTIAL_COLUMNS = (
    _w.c.id,
    _w.c.credential_id,
    _w.c.user_id,
    _w.c.user_handle,
    _w.c.public_key,
    _w.c.algorithm,
    _w.c.aaguid,
    _w.c.sign_count,
    _w.c.state,
    _w.c.uv_method,
    _w.c.label,
    _w.c.assurance,
    _u.c.username,
    _u.c.display_name,
    _u.c.is_admin,
    _u.c.enabled,
)
_FIND_CREDENTIAL = (
    select(*_CREDENTIAL_COLUMNS)
    .select_from(_w.join(_u, _u.c.id == _w.c.user_id))
    .where(_w.c.credential_id == bindparam("cid"))
)
_RECORD_COUNT = (
    update(_w)
    .where(_w.c.id == bindparam("wid"), _w.c.state == "active", _w.c.sign_count < bindparam("n"))
    .values(sign_count=bindparam("n"), last_used_at=bindparam("at"), backup_state=bindparam("bs"))
)
# An authenticator without a counter presents 0 every time (WebAuthn section 6.1.1).
_RECORD_ZERO = (
    update(_w)
    .where(_w.c.id == bindparam("wid"), _w.c.state == "active", _w.c.sign_count == 0)
    .values(last_used_at=bindparam("at"), backup_state=bindparam("bs"))
)
_SUSPEND = (
    update(_w)
    .where(_w.c.id == bindparam("wid"), _w.c.state == "active")
    .values(state="suspended", state_reason=bindparam("why"), state_changed_at=bindparam("at"))
)
_LATEST_METADATA = select(t.fido_metadata.c.no, t.fido_metadata.c.blob).order_by(
    t.fido_metadata.c.no.desc()
)
_METADATA_NUMBER = select(func.max(t.fido_metadata.c.no))
# The advisory lock that orders metadata loads with enrollments (PostgreSQL): any fixed
# 64-bit number no other part of Tokenstile uses.
METADATA_LOCK = 0x70B3_F1D0_0000_0003
_LOCK_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(:key)")
_LOCK_SHARED = text("SELECT pg_advisory_xact_lock_shared(:key)")
_STATE = select(_w.c.state, _w.c.sign_count).where(_w.c.id == bindparam("wid"))
_INFO = select(*_w.c, _u.c.username).select_from(_w.join(_u, _u.c.id == _w.c.user_id))


def _credential(row: Any) -> WebAuthnCredential:
    return WebAuthnCredential(
        id=row.id,
        credential_id=bytes(row.credential_id),
        user=User(
            row.user_id, row.username, row.display_name, bool(row.is_admin), bool(row.enabled)
        ),
        user_handle=bytes(row.user_handle),
        public_key=bytes(row.public_key),
        algorithm=row.algorithm,
        aaguid=row.aaguid,
        sign_count=int(row.sign_count),
        state=cast(CredentialState, row.state),
        uv_method=row.uv_method,
        label=row.label,
        assurance=row.assurance,
    )


def _info(row: Any) -> WebAuthnCredentialInfo:
    return WebAuthnCredentialInfo.stored(
        credential_id=bytes(row.credential_id),
        username=row.username,
        label=row.label,
        aaguid=row.aaguid,
        algorithm=row.algorithm,
        sign_count=int(row.sign_count),
        transports=list(json.loads(row.transports)),
        backup_eligible=bool(row.backup_eligible),
        backup_state=bool(row.backup_state),
        attestation_format=row.attestation_format,
        uv_method=row.uv_method,
        state=row.state,
        state_reason=row.state_reason,
        created_at=row.created_at,
        enrolled_by=row.enrolled_by,
        last_used_at=row.last_used_at,
    )


class SqlWebAuthnTx:
    """``WebAuthnTx`` over one connection inside a transaction (the ``TokenTx`` of the
    same transaction answers for people, sessions and audit)."""

    __slots__ = ("_conn", "_tx")

    def __init__(self, tx: SqlTx) -> None:
        self._tx = tx
        self._conn = tx.connection

    def put_challenge(
        self,
        digest: bytes,
        *,
        purpose: Purpose,
        challenge: bytes,
        expires_at: float,
        user_id: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self._conn.execute(
            _INSERT_CHALLENGE,
            {
                "handle_hash": digest,
                "purpose": purpose,
                "challenge": challenge,
                "user_id": user_id,
                "context": json.dumps(dict(context or {}), separators=(",", ":")),
                "created_at": expires_at - CHALLENGE_TTL,
                "expires_at": expires_at,
            },
        )

    def take_challenge(self, digest: bytes, *, purpose: Purpose) -> StoredChallenge | None:
        row = self._conn.execute(_TAKE_CHALLENGE, {"digest": digest, "wanted": purpose}).first()
        if row is None:
            return None
        return StoredChallenge(
            bytes(row.challenge), row.purpose, row.expires_at, row.user_id, json.loads(row.context)
        )

    def purge_expired_challenges(self, now: float) -> None:
        self._conn.execute(_PURGE_CHALLENGES, {"before": now - KEEP_EXPIRED})

    def find_credential(self, credential_id: bytes) -> WebAuthnCredential | None:
        row = self._conn.execute(_FIND_CREDENTIAL, {"cid": credential_id}).first()
        return _credential(row) if row is not None else None

    def record_assertion(
        self, credential_pk: int, *, sign_count: int, backed_up: bool, at: float
    ) -> bool:
        params = {"wid": credential_pk, "n": sign_count, "at": at, "bs": backed_up}
        statement = _RECORD_ZERO if sign_count == 0 else _RECORD_COUNT
        return bool(self._conn.execute(statement, params).rowcount == 1)

    def suspend_credential(self, credential_pk: int, *, reason: str, at: float) -> bool:
        params = {"wid": credential_pk, "why": reason, "at": at}
        return bool(self._conn.execute(_SUSPEND, params).rowcount == 1)

    def credential_state(self, credential_pk: int) -> tuple[CredentialState, int] | None:
        row = self._conn.execute(_STATE, {"wid": credential_pk}).first()
        if row is None:
            return None
        return cast(CredentialState, row.state), int(row.sign_count)

    # people, sessions, audit: the token side's transaction

    def audit(self, event: AuditEvent, *, at: float) -> None:
        self._tx.audit(event, at=at)

    def end_sessions_of(
        self, credential: str, *, reason: str, by: str, origin: str | None, at: float
    ) -> int:
        return self._tx.end_sessions_of(credential, reason=reason, by=by, origin=origin, at=at)

    def get_user(self, user_id: int) -> User | None:
        return self._tx.get_user(user_id)

    def require_user(self, username: str) -> User:
        return self._tx.require_user(username)

    # registration and administration

    def user_handle_of(self, user_id: int) -> bytes | None:
        handles = self._conn.execute(
            select(_w.c.user_handle).where(_w.c.user_id == user_id).order_by(_w.c.id).limit(1)
        ).scalars()
        first = next(iter(handles), None)
        return bytes(first) if first is not None else None

    def credential_ids_of(self, user_id: int) -> list[bytes]:
        return [
            bytes(c)
            for c in self._conn.execute(
                select(_w.c.credential_id).where(_w.c.user_id == user_id, _w.c.state != "revoked")
            ).scalars()
        ]

    def credential_enrolled(self, credential_id: bytes) -> bool:
        found = self._conn.execute(select(_w.c.id).where(_w.c.credential_id == credential_id))
        return found.first() is not None

    def add_credential(self, credential: EnrolledCredential, *, at: float) -> None:
        new = credential.new
        try:
            self._conn.execute(
                insert(_w),
                {
                    "credential_id": new.credential_id,
                    "user_id": credential.user_id,
                    "user_handle": credential.user_handle,
                    "public_key": new.public_key.cose,
                    "algorithm": new.public_key.algorithm,
                    "aaguid": new.aaguid,
                    "sign_count": new.sign_count,
                    "transports": json.dumps(list(new.transports)),
                    "backup_eligible": new.backup_eligible,
                    "backup_state": new.backed_up,
                    "attestation_format": new.attestation_format[:32],
                    "uv_method": credential.uv_method,
                    "label": credential.label,
                    "state": "active",
                    "created_at": at,
                    "enrolled_by": credential.enrolled_by,
                    "state_changed_at": at,
                    "assurance": credential.assurance,
                },
            )
        except IntegrityError as exc:  # enrolled by a concurrent request
            raise WebAuthnConflict("This security key credential is already enrolled.") from exc

    def credential_info(self, credential_id: bytes) -> WebAuthnCredentialInfo | None:
        row = self._conn.execute(_INFO.where(_w.c.credential_id == credential_id)).first()
        return _info(row) if row is not None else None

    def credential_infos(self, user_id: int | None = None) -> list[WebAuthnCredentialInfo]:
        stmt = _INFO.order_by(_w.c.id)
        if user_id is not None:
            stmt = stmt.where(_w.c.user_id == user_id)
        return [_info(row) for row in self._conn.execute(stmt)]

    def change_credential_state(
        self,
        credential_id: bytes,
        to: CredentialState,
        *,
        frm: tuple[CredentialState, ...],
        reason: str | None,
        at: float,
    ) -> bool:
        done = self._conn.execute(
            update(_w)
            .where(_w.c.credential_id == credential_id, _w.c.state.in_(frm))
            .values(state=to, state_reason=reason, state_changed_at=at)
        )
        return bool(done.rowcount == 1)

    # FIDO metadata (MDS3)

    def metadata_blob(self) -> tuple[int, bytes] | None:
        row = self._conn.execute(_LATEST_METADATA.limit(1)).first()
        return (int(row.no), row.blob.encode("ascii")) if row is not None else None

    def metadata_number(self) -> int | None:
        no = self._conn.execute(_METADATA_NUMBER).scalar()
        return int(no) if no is not None else None

    def lock_metadata(self, *, exclusive: bool) -> None:
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(
                _LOCK_EXCLUSIVE if exclusive else _LOCK_SHARED, {"key": METADATA_LOCK}
            )

    def active_credentials_of(self, aaguids: Collection[str]) -> list[WebAuthnCredentialInfo]:
        stmt = _INFO.where(_w.c.state == "active", _w.c.aaguid.in_(list(aaguids))).order_by(_w.c.id)
        return [_info(row) for row in self._conn.execute(stmt)]

    def add_metadata(
        self, *, no: int, next_update: str, entries: int, blob: bytes, at: float, by: str
    ) -> None:
        try:
            self._conn.execute(
                insert(t.fido_metadata),
                {
                    "no": no,
                    "next_update": next_update,
                    "entries": entries,
                    "blob": blob.decode("ascii"),
                    "loaded_at": at,
                    "loaded_by": by,
                },
            )
        except IntegrityError as exc:  # loaded by a concurrent request
            raise WebAuthnConflict(f"The metadata BLOB number {no} is already loaded.") from exc


class SqlWebAuthnStore:
    """``WebAuthnTransactions`` over the database behind the token service."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    @contextmanager
    def write(self) -> Iterator[SqlWebAuthnTx]:
        with self._store.write() as tx:
            yield SqlWebAuthnTx(tx)

    @contextmanager
    def read(self) -> Iterator[SqlWebAuthnTx]:
        with self._store.read() as tx:
            yield SqlWebAuthnTx(tx)
