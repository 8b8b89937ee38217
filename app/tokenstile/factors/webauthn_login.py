"""Usernameless FIDO2 login over a store port: challenges under opaque handles, the sign
counter rule, suspension of a credential that looks cloned.

The flow the server runs, one transaction per step::

    options = login.begin(store)                 # a challenge stored under a new handle
    ... the kiosk's key signs it ...
    outcome = login.finish(store, handle, parse_assertion(body["credential"]))
    # audit the outcome in the same transaction; tokens only when outcome.accepted

Challenges live in the store, not in a process, so a handle one replica issued can be
completed at another. A handle is single use by construction: ``take_challenge`` is one
conditional ``DELETE ... RETURNING``, so of two requests presenting the same handle at
once, on any replicas, exactly one gets the challenge. The store keeps only SHA-256 of
a handle, so reading the table gives nothing to present.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from tokenstile.clock import Clock
from tokenstile.factors.webauthn import (
    CHALLENGE_BYTES,
    CHALLENGE_TTL,
    Assertion,
    CeremonyRejected,
    MalformedResponse,
    RejectReason,
    RelyingParty,
    b64url,
    check_assertion,
    counter_advances,
    load_public_key,
    login_acr,
    login_amr,
)
from tokenstile.factors.webauthn_registration import HARDWARE_ASSURANCES
from tokenstile.tokens.model import User

CredentialState = Literal["active", "suspended", "revoked"]
Purpose = Literal["login", "register"]

LoginStatus = (
    Literal[
        "accepted",
        "unknown_handle",
        "expired",
        "unknown_credential",
        "credential_revoked",
        "credential_suspended",
        "user_disabled",
        "counter_regression",
        "wrong_binding",
    ]
    | RejectReason
)

# What the person at the kiosk reads for each refusal that is not a broken rule of the
# assertion itself (those are ``webauthn.REJECTIONS``).
LOGIN_REFUSALS: dict[str, str] = {
    "unknown_handle": "This login request is unknown or was already used: start again.",
    "expired": "This login request has expired: start again.",
    "unknown_credential": "This security key is not enrolled here.",
    "credential_revoked": "This security key has been revoked.",
    "credential_suspended": "This security key is suspended: ask an administrator.",
    "user_disabled": "This account is disabled.",
    "counter_regression": "This security key's signature counter went backwards, the sign of "
    "a cloned key: it is now suspended; ask an administrator.",
    "wrong_binding": "This login request was made for another browser or another sign-in: "
    "start again.",
}

_HANDLE = re.compile(r"[A-Za-z0-9_-]{16,128}")

# What a tap's challenge is bound to (``WebAuthnService.tap_options``): a full login's
# handle fails a tap with ``wrong_binding``, and a tap's handle fails a full login.
TAP_BINDING: Mapping[str, str] = {"mode": "tap"}


def new_handle() -> str:
    return secrets.token_urlsafe(32)


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def handle_hash(handle: str) -> bytes:
    """What the store keeps of a handle (256-bit random: a plain SHA-256 suffices)."""
    return hashlib.sha256(handle.encode("ascii")).digest()


def check_handle(value: object) -> str:
    if not isinstance(value, str) or not _HANDLE.fullmatch(value):
        raise MalformedResponse("The handle is missing or is not one this server issues.")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class WebAuthnCredential:
    """An enrolled credential with the state of its person, as a login reads it."""

    id: int
    credential_id: bytes
    user: User
    user_handle: bytes = field(repr=False)
    public_key: bytes = field(repr=False)  # canonical COSE_Key
    algorithm: int
    aaguid: str
    sign_count: int
    state: CredentialState
    uv_method: str
    label: str
    # What enrollment verified (``webauthn_registration.Assurance``); only "attested"
    # and "vouched" sign in as a hardware key.
    assurance: str = "unverified"

    @property
    def hardware(self) -> bool:
        return self.assurance in HARDWARE_ASSURANCES


@dataclass(frozen=True, slots=True)
class StoredChallenge:
    challenge: bytes = field(repr=False)
    purpose: str
    expires_at: float
    user_id: int | None = None
    context: Mapping[str, Any] = field(default_factory=dict)


class WebAuthnStore(Protocol):
    """What the FIDO2 factor needs from storage; one ceremony step runs in one transaction."""

    def put_challenge(
        self,
        digest: bytes,
        *,
        purpose: Purpose,
        challenge: bytes,
        expires_at: float,
        user_id: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None: ...

    def take_challenge(self, digest: bytes, *, purpose: Purpose) -> StoredChallenge | None:
        """Remove and return the challenge in one statement (``DELETE ... RETURNING``): of
        concurrent takers exactly one gets it. Expired ones are returned too, so the
        caller can say "expired" rather than "unknown"."""
        ...

    def find_credential(self, credential_id: bytes) -> WebAuthnCredential | None: ...

    def record_assertion(
        self, credential_pk: int, *, sign_count: int, backed_up: bool, at: float
    ) -> bool:
        """Store the new count, atomically and only forward::

            UPDATE ... SET sign_count = :n, last_used_at = :at
             WHERE id = :id AND state = 'active'
               AND (sign_count < :n OR (sign_count = 0 AND :n = 0))

        False when the row did not change (revoked, suspended, or another request
        recorded an equal or higher count meanwhile)."""
        ...

    def suspend_credential(self, credential_pk: int, *, reason: str, at: float) -> bool:
        """``state = 'suspended' WHERE state = 'active'``; True if this call did it."""
        ...

    def credential_state(self, credential_pk: int) -> tuple[CredentialState, int] | None:
        """The state and count now (after a ``record_assertion`` that changed nothing)."""
        ...


@dataclass(frozen=True, slots=True)
class LoginOptions:
    handle: str
    public_key: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"handle": self.handle, "publicKey": self.public_key}


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """One attempt. ``credential`` is known whenever the assertion named an enrolled
    credential; ``suspended`` says this attempt suspended it (an alert)."""

    status: LoginStatus
    credential: WebAuthnCredential | None = None
    presented_count: int | None = None
    suspended: bool = False
    user_verified: bool = False

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @property
    def amr(self) -> tuple[str, ...]:
        credential = self.credential
        if credential is None:
            return ()
        return login_amr(credential.uv_method, hardware=credential.hardware)

    @property
    def acr(self) -> str:
        """``phrh`` only for a credential whose hardware was verified or vouched for."""
        return login_acr(hardware=self.credential is not None and self.credential.hardware)

    def describe(self) -> str:
        from tokenstile.factors.webauthn import REJECTIONS

        if self.accepted:
            return "Signed in."
        return LOGIN_REFUSALS.get(self.status) or REJECTIONS[self.status]


class WebAuthnLogin:
    """Begin and finish usernameless logins for one relying party."""

    def __init__(self, rp: RelyingParty, *, clock: Clock, ttl: float = CHALLENGE_TTL) -> None:
        self.rp = rp
        self._clock = clock
        self.ttl = ttl

    def request_options(
        self, challenge: bytes, *, user_verification: str = "required"
    ) -> dict[str, Any]:
        """PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3 section 5.5): no
        allowCredentials, so the key offers its discoverable credentials for this RP.
        A tap (``tokens.shifts``) asks for ``discouraged``: presence only, no PIN."""
        return {
            "challenge": b64url(challenge),
            "timeout": int(self.ttl * 1000),
            "rpId": self.rp.id,
            "allowCredentials": [],
            "userVerification": user_verification,
            "hints": ["security-key"],
        }

    def begin(
        self,
        store: WebAuthnStore,
        *,
        binding: Mapping[str, str] | None = None,
        user_verification: str = "required",
    ) -> LoginOptions:
        """A challenge under a new handle; ``binding`` (kept with it) is what ``finish``
        must be shown again: the browser sign-in binds its pre-session cookie and its
        authorization request, so a handle is worth nothing in another browser."""
        handle, challenge = new_handle(), new_challenge()
        store.put_challenge(
            handle_hash(handle),
            purpose="login",
            challenge=challenge,
            expires_at=self._clock.now() + self.ttl,
            context=binding,
        )
        return LoginOptions(
            handle, self.request_options(challenge, user_verification=user_verification)
        )

    def finish(
        self,
        store: WebAuthnStore,
        handle: str,
        assertion: Assertion,
        *,
        binding: Mapping[str, str] | None = None,
        require_uv: bool = True,
    ) -> LoginOutcome:
        """Consume the handle, check the assertion, apply the counter rule.

        ``require_uv=False`` only for a tap (its handle is bound to ``TAP_BINDING``):
        user presence, signature, challenge and counter are checked exactly as always.

        The handle is spent whatever follows: a refused assertion cannot be retried with
        it. A counter that fails to increase suspends the credential, but only after the
        signature verified: an assertion anyone could forge must not be able to
        suspend someone's key.
        """
        now = self._clock.now()
        taken = store.take_challenge(handle_hash(handle), purpose="login")
        if taken is None:
            return LoginOutcome("unknown_handle")
        if taken.expires_at <= now:
            return LoginOutcome("expired")
        if dict(taken.context) != dict(binding or {}):
            return LoginOutcome("wrong_binding")
        credential = store.find_credential(assertion.credential_id)
        if credential is None:
            return LoginOutcome("unknown_credential")
        presented = assertion.authenticator_data.sign_count
        try:
            check_assertion(
                self.rp,
                assertion,
                challenge=taken.challenge,
                public_key=load_public_key(credential.public_key),
                user_handle=credential.user_handle,
                require_uv=require_uv,
            )
        except CeremonyRejected as exc:
            return LoginOutcome(exc.reason, credential, presented)
        if credential.state != "active":
            status: LoginStatus = (
                "credential_revoked" if credential.state == "revoked" else "credential_suspended"
            )
            return LoginOutcome(status, credential, presented)
        if not credential.user.enabled:
            return LoginOutcome("user_disabled", credential, presented)
        if counter_advances(credential.sign_count, presented) and store.record_assertion(
            credential.id,
            sign_count=presented,
            backed_up=assertion.authenticator_data.backed_up,
            at=now,
        ):
            verified = assertion.authenticator_data.user_verified if not require_uv else True
            return LoginOutcome("accepted", credential, presented, user_verified=verified)
        # Either the count did not increase, or another request recorded an equal or
        # higher one since this one read the row: both mean two keys answer for one
        # credential. Unless the credential left the active state meanwhile.
        current = store.credential_state(credential.id)
        if current is not None and current[0] != "active":
            status = "credential_revoked" if current[0] == "revoked" else "credential_suspended"
            return LoginOutcome(status, credential, presented)
        suspended = store.suspend_credential(credential.id, reason="counter_regression", at=now)
        return LoginOutcome("counter_regression", credential, presented, suspended=suspended)
