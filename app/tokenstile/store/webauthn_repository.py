"""FIDO2 credentials and WebAuthn challenges in the database.

``SqlWebAuthnStore`` is the factor's ``WebAuthnStore`` port over one open transaction:
taking a challenge is one ``DELETE ... RETURNING`` (single use, decided by the
database), recording a sign count one conditional ``UPDATE`` that only moves forward.

``WebAuthnRepository`` holds the operations, each one transaction with its audit rows
in it: login options, the login itself (with the ``fido2_credential_suspended`` alert
of a counter regression), registration begin and complete for a named person, listing,
revocation and unsuspension.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tokenstile.clock import Clock
from tokenstile.errors import NotFound, StoreError
from tokenstile.factors.webauthn import (
    ALGORITHM_NAMES,
    CHALLENGE_TTL,
    MAX_CREDENTIAL_ID_BYTES,
    UV_METHODS,
    Assertion,
    CeremonyRejected,
    ChallengeRefused,
    MalformedResponse,
    RelyingParty,
    b64url,
    b64url_decode,
)
from tokenstile.factors.webauthn_login import (
    CredentialState,
    LoginOptions,
    LoginOutcome,
    Purpose,
    StoredChallenge,
    WebAuthnCredential,
    WebAuthnLogin,
    handle_hash,
    new_challenge,
    new_handle,
)
from tokenstile.factors.webauthn_registration import (
    AttestationPolicy,
    Registration,
    creation_options,
    verify_registration,
)
from tokenstile.store import schema as t
from tokenstile.store.repository import (
    CREDENTIAL_REVOKED,
    CREDENTIAL_SUSPENDED,
    Revoked,
    SqlTx,
    Store,
    clip,
)
from tokenstile.tokens.model import AuditEvent, User, credential_ref

FIDO2_FACTOR = "fido2"
USER_HANDLE_BYTES = 32
# Expired challenges stay this long, so a late answer hears "expired", not "unknown".
KEEP_EXPIRED = 600.0

_w = t.webauthn_credentials
_ch = t.webauthn_challenges
_u = t.users


class WebAuthnConflict(StoreError):
    """The credential's state does not allow this, or it is already enrolled."""

    code = "webauthn_conflict"


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
    )


class SqlWebAuthnStore:
    """``WebAuthnStore`` over one connection inside a transaction."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

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

    def purge_challenges(self, before: float) -> None:
        self._conn.execute(_PURGE_CHALLENGES, {"before": before})

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


# -- what callers see ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WebAuthnCredentialInfo:
    """A credential as an admin sees it (``credential_id`` in base64url)."""

    credential_id: str
    username: str
    label: str
    aaguid: str
    algorithm: str
    sign_count: int
    transports: list[str]
    backup_eligible: bool
    backup_state: bool
    attestation_format: str
    uv_method: str
    state: str
    state_reason: str | None
    created_at: float
    enrolled_by: str | None
    last_used_at: float | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _info(row: Any) -> WebAuthnCredentialInfo:
    return WebAuthnCredentialInfo(
        credential_id=b64url(bytes(row.credential_id)),
        username=row.username,
        label=row.label,
        aaguid=row.aaguid,
        algorithm=ALGORITHM_NAMES.get(row.algorithm, str(row.algorithm)),
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


@dataclass(frozen=True, slots=True)
class RegistrationOptions:
    handle: str
    username: str
    public_key: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"handle": self.handle, "username": self.username, "publicKey": self.public_key}


def parse_credential_id(text: str) -> bytes:
    """A credential ID as admins type it (base64url)."""
    return b64url_decode(text.strip(), "The credential ID", max_bytes=MAX_CREDENTIAL_ID_BYTES)


class WebAuthnRepository:
    """Every FIDO2 operation as one transaction, audited in that transaction."""

    def __init__(
        self,
        store: Store,
        *,
        rp: RelyingParty,
        clock: Clock,
        policy: AttestationPolicy | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self.rp = rp
        self.policy = policy or AttestationPolicy()
        self.flow = WebAuthnLogin(rp, clock=clock)

    # -- login -------------------------------------------------------------------------------

    def login_options(self) -> LoginOptions:
        """A new challenge under a new handle (and the long-expired ones cleared away)."""
        with self._store.write() as tx:
            sql = SqlWebAuthnStore(tx.connection)
            sql.purge_challenges(self._clock.now() - KEEP_EXPIRED)
            return self.flow.begin(sql)

    def login(
        self,
        handle: str,
        assertion: Assertion,
        *,
        client_id: str | None = None,
        origin: str | None = None,
    ) -> LoginOutcome:
        with self._store.write() as tx:
            outcome = self.flow.finish(SqlWebAuthnStore(tx.connection), handle, assertion)
            self._audit_login(tx, outcome, assertion, client_id=client_id, origin=origin)
        return outcome

    def _audit_login(
        self,
        tx: SqlTx,
        outcome: LoginOutcome,
        assertion: Assertion,
        *,
        client_id: str | None,
        origin: str | None,
    ) -> None:
        now = self._clock.now()
        credential = outcome.credential
        detail: dict[str, Any] = {"credential_id": b64url(assertion.credential_id)[:200]}
        if credential is not None:
            detail["aaguid"] = credential.aaguid
        if outcome.presented_count is not None:
            detail["sign_count"] = outcome.presented_count
        if not outcome.accepted:
            detail["reason"] = outcome.status
        username = credential.user.username if credential is not None else None
        tx.audit(
            AuditEvent(
                "fido2_login",
                "success" if outcome.accepted else "failure",
                username=username,
                client_id=client_id,
                factor=FIDO2_FACTOR,
                origin=origin,
                detail=detail,
            ),
            at=now,
        )
        if outcome.status == "counter_regression" and credential is not None:
            tx.audit(
                AuditEvent(
                    "fido2_credential_suspended",
                    "alert",
                    username=username,
                    client_id=client_id,
                    factor=FIDO2_FACTOR,
                    origin=origin,
                    detail={
                        "credential_id": b64url(credential.credential_id),
                        "aaguid": credential.aaguid,
                        "stored_count": credential.sign_count,
                        "presented_count": outcome.presented_count,
                        "reason": "counter_regression",
                        "suspended_now": outcome.suspended,
                    },
                ),
                at=now,
            )
            # A clone may be the one holding a session: end every one the key opened.
            tx.end_sessions_of(
                credential_ref("fido2", b64url(credential.credential_id)),
                reason=CREDENTIAL_SUSPENDED,
                by="counter_regression",
                origin=origin,
                at=now,
            )

    # -- registration ---------------------------------------------------------------------

    def begin_registration(
        self, username: str, *, label: str, by: str, origin: str | None = None
    ) -> RegistrationOptions:
        """Creation options for ``username``, the challenge kept under a new handle."""
        now = self._clock.now()
        with self._store.write() as tx:
            conn = tx.connection
            user = tx.require_user(username)
            handles = conn.execute(
                select(_w.c.user_handle).where(_w.c.user_id == user.id).order_by(_w.c.id).limit(1)
            ).scalars()
            user_handle = next(iter(handles), None) or secrets.token_bytes(USER_HANDLE_BYTES)
            exclude = list(
                conn.execute(
                    select(_w.c.credential_id).where(
                        _w.c.user_id == user.id, _w.c.state != "revoked"
                    )
                ).scalars()
            )
            handle, challenge = new_handle(), new_challenge()
            sql = SqlWebAuthnStore(conn)
            sql.purge_challenges(now - KEEP_EXPIRED)
            sql.put_challenge(
                handle_hash(handle),
                purpose="register",
                challenge=challenge,
                expires_at=now + self.flow.ttl,
                user_id=user.id,
                context={
                    "label": clip(label),
                    "by": clip(by),
                    "user_handle": b64url(user_handle),
                },
            )
            tx.audit(
                AuditEvent(
                    "fido2_registration_started",
                    "info",
                    username=user.username,
                    factor=FIDO2_FACTOR,
                    origin=origin,
                    detail={"label": clip(label), "by": by},
                ),
                at=now,
            )
        options = creation_options(
            self.rp,
            challenge=challenge,
            user_handle=bytes(user_handle),
            username=user.username,
            display_name=user.display_name,
            exclude=[bytes(c) for c in exclude],
            policy=self.policy,
            timeout=self.flow.ttl,
        )
        return RegistrationOptions(handle, user.username, options)

    def complete_registration(
        self,
        handle: str,
        registration: Registration,
        *,
        by: str,
        origin: str | None = None,
        uv_method: str = "unknown",
    ) -> WebAuthnCredentialInfo:
        """Verify the key's answer and store the credential; refusals are audited."""
        if uv_method not in UV_METHODS:
            raise MalformedResponse(f"user_verification must be one of {', '.join(UV_METHODS)}.")
        now = self._clock.now()
        refusal: Exception | None = None
        try:
            with self._store.write() as tx:
                refusal = self._complete(
                    tx, handle, registration, by=by, origin=origin, uv_method=uv_method, now=now
                )
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):  # enrolled by a concurrent request
                raise WebAuthnConflict("This security key credential is already enrolled.") from exc
            raise
        if refusal is not None:
            raise refusal
        return self.credential(registration.credential_id)

    def _complete(
        self,
        tx: SqlTx,
        handle: str,
        registration: Registration,
        *,
        by: str,
        origin: str | None,
        uv_method: str,
        now: float,
    ) -> Exception | None:
        conn = tx.connection
        taken = SqlWebAuthnStore(conn).take_challenge(handle_hash(handle), purpose="register")
        user = tx.get_user(taken.user_id) if taken is not None and taken.user_id else None
        refusal: Exception | None = None
        reason = ""
        if taken is None or user is None:
            refusal, reason = ChallengeRefused("unknown_handle"), "unknown_handle"
        elif taken.expires_at <= now:
            refusal, reason = ChallengeRefused("expired"), "expired"
        if refusal is not None or taken is None or user is None:
            self._audit_enroll_failure(tx, user, reason, origin=origin, by=by, at=now)
            return refusal
        try:
            new = verify_registration(
                self.rp, registration, challenge=taken.challenge, policy=self.policy, now=now
            )
        except CeremonyRejected as exc:
            self._audit_enroll_failure(tx, user, exc.reason, origin=origin, by=by, at=now)
            return exc
        except MalformedResponse as exc:
            self._audit_enroll_failure(tx, user, "malformed", origin=origin, by=by, at=now)
            return exc
        taken_by = str(taken.context.get("by") or by)
        existing = conn.execute(
            select(_w.c.id).where(_w.c.credential_id == new.credential_id)
        ).first()
        if existing is not None:
            self._audit_enroll_failure(tx, user, "already_enrolled", origin=origin, by=by, at=now)
            return WebAuthnConflict("This security key credential is already enrolled.")
        label = str(taken.context.get("label") or "Security key")
        conn.execute(
            insert(_w),
            {
                "credential_id": new.credential_id,
                "user_id": user.id,
                "user_handle": b64url_decode(
                    taken.context.get("user_handle"), "user handle", max_bytes=64
                ),
                "public_key": new.public_key.cose,
                "algorithm": new.public_key.algorithm,
                "aaguid": new.aaguid,
                "sign_count": new.sign_count,
                "transports": json.dumps(list(new.transports)),
                "backup_eligible": new.backup_eligible,
                "backup_state": new.backed_up,
                "attestation_format": new.attestation_format[:32],
                "uv_method": uv_method,
                "label": label,
                "state": "active",
                "created_at": now,
                "enrolled_by": clip(taken_by),
                "state_changed_at": now,
            },
        )
        tx.audit(
            AuditEvent(
                "fido2_enrolled",
                "info",
                username=user.username,
                factor=FIDO2_FACTOR,
                origin=origin,
                detail={
                    "credential_id": b64url(new.credential_id),
                    "aaguid": new.aaguid,
                    "algorithm": ALGORITHM_NAMES[new.public_key.algorithm],
                    "attestation": new.attestation_format,
                    "attestation_trusted": new.attestation_trusted,
                    "uv_method": uv_method,
                    "label": label,
                    "by": by,
                },
            ),
            at=now,
        )
        return None

    @staticmethod
    def _audit_enroll_failure(
        tx: SqlTx, user: User | None, reason: str, *, origin: str | None, by: str, at: float
    ) -> None:
        tx.audit(
            AuditEvent(
                "fido2_enrolled",
                "failure",
                username=user.username if user is not None else None,
                factor=FIDO2_FACTOR,
                origin=origin,
                detail={"reason": reason, "by": by},
            ),
            at=at,
        )

    # -- administration ---------------------------------------------------------------------

    def credential(self, credential_id: bytes) -> WebAuthnCredentialInfo:
        with self._store.read() as tx:
            row = tx.connection.execute(_INFO.where(_w.c.credential_id == credential_id)).first()
        if row is None:
            raise NotFound("No security key credential has that ID.")
        return _info(row)

    def credentials(self, username: str | None = None) -> list[WebAuthnCredentialInfo]:
        """Every credential (oldest first), or one person's."""
        stmt = _INFO.order_by(_w.c.id)
        with self._store.read() as tx:
            if username is not None:
                stmt = stmt.where(_w.c.user_id == tx.require_user(username).id)
            return [_info(row) for row in tx.connection.execute(stmt)]

    def revoke(
        self, credential_id: bytes, *, by: str, origin: str | None = None
    ) -> Revoked[WebAuthnCredentialInfo]:
        """Revoke a credential for good, and end the sessions it opened."""
        return self._change_state(
            credential_id, "revoked", frm=("active", "suspended"), by=by, origin=origin
        )

    def unsuspend(
        self, credential_id: bytes, *, by: str, origin: str | None = None
    ) -> WebAuthnCredentialInfo:
        """Make a suspended credential usable again. Its stored count stays: the key must
        present a higher one at its next login (or be suspended again)."""
        return self._change_state(
            credential_id, "active", frm=("suspended",), by=by, origin=origin
        ).info

    def _change_state(
        self,
        credential_id: bytes,
        to: CredentialState,
        *,
        frm: tuple[str, ...],
        by: str,
        origin: str | None,
    ) -> Revoked[WebAuthnCredentialInfo]:
        now = self._clock.now()
        with self._store.write() as tx:
            conn = tx.connection
            row = conn.execute(_INFO.where(_w.c.credential_id == credential_id)).first()
            if row is None:
                raise NotFound("No security key credential has that ID.")
            done = conn.execute(
                update(_w)
                .where(_w.c.id == row.id, _w.c.state.in_(frm))
                .values(
                    state=to, state_reason=None if to == "active" else "admin", state_changed_at=now
                )
            )
            if done.rowcount != 1:
                allowed = "an active or suspended" if to == "revoked" else "a suspended"
                verb = "revoked" if to == "revoked" else "unsuspended"
                raise WebAuthnConflict(
                    f"The credential is {row.state}; only {allowed} one can be {verb}."
                )
            tx.audit(
                AuditEvent(
                    "fido2_revoked" if to == "revoked" else "fido2_unsuspended",
                    "info",
                    username=row.username,
                    factor=FIDO2_FACTOR,
                    origin=origin,
                    detail={
                        "credential_id": b64url(credential_id),
                        "aaguid": row.aaguid,
                        "was": row.state,
                        "by": by,
                    },
                ),
                at=now,
            )
            ended = 0
            if to == "revoked":
                ended = tx.end_sessions_of(
                    credential_ref("fido2", b64url(credential_id)),
                    reason=CREDENTIAL_REVOKED,
                    by=by,
                    origin=origin,
                    at=now,
                )
        return Revoked(info=self.credential(credential_id), sessions_ended=ended)
