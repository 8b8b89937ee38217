"""Issuing a kiosk its offline lease (issue 17, offline sign-in; the format is
``protocol.offline_lease``).

Who may have one: a kiosk, and only while a person is signed in there. The request
carries that session's own local access token (``urn:tokenstile:local``, DPoP-bound if
the kiosk client is), the session must live and its client must be a **kiosk** client;
a stranger on the network, a desktop app with an app client's token, a resource server
holding a leaked token for its own audience are all refused. The lease lists every
enrolled hardware factor's public half (no secret: OTP seeds never leave the service),
but who works where is still worth keeping from strangers, hence the sign-in.

Each lease issued is an audit row (who was signed in, which kiosk, how many entries, its
id and expiry), so an operator can tell which kiosks hold a lease from before a
revocation. A lifetime of 0 (``kiosk_offline_hours``, the default) turns leases off.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography import x509

from tokenstile.clock import Clock
from tokenstile.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    TokenstileError,
    UnauthorizedClient,
)
from tokenstile.factors.piv_login import PivCardRecord
from tokenstile.factors.webauthn import (
    CeremonyRejected,
    MalformedResponse,
    RelyingParty,
    b64url,
    check_assertion,
    counter_advances,
    load_public_key,
    parse_assertion,
)
from tokenstile.factors.webauthn_login import WebAuthnCredential
from tokenstile.protocol.jose import b64url_decode
from tokenstile.protocol.offline_lease import (
    LEASE_TYPE,
    OFFLINE_CHALLENGE_BYTES,
    Lease,
    LeaseCard,
    LeaseKey,
    lease_claims,
)
from tokenstile.protocol.piv_message import card_signature_verifies, login_message
from tokenstile.tokens.dpop import check_token_binding
from tokenstile.tokens.model import AuditEvent, Client, User, credential_ref
from tokenstile.tokens.service import TokenService


class OfflineLeasesOff(UnauthorizedClient):
    """This service gives no offline leases (``kiosk_offline_hours`` is 0)."""

    code = "offline_disabled"
    status = 404


class LeaseSource(Protocol):
    def lease_entries(self) -> tuple[list[LeaseKey], list[LeaseCard]]: ...


class OfflineLeases:
    """``issue``: a signed lease for the kiosk whose signed-in session presents it."""

    __slots__ = ("_clients", "_lifetime", "_rp_id", "_service", "_source")

    def __init__(
        self,
        service: TokenService,
        source: LeaseSource,
        clients: Callable[[str], Client | None],
        *,
        lifetime: float,
        rp_id: str,
    ) -> None:
        self._service = service
        self._source = source
        self._clients = clients
        self._lifetime = lifetime
        self._rp_id = rp_id

    @property
    def enabled(self) -> bool:
        return self._lifetime > 0

    def issue(self, access_token: str, *, dpop_jkt: str | None) -> tuple[str, float]:
        """The lease (a JWS) and when it expires; ``dpop_jkt`` as for userinfo."""
        if not self.enabled:
            raise OfflineLeasesOff("This service gives no offline leases.")
        minter = self._service.minter
        found = self._service.introspection.local_session(access_token)
        if found is None:
            raise InvalidToken("The access token is not valid.")
        try:
            check_token_binding(found.claims, dpop_jkt)
        except TokenstileError as exc:
            raise InvalidToken("The access token is not valid.") from exc
        session, user = found.session, found.user
        client = self._clients(session.client_id)
        now = minter.clock.now()
        if client is None or client.kind != "kiosk" or not client.enabled:
            with minter.store.write() as tx:
                tx.audit(
                    AuditEvent(
                        "offline_lease",
                        "failure",
                        username=user.username,
                        client_id=session.client_id,
                        sid=session.sid,
                        detail={"reason": "not a kiosk client"},
                    ),
                    at=now,
                )
            raise UnauthorizedClient("Only a kiosk is given an offline lease.")
        keys, cards = self._source.lease_entries()
        lease = Lease(
            lease_id=secrets.token_urlsafe(16),
            issuer=minter.issuer,
            client_id=client.client_id,
            rp_id=self._rp_id,
            issued_at=float(int(now)),
            expires_at=float(int(now + self._lifetime)),
            keys=tuple(keys),
            cards=tuple(cards),
        )
        signer = minter.keyring.signer(now)
        token = jwt.encode(
            lease_claims(lease),
            signer.private_key,
            algorithm=signer.alg,
            headers={"typ": LEASE_TYPE, "kid": signer.kid},
        )
        with minter.store.write() as tx:
            tx.audit(
                AuditEvent(
                    "offline_lease",
                    "success",
                    username=user.username,
                    client_id=client.client_id,
                    sid=session.sid,
                    detail={
                        "lease": lease.lease_id,
                        "keys": len(keys),
                        "cards": len(cards),
                        "expires_at": lease.expires_at,
                    },
                ),
                at=now,
            )
        return token, lease.expires_at


# -- the way back: an offline sign-in's evidence exchanged for a real session -------------


class EvidenceLedger(Protocol):
    def spend(
        self,
        digest: bytes,
        *,
        client_id: str,
        factor: str,
        signed_at: float,
        at: float,
        keep_until: float,
    ) -> bool: ...


class KeyLookup(Protocol):
    def find(self, credential_id: bytes) -> WebAuthnCredential | None: ...

    def record(self, credential: WebAuthnCredential, *, sign_count: int, at: float) -> bool: ...


class CardLookup(Protocol):
    def find(self, fingerprint: str) -> tuple[PivCardRecord, User] | None: ...


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What the service checked of an offline sign-in: open a session with these."""

    user: User
    factor: str
    amr: tuple[str, ...]
    acr: str
    signed_at: float
    credential: str  # credential_ref
    device: dict[str, Any]


OFFLINE_ACR = "phr"  # the kiosk's check was the gate; the service's own check came late
SKEW_SECONDS = 300.0


def signed_at_of(challenge: bytes) -> float:
    """The time a kiosk put in the first 8 bytes of its offline challenge (milliseconds
    since the epoch, big-endian): what the key or card signed, so the service learns when
    the sign-in happened from the signature, not from the kiosk's word."""
    if len(challenge) != OFFLINE_CHALLENGE_BYTES:
        raise InvalidGrant("The offline sign-in's challenge is not a kiosk's.")
    return int.from_bytes(challenge[:8], "big") / 1000.0


class OfflineExchange:
    """``key`` / ``card``: check an offline sign-in's evidence as the service checks a
    login, spend it once, and say who signed in (the caller opens the session).

    Refused, each with a sentence and an audit row: evidence that does not verify, a
    factor revoked or a person disabled since (the offline session then ends), a
    counter that did not move past what the service has seen, evidence older than the
    longest a lease lives (``max_age``) or from the future, and evidence spent before.
    """

    def __init__(
        self,
        *,
        rp: RelyingParty,
        keys: KeyLookup,
        cards: CardLookup,
        ledger: EvidenceLedger,
        audit: Callable[[AuditEvent], None],
        clock: Clock,
        max_age: float,
        piv_origin: str | None,
    ) -> None:
        self._rp = rp
        self._keys = keys
        self._cards = cards
        self._ledger = ledger
        self._audit = audit
        self._clock = clock
        self._max_age = max_age
        self._piv_origin = piv_origin

    def key(self, evidence: Mapping[str, Any], *, client_id: str) -> Reconciled:
        now = self._clock.now()
        try:
            assertion = parse_assertion(evidence)
        except MalformedResponse as exc:
            raise InvalidRequest(
                f"The offline evidence is not a key's answer: {exc.message}"
            ) from exc
        ref = credential_ref("fido2", b64url(assertion.credential_id))
        credential = self._keys.find(assertion.credential_id)
        username = credential.user.username if credential is not None else None
        refuse = self._refuser("fido2", client_id, username, ref)

        if credential is None:
            raise refuse("That security key is not enrolled.", "unknown_credential")
        signed_at = self._fresh(assertion.client_data.challenge, now, refuse)
        try:
            check_assertion(
                self._rp,
                assertion,
                challenge=assertion.client_data.challenge,
                public_key=load_public_key(credential.public_key),
                user_handle=credential.user_handle,
            )
        except CeremonyRejected as exc:
            raise refuse(
                f"The security key's offline answer does not verify: {exc.message}", exc.reason
            ) from exc
        if credential.state != "active":
            raise refuse(
                "That security key was revoked or suspended while the kiosk was offline: "
                "the offline session ends.",
                f"credential_{credential.state}",
            )
        if not credential.user.enabled:
            raise refuse("This account was disabled while the kiosk was offline.", "user_disabled")
        # Spent before the counter is looked at: a copy brought twice hears that it was
        # exchanged already, and stale evidence is burnt with its refusal.
        self._spend(
            assertion.client_data.hash,
            factor="fido2",
            client_id=client_id,
            signed_at=signed_at,
            now=now,
            refuse=refuse,
        )
        presented = assertion.authenticator_data.sign_count
        if not counter_advances(credential.sign_count, presented):
            raise refuse(
                "The security key has been used since this offline sign-in (its counter "
                "moved on), so it cannot be exchanged: sign in again.",
                "counter_behind",
            )
        self._keys.record(credential, sign_count=presented, at=now)
        return self._accepted(
            Reconciled(
                user=credential.user,
                factor="fido2",
                amr=("hwk", "pin"),
                acr=OFFLINE_ACR,
                signed_at=signed_at,
                credential=ref,
                device={
                    "aaguid": credential.aaguid,
                    "credential_id": b64url(assertion.credential_id),
                },
            ),
            client_id,
        )

    def card(self, evidence: Mapping[str, Any], *, client_id: str) -> Reconciled:
        now = self._clock.now()
        try:
            challenge = _b64(evidence, "challenge", 64)
            signature = _b64(evidence, "signature", 1024)
            certificate = _b64(evidence, "certificate", 8192)
        except ValueError as exc:
            raise InvalidRequest(f"The offline evidence is not a card's answer ({exc}).") from exc
        fingerprint = hashlib.sha256(certificate).hexdigest()
        ref = credential_ref("piv", fingerprint)
        found = self._cards.find(fingerprint)
        username = found[1].username if found is not None else None
        refuse = self._refuser("piv", client_id, username, ref)

        if found is None or found[0].certificate != certificate:
            raise refuse("That card is not enrolled.", "unknown_card")
        card, user = found
        signed_at = self._fresh(challenge, now, refuse)
        if self._piv_origin is None:
            raise refuse("The service has no origin for card sign-ins.", "no_origin")
        try:
            parsed = x509.load_der_x509_certificate(certificate)
            message = login_message(self._piv_origin, challenge)
        except ValueError as exc:
            raise refuse("The card's offline answer cannot be read.", "malformed") from exc
        if not card_signature_verifies(parsed, message, signature):
            raise refuse("The card's offline answer does not verify.", "bad_signature")
        if card.state != "active":
            raise refuse(
                "That card was revoked while the kiosk was offline: the offline session ends.",
                "card_revoked",
            )
        if not user.enabled:
            raise refuse("This account was disabled while the kiosk was offline.", "user_disabled")
        digest = hashlib.sha256(challenge + signature).digest()
        self._spend(
            digest, factor="piv", client_id=client_id, signed_at=signed_at, now=now, refuse=refuse
        )
        return self._accepted(
            Reconciled(
                user=user,
                factor="piv",
                amr=("sc", "pin"),
                acr=OFFLINE_ACR,
                signed_at=signed_at,
                credential=ref,
                device={"cert_serial": card.cert_serial, "fingerprint": fingerprint},
            ),
            client_id,
        )

    def _fresh(
        self, challenge: bytes, now: float, refuse: Callable[[str, str], InvalidGrant]
    ) -> float:
        try:
            signed_at = signed_at_of(challenge)
        except InvalidGrant:
            raise refuse(
                "The offline sign-in's challenge is not a kiosk's.", "foreign_challenge"
            ) from None
        if signed_at > now + SKEW_SECONDS:
            raise refuse("The offline sign-in is dated in the future.", "future")
        if signed_at < now - self._max_age:
            raise refuse(
                "The offline sign-in is older than any lease lives: sign in again.", "too_old"
            )
        return signed_at

    def _spend(
        self,
        digest: bytes,
        *,
        factor: str,
        client_id: str,
        signed_at: float,
        now: float,
        refuse: Callable[[str, str], InvalidGrant],
    ) -> None:
        if not self._ledger.spend(
            digest,
            client_id=client_id,
            factor=factor,
            signed_at=signed_at,
            at=now,
            keep_until=now + self._max_age + SKEW_SECONDS,
        ):
            raise refuse("That offline sign-in was already exchanged.", "replayed")

    def _refuser(
        self, factor: str, client_id: str, username: str | None, ref: str
    ) -> Callable[[str, str], InvalidGrant]:
        """``refuse(sentence, reason)``: writes the ``offline_exchange`` failure row and
        gives the error to raise."""

        def refuse(why: str, reason: str) -> InvalidGrant:
            self._audit(
                AuditEvent(
                    "offline_exchange",
                    "failure",
                    username=username,
                    client_id=client_id,
                    factor=factor,
                    detail={"reason": reason, "credential": ref[:200]},
                )
            )
            return InvalidGrant(why)

        return refuse

    def _accepted(self, done: Reconciled, client_id: str) -> Reconciled:
        self._audit(
            AuditEvent(
                "offline_exchange",
                "success",
                username=done.user.username,
                client_id=client_id,
                factor=done.factor,
                detail={"credential": done.credential, "signed_at": done.signed_at},
            )
        )
        return done


def _b64(evidence: Mapping[str, Any], name: str, limit: int) -> bytes:
    value = evidence.get(name)
    if not isinstance(value, str) or len(value) > limit * 2:
        raise ValueError(f"{name} is missing")
    decoded = b64url_decode(value)
    if not decoded or len(decoded) > limit:
        raise ValueError(f"{name} is not right")
    return decoded
