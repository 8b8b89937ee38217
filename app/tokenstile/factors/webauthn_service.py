"""The FIDO2 factor's use cases, each one transaction with its audit rows in it.

``WebAuthnService`` works over ``WebAuthnTransactions`` the way ``TokenService`` works
over ``TokenStore``: the store (``store.webauthn_repository``) opens a ``WebAuthnTx``
and answers its questions in SQL; every rule lives here. The use cases: login options,
the login itself (with the ``fido2_credential_suspended`` alert of a counter regression
and the end of every session the suspect key opened), registration begin and complete
for a named person, listing, revocation and unsuspension, and loading FIDO metadata (with
the suspension, in the same transaction, of every active credential whose model the new
BLOB refuses; such a credential cannot be unsuspended while the loaded BLOB still does).

Over 600 lines: one service over one transaction port, its records and that port's
protocol; the use cases share the audit and state helpers, so they stay together (the
rules themselves live in ``webauthn_login``, ``webauthn_registration`` and
``webauthn_metadata``).
"""

from __future__ import annotations

import copy
import dataclasses
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from fido2.mds3 import MetadataBlobPayload

from tokenstile.clock import Clock
from tokenstile.errors import ConfigError, NotFound, StoreError
from tokenstile.factors.webauthn import (
    ALGORITHM_NAMES,
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
    TAP_BINDING,
    CredentialState,
    LoginOptions,
    LoginOutcome,
    WebAuthnLogin,
    WebAuthnStore,
    handle_hash,
    new_challenge,
    new_handle,
)
from tokenstile.factors.webauthn_metadata import (
    METADATA_SUSPENSION,
    MetadataRefused,
    ModelMetadata,
    check_newer,
    models,
    parse_metadata,
)
from tokenstile.factors.webauthn_registration import (
    Assurance,
    AttestationPolicy,
    NewCredential,
    Registration,
    creation_options,
    verify_registration,
)
from tokenstile.tokens.model import (
    CREDENTIAL_REVOKED,
    CREDENTIAL_SUSPENDED,
    AuditEvent,
    Revoked,
    User,
    credential_ref,
)

FIDO2_FACTOR = "fido2"
USER_HANDLE_BYTES = 32
# How much of a free-text value (a label, who did it) the credential table keeps.
TEXT_CHARS = 256


def clip(text: str, limit: int = TEXT_CHARS) -> str:
    return text[:limit]


class WebAuthnConflict(StoreError):
    """The credential's state does not allow this, or it is already enrolled."""

    code = "webauthn_conflict"


# -- records -------------------------------------------------------------------------------


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
    # From the loaded FIDO metadata (none loaded, or no entry: None): the model's
    # description and its latest status (why a ``metadata_status`` suspension happened).
    model: str | None = None
    metadata_status: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def stored(cls, *, credential_id: bytes, algorithm: int, **rest: Any) -> WebAuthnCredentialInfo:
        """From what the store holds: the raw credential ID and the COSE algorithm."""
        return cls(
            credential_id=b64url(credential_id),
            algorithm=ALGORITHM_NAMES.get(algorithm, str(algorithm)),
            **rest,
        )


@dataclass(frozen=True, slots=True)
class RegistrationOptions:
    handle: str
    username: str
    public_key: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"handle": self.handle, "username": self.username, "publicKey": self.public_key}


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrolledCredential:
    """A verified registration as the store keeps it."""

    user_id: int
    user_handle: bytes
    new: NewCredential
    uv_method: str
    label: str
    enrolled_by: str
    vouched: bool = False  # an admin vouched for the key's hardware at enrollment

    @property
    def assurance(self) -> Assurance:
        """What the store keeps: an admin's word lifts an unverified key, never a
        software one (the key itself said what it is)."""
        earned = self.new.assurance
        return "vouched" if self.vouched and earned == "unverified" else earned


def parse_credential_id(text: str) -> bytes:
    """A credential ID as admins type it (base64url)."""
    return b64url_decode(text.strip(), "The credential ID", max_bytes=MAX_CREDENTIAL_ID_BYTES)


# -- the transaction port ------------------------------------------------------------------


class WebAuthnTx(WebAuthnStore, Protocol):
    """One database transaction; every method runs inside it."""

    def purge_expired_challenges(self, now: float) -> None:
        """Drop challenges expired long enough that no late answer is still expected."""
        ...

    def audit(self, event: AuditEvent, *, at: float) -> None: ...

    def end_sessions_of(
        self, credential: str, *, reason: str, by: str, origin: str | None, at: float
    ) -> int:
        """Revoke every live session ``credential`` (``credential_ref``) opened."""
        ...

    def get_user(self, user_id: int) -> User | None: ...

    def require_user(self, username: str) -> User:
        """The person by name, or ``NotFound``."""
        ...

    def user_handle_of(self, user_id: int) -> bytes | None:
        """The user handle of the person's first credential, if they have one."""
        ...

    def credential_ids_of(self, user_id: int) -> Sequence[bytes]:
        """The IDs of the person's credentials that are not revoked."""
        ...

    def credential_enrolled(self, credential_id: bytes) -> bool: ...

    def add_credential(self, credential: EnrolledCredential, *, at: float) -> None:
        """Store an active credential; ``WebAuthnConflict`` if its ID is enrolled."""
        ...

    def credential_info(self, credential_id: bytes) -> WebAuthnCredentialInfo | None: ...

    def credential_infos(self, user_id: int | None = None) -> list[WebAuthnCredentialInfo]:
        """Every credential (oldest first), or one person's."""
        ...

    def change_credential_state(
        self,
        credential_id: bytes,
        to: CredentialState,
        *,
        frm: tuple[CredentialState, ...],
        reason: str | None,
        at: float,
    ) -> bool:
        """``state = to WHERE state IN frm``; True if this call changed it."""
        ...

    def metadata_blob(self) -> tuple[int, bytes] | None:
        """The loaded FIDO metadata BLOB with the highest ``no``, and that number."""
        ...

    def metadata_number(self) -> int | None:
        """The highest ``no`` of the loaded BLOBs (a small query: no BLOB is read)."""
        ...

    def add_metadata(
        self, *, no: int, next_update: str, entries: int, blob: bytes, at: float, by: str
    ) -> None:
        """Keep a BLOB; ``WebAuthnConflict`` if its ``no`` is loaded already."""
        ...

    def lock_metadata(self, *, exclusive: bool) -> None:
        """Until the transaction ends, order this transaction with the others that read or
        load metadata: a load (``exclusive``) waits for enrollments that read the loaded
        BLOB (shared) and they for it, so a credential is never enrolled under a BLOB that a
        concurrent load replaces without seeing that credential. (SQLite: its writers are
        serialised already.)"""
        ...

    def active_credentials_of(self, aaguids: Collection[str]) -> list[WebAuthnCredentialInfo]:
        """The active credentials of these models (AAGUIDs), oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class LoadedMetadata:
    """A BLOB just loaded, and the credentials its statuses suspended."""

    no: int
    entries: int
    next_update: str
    suspended: list[WebAuthnCredentialInfo]


@dataclass(frozen=True, slots=True)
class _MetadataIndex:
    """The loaded BLOB (verified) and its models by AAGUID, kept per ``no``."""

    no: int
    payload: MetadataBlobPayload
    models: dict[str, ModelMetadata]


class WebAuthnTransactions(Protocol):
    def write(self) -> AbstractContextManager[WebAuthnTx]:
        """A transaction that will write (SQLite: BEGIN IMMEDIATE)."""
        ...

    def read(self) -> AbstractContextManager[WebAuthnTx]: ...


# -- the use cases -------------------------------------------------------------------------


class WebAuthnService:
    """Every FIDO2 operation as one transaction, audited in that transaction."""

    def __init__(
        self,
        store: WebAuthnTransactions,
        *,
        rp: RelyingParty,
        clock: Clock,
        policy: AttestationPolicy | None = None,
        mds_root: bytes | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self.rp = rp
        self.policy = dataclasses.replace(
            policy or AttestationPolicy(), uses_metadata=mds_root is not None
        )
        self.mds_root = mds_root  # the FIDO MDS root (DER) that signs metadata BLOBs
        self._index: _MetadataIndex | None = None  # the last BLOB verified, by its ``no``
        self.flow = WebAuthnLogin(rp, clock=clock)

    # -- login -------------------------------------------------------------------------------

    def login_options(self, *, binding: Mapping[str, str] | None = None) -> LoginOptions:
        """A new challenge under a new handle (and the long-expired ones cleared away)."""
        with self._store.write() as tx:
            tx.purge_expired_challenges(self._clock.now())
            return self.flow.begin(tx, binding=binding)

    def for_origins(self, origins: Iterable[str]) -> WebAuthnService:
        """This service (same store, policy, RP ID) accepting only ``origins``: the
        browser sign-in page accepts its own origin, never the kiosks'."""
        rp = dataclasses.replace(self.rp, origins=frozenset(origins))
        other = copy.copy(self)
        other.rp = rp
        other.flow = WebAuthnLogin(rp, clock=self._clock)
        return other

    def login(
        self,
        handle: str,
        assertion: Assertion,
        *,
        client_id: str | None = None,
        origin: str | None = None,
        binding: Mapping[str, str] | None = None,
    ) -> LoginOutcome:
        with self._store.write() as tx:
            outcome = self.flow.finish(tx, handle, assertion, binding=binding)
            self._audit_login(tx, outcome, assertion, client_id=client_id, origin=origin)
        return outcome

    def tap_options(self) -> LoginOptions:
        """A tap's challenge (tap-and-go, ``tokens.shifts``): user presence only, under a
        handle bound to ``TAP_BINDING`` so it is worth nothing for a full sign-in."""
        with self._store.write() as tx:
            tx.purge_expired_challenges(self._clock.now())
            return self.flow.begin(tx, binding=TAP_BINDING, user_verification="discouraged")

    def tap(
        self, handle: str, assertion: Assertion, *, client_id: str, origin: str | None = None
    ) -> LoginOutcome:
        """Check a tap's assertion exactly as a login's, but for user verification, which
        is neither required nor, when present, counted. Whether the tap falls inside a
        shift grant is the caller's next step (``tokens.shifts.check_tap``)."""
        with self._store.write() as tx:
            outcome = self.flow.finish(tx, handle, assertion, binding=TAP_BINDING, require_uv=False)
            self._audit_login(tx, outcome, assertion, client_id=client_id, origin=origin, tap=True)
        return outcome

    def _audit_login(
        self,
        tx: WebAuthnTx,
        outcome: LoginOutcome,
        assertion: Assertion,
        *,
        client_id: str | None,
        origin: str | None,
        tap: bool = False,
    ) -> None:
        now = self._clock.now()
        credential = outcome.credential
        detail: dict[str, Any] = {"credential_id": b64url(assertion.credential_id)[:200]}
        if tap:
            detail["mode"] = "tap"
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
            user = tx.require_user(username)
            user_handle = tx.user_handle_of(user.id) or secrets.token_bytes(USER_HANDLE_BYTES)
            exclude = list(tx.credential_ids_of(user.id))
            handle, challenge = new_handle(), new_challenge()
            tx.purge_expired_challenges(now)
            tx.put_challenge(
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
        vouched: bool = False,
    ) -> WebAuthnCredentialInfo:
        """Verify the key's answer and store the credential; refusals are audited.

        ``vouched``: the admin vouches that the key is hardware although its attestation
        was not verified to a root; recorded in the audit row, and the credential then
        signs in as a hardware key (``amr`` ``hwk``, ``acr`` ``phrh``)."""
        if uv_method not in UV_METHODS:
            raise MalformedResponse(f"user_verification must be one of {', '.join(UV_METHODS)}.")
        now = self._clock.now()
        with self._store.write() as tx:
            refusal = self._complete(
                tx,
                handle,
                registration,
                by=by,
                origin=origin,
                uv_method=uv_method,
                vouched=vouched,
                now=now,
            )
        if refusal is not None:
            raise refusal
        return self.credential(registration.credential_id)

    def _complete(
        self,
        tx: WebAuthnTx,
        handle: str,
        registration: Registration,
        *,
        by: str,
        origin: str | None,
        uv_method: str,
        vouched: bool,
        now: float,
    ) -> Exception | None:
        """Store the credential, or audit the refusal (committed) and return it."""
        taken = tx.take_challenge(handle_hash(handle), purpose="register")
        if self.mds_root is not None:
            tx.lock_metadata(exclusive=False)  # no load may pass this enrollment unseen
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
                self.rp,
                registration,
                challenge=taken.challenge,
                policy=self.policy,
                metadata=self._metadata(tx),
                now=now,
            )
        except CeremonyRejected as exc:
            self._audit_enroll_failure(tx, user, exc.reason, origin=origin, by=by, at=now)
            return exc
        except MalformedResponse as exc:
            self._audit_enroll_failure(tx, user, "malformed", origin=origin, by=by, at=now)
            return exc
        taken_by = str(taken.context.get("by") or by)
        if tx.credential_enrolled(new.credential_id):
            self._audit_enroll_failure(tx, user, "already_enrolled", origin=origin, by=by, at=now)
            return WebAuthnConflict("This security key credential is already enrolled.")
        label = str(taken.context.get("label") or "Security key")
        enrolled = EnrolledCredential(
            user_id=user.id,
            user_handle=b64url_decode(
                taken.context.get("user_handle"), "user handle", max_bytes=64
            ),
            new=new,
            uv_method=uv_method,
            label=label,
            enrolled_by=clip(taken_by),
            vouched=vouched,
        )
        tx.add_credential(enrolled, at=now)
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
                    "assurance": enrolled.assurance,
                    "vouched_by": by if vouched else None,
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
        tx: WebAuthnTx, user: User | None, reason: str, *, origin: str | None, by: str, at: float
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

    # -- FIDO metadata (MDS3) ---------------------------------------------------------------

    def _metadata(self, tx: WebAuthnTx) -> MetadataBlobPayload | None:
        """The loaded BLOB, verified again (the database is not its signer)."""
        index = self._metadata_index(tx)
        return index.payload if index is not None else None

    def _metadata_index(self, tx: WebAuthnTx) -> _MetadataIndex | None:
        """The loaded BLOB and its models; verified once per ``no`` this process sees."""
        if self.mds_root is None:
            return None
        no = tx.metadata_number()
        cached = self._index
        if no is None or (cached is not None and cached.no == no):
            return cached if no is not None else None
        loaded = tx.metadata_blob()
        if loaded is None:
            return None
        payload = parse_metadata(loaded[1], self.mds_root)
        self._index = _MetadataIndex(loaded[0], payload, models(payload))
        return self._index

    def _listing_index(self, tx: WebAuthnTx) -> _MetadataIndex | None:
        """For showing models: a stored BLOB that no longer verifies (the MDS root setting
        changed) shows no models rather than failing the listing."""
        try:
            return self._metadata_index(tx)
        except MetadataRefused:
            return None

    def load_metadata(self, blob: bytes, *, by: str, origin: str | None = None) -> LoadedMetadata:
        """Verify a BLOB to the MDS root and keep it, if it is newer than the loaded one,
        and suspend every active credential whose model it refuses, in one transaction;
        ``MetadataRefused`` (``MetadataNotNewer`` for an old or replayed ``no``: nothing
        changed) otherwise."""
        if self.mds_root is None:
            raise ConfigError(
                "Set webauthn_mds_root to the PEM file of the FIDO MDS root certificate "
                "before loading metadata."
            )
        payload = parse_metadata(blob, self.mds_root)
        index = _MetadataIndex(payload.no, payload, models(payload))
        now = self._clock.now()
        with self._store.write() as tx:
            # One load at a time: a second replica loading the same BLOB waits, then finds
            # its ``no`` loaded (MetadataNotNewer) and suspends nothing twice.
            tx.lock_metadata(exclusive=True)
            check_newer(payload, tx.metadata_number())
            next_update = payload.next_update.isoformat()
            tx.add_metadata(
                no=payload.no,
                next_update=next_update,
                entries=len(payload.entries),
                blob=blob.strip(),
                at=now,
                by=clip(by),
            )
            suspended = self._suspend_refused(tx, index, by=by, origin=origin, now=now)
            tx.audit(
                AuditEvent(
                    "fido2_metadata_loaded",
                    "info",
                    factor=FIDO2_FACTOR,
                    origin=origin,
                    detail={
                        "no": payload.no,
                        "next_update": next_update,
                        "entries": len(payload.entries),
                        "suspended": len(suspended),
                        "by": by,
                    },
                ),
                at=now,
            )
        self._index = index
        return LoadedMetadata(payload.no, len(payload.entries), next_update, suspended)

    def audit_metadata_failure(
        self, code: str, reason: str, *, url: str, origin: str | None = None
    ) -> None:
        """An unattended refresh that failed (the loaded BLOB stays): one audit row."""
        with self._store.write() as tx:
            tx.audit(
                AuditEvent(
                    "fido2_metadata_refresh_failed",
                    "failure",
                    factor=FIDO2_FACTOR,
                    origin=origin,
                    detail={"code": code, "reason": clip(reason, 512), "url": clip(url, 512)},
                ),
                at=self._clock.now(),
            )

    def _suspend_refused(
        self, tx: WebAuthnTx, index: _MetadataIndex, *, by: str, origin: str | None, now: float
    ) -> list[WebAuthnCredentialInfo]:
        """Suspend the active credentials of the models the BLOB refuses, each with an
        alert audit row, and end the sessions they opened (their keys are not trusted)."""
        refused = {aaguid: m for aaguid, m in index.models.items() if m.refused}
        suspended: list[WebAuthnCredentialInfo] = []
        for info in tx.active_credentials_of(refused) if refused else []:
            model = refused[info.aaguid]
            credential_id = parse_credential_id(info.credential_id)
            if not tx.change_credential_state(
                credential_id, "suspended", frm=("active",), reason=METADATA_SUSPENSION, at=now
            ):
                continue
            ended = tx.end_sessions_of(
                credential_ref("fido2", info.credential_id),
                reason=CREDENTIAL_SUSPENDED,
                by=METADATA_SUSPENSION,
                origin=origin,
                at=now,
            )
            tx.audit(
                AuditEvent(
                    "fido2_credential_suspended",
                    "alert",
                    username=info.username,
                    factor=FIDO2_FACTOR,
                    origin=origin,
                    detail={
                        "credential_id": info.credential_id,
                        "aaguid": info.aaguid,
                        "reason": METADATA_SUSPENSION,
                        "status": model.status,
                        "model": model.description,
                        "metadata_no": index.no,
                        "sessions_ended": ended,
                        "by": by,
                    },
                ),
                at=now,
            )
            suspended.append(
                dataclasses.replace(
                    info,
                    state="suspended",
                    state_reason=METADATA_SUSPENSION,
                    model=model.description or None,
                    metadata_status=model.status,
                )
            )
        return suspended

    @staticmethod
    def _with_model(
        info: WebAuthnCredentialInfo, index: _MetadataIndex | None
    ) -> WebAuthnCredentialInfo:
        model = index.models.get(info.aaguid) if index is not None else None
        if model is None:
            return info
        return dataclasses.replace(
            info, model=model.description or None, metadata_status=model.status
        )

    # -- administration ---------------------------------------------------------------------

    def credential(self, credential_id: bytes) -> WebAuthnCredentialInfo:
        with self._store.read() as tx:
            info = tx.credential_info(credential_id)
            if info is None:
                raise NotFound("No security key credential has that ID.")
            return self._with_model(info, self._listing_index(tx))

    def credentials(self, username: str | None = None) -> list[WebAuthnCredentialInfo]:
        """Every credential (oldest first), or one person's, with its model's description
        and status from the loaded metadata."""
        with self._store.read() as tx:
            user_id = tx.require_user(username).id if username is not None else None
            index = self._listing_index(tx)
            return [self._with_model(info, index) for info in tx.credential_infos(user_id)]

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
        present a higher one at its next login (or be suspended again). Refused
        (``WebAuthnConflict``) while the loaded FIDO metadata refuses the key's model: the
        metadata, not the admin, said the model cannot be trusted."""
        return self._change_state(
            credential_id, "active", frm=("suspended",), by=by, origin=origin
        ).info

    def _change_state(
        self,
        credential_id: bytes,
        to: CredentialState,
        *,
        frm: tuple[CredentialState, ...],
        by: str,
        origin: str | None,
    ) -> Revoked[WebAuthnCredentialInfo]:
        now = self._clock.now()
        with self._store.write() as tx:
            info = tx.credential_info(credential_id)
            if info is None:
                raise NotFound("No security key credential has that ID.")
            if to == "active":
                self._check_model_allows_unsuspend(tx, info)
            reason = None if to == "active" else "admin"
            if not tx.change_credential_state(credential_id, to, frm=frm, reason=reason, at=now):
                allowed = "an active or suspended" if to == "revoked" else "a suspended"
                verb = "revoked" if to == "revoked" else "unsuspended"
                raise WebAuthnConflict(
                    f"The credential is {info.state}; only {allowed} one can be {verb}."
                )
            tx.audit(
                AuditEvent(
                    "fido2_revoked" if to == "revoked" else "fido2_unsuspended",
                    "info",
                    username=info.username,
                    factor=FIDO2_FACTOR,
                    origin=origin,
                    detail={
                        "credential_id": b64url(credential_id),
                        "aaguid": info.aaguid,
                        "was": info.state,
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

    def _check_model_allows_unsuspend(self, tx: WebAuthnTx, info: WebAuthnCredentialInfo) -> None:
        index = self._metadata_index(tx)
        model = index.models.get(info.aaguid) if index is not None else None
        if index is not None and model is not None and model.refused:
            raise WebAuthnConflict(
                f"The loaded FIDO metadata (BLOB number {index.no}) reports {model.status} "
                f"for this model ({model.description or info.aaguid}): the credential stays "
                "suspended while it does. Revoke it, or load a BLOB that no longer says so."
            )
