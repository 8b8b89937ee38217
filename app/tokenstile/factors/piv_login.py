"""PIV login over a store port: the challenge, then the card's signature.

``PivAuthenticator`` keeps no state between the two steps; everything lives in the store,
so the kiosk may begin on one server replica and finish on another::

    begin:    certificate (9A, DER) -> checks -> handle + 32-byte challenge, stored with
              the card, the person, the client and the verdict of the checks, for
              ``challenge_lifetime`` seconds
    complete: handle + signature    -> the challenge claimed by ONE conditional UPDATE
              (``used_at IS NULL``) -> checks again -> signature over SHA-256 of the
              login message (``piv_message.login_message(service origin, challenge)``)

The first step answers every well-formed certificate alike — enrolled or not, revoked,
expired, its holder disabled: a handle and a challenge, stored the same way (a refused
certificate's row carries its ``refusal``). Nobody learns from it whether a certificate
is enrolled; the refusal comes at the second step, as the same sentence as a bad
signature. Challenges live under random handles, are single use and expire; there is no
per-certificate or per-person cap a stranger could fill (the per-address rate limits of
the server bound how many one address asks for, ``max_pending_challenges`` bounds them
all, and expired ones are purged).

The signature is checked over the message built with the service's own origin (from its
issuer URL, never from request headers): a challenge relayed by another server was signed
naming that server, and fails here.

The revocation check (``piv_revocation``: OCSP or CRL, over the network) runs before
the first step's transaction, in ``PivService``; its refusal (``revoked`` or
``revocation_unavailable``) is handed to ``begin`` and stored as the challenge's
``refusal`` like any other, so the second step refuses it too.

Both steps run inside the caller's transaction, which also writes the audit row. Every
refusal must look the same on the wire; ``status`` is for the audit log only. The
handle is stored as its SHA-256 hash, like refresh tokens.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from cryptography import x509

from tokenstile.factors.piv import (
    CertificateChecker,
    CertificateRefused,
    CertificateSummary,
    MalformedCertificate,
    card_public_key,
    load_certificate,
    verify_challenge_signature,
)
from tokenstile.protocol.jose import b64url_encode
from tokenstile.protocol.piv_message import CHALLENGE_BYTES, login_message
from tokenstile.tokens.model import User

HANDLE_BYTES = 32
MAX_PENDING_CHALLENGES = 100_000
_HANDLE = re.compile(r"[A-Za-z0-9_-]{43}")

CardState = Literal["active", "revoked"]
CardSource = Literal["registered", "issued", "upn"]
LoginStatus = Literal[
    "accepted",
    "malformed",
    "unknown_certificate",
    "revoked",
    "revocation_unavailable",
    "unsupported_key",
    "not_yet_valid",
    "expired",
    "key_usage",
    "untrusted",
    "unknown_user",
    "user_disabled",
    "busy",
    "unknown_handle",
    "reused",
    "handle_expired",
    "bad_signature",
]


def handle_hash(handle: str) -> bytes:
    """Handles are 256-bit random: a plain SHA-256 is the right hash."""
    return hashlib.sha256(handle.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class PivCardRecord:
    """An enrolled card as a login sees it."""

    id: int
    fingerprint: str
    user_id: int
    certificate: bytes
    cert_serial: str
    card_guid: str | None
    state: CardState
    # its card authentication (9E) certificate, for the card tap (``factors.piv_tap``)
    card_auth_fingerprint: str | None = None
    card_auth_certificate: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingChallenge:
    """A challenge handed out. ``card_id`` is None for a certificate mapped by its UPN
    on first use; its ``certificate`` is then kept here until the signature proves it.
    ``refusal`` is set when the first step already refused the certificate (unknown,
    revoked...): the second step then refuses whatever the signature (``user_id`` and
    ``card_id`` are whatever was known, for the audit log)."""

    handle_hash: bytes
    challenge: bytes
    fingerprint: str
    card_id: int | None
    user_id: int | None
    certificate: bytes | None
    client_id: str
    created_at: float
    expires_at: float
    refusal: LoginStatus | None = None


class PivStore(Protocol):
    """What a PIV login needs from storage; one step's calls run in one transaction."""

    def card_by_fingerprint(self, fingerprint: str) -> PivCardRecord | None: ...

    def card_by_id(self, card_id: int) -> PivCardRecord | None: ...

    def user(self, user_id: int) -> User | None: ...

    def user_by_name(self, username: str) -> User | None: ...

    def pending_challenges(self, *, now: float, limit: int) -> int:
        """Unexpired challenges of everyone, counted up to ``limit`` (a global bound, not
        a per-certificate one: a stranger must not be able to fill a person's share)."""
        ...

    def add_challenge(self, challenge: PendingChallenge, *, now: float) -> None:
        """Store it (and drop challenges long expired)."""
        ...

    def claim_challenge(self, handle_hash: bytes, *, at: float) -> PendingChallenge | None:
        """Mark the challenge used and return it, at most once, atomically::

            UPDATE piv_challenges SET used_at = :at
             WHERE handle_hash = :h AND used_at IS NULL RETURNING ...

        None when there is no such challenge or another request (in any process)
        claimed it first.
        """
        ...

    def claimed_challenge(self, handle_hash: bytes) -> str | None:
        """The certificate fingerprint of a challenge handed out and claimed already (to
        tell a reused handle from a made-up one in the audit log), else None."""
        ...

    def record_card_use(self, card_id: int, *, at: float) -> bool:
        """``last_used_at = :at WHERE id = :card_id AND state = 'active'``: False when the
        card was revoked meanwhile."""
        ...

    def add_upn_card(
        self, summary: CertificateSummary, certificate: bytes, *, user_id: int, at: float
    ) -> PivCardRecord:
        """Record a certificate mapped by its UPN at its first login (or the existing row)."""
        ...


@dataclass(frozen=True, slots=True)
class PivLoginPolicy:
    challenge_lifetime: float = 120.0
    max_pending_challenges: int = MAX_PENDING_CHALLENGES


@dataclass(frozen=True, slots=True, kw_only=True)
class BeginOutcome:
    """``status`` is the verdict on the certificate (for the audit log); ``handle`` and
    ``challenge`` are handed out for every certificate that parses, accepted or not, so
    that the answer does not tell whether it is enrolled. None only for a malformed
    certificate and when the service holds ``max_pending_challenges`` (``busy``)."""

    status: LoginStatus
    user: User | None = None
    certificate: CertificateSummary | None = None
    card: PivCardRecord | None = None
    handle: str | None = None
    challenge: bytes | None = None
    expires_at: float | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @property
    def issued(self) -> bool:
        """A challenge was handed out (whatever the verdict)."""
        return self.handle is not None and self.challenge is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class CompleteOutcome:
    status: LoginStatus
    user: User | None = None
    certificate: CertificateSummary | None = None
    card: PivCardRecord | None = None
    client_id: str | None = None
    # for the audit log: the certificate of a reused handle, or of a refused challenge
    reused_fingerprint: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "accepted" and self.user is not None


class PivAuthenticator:
    def __init__(
        self,
        policy: PivLoginPolicy | None = None,
        *,
        random: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self.policy = policy or PivLoginPolicy()
        self._random = random

    def begin(
        self,
        store: PivStore,
        checker: CertificateChecker,
        certificate_der: bytes,
        *,
        client_id: str,
        now: float,
        revocation: LoginStatus | None = None,
    ) -> BeginOutcome:
        """``revocation`` is the revocation check's refusal, made before the transaction
        (``revoked``, ``revocation_unavailable``), or None."""
        try:
            certificate = load_certificate(certificate_der)
        except MalformedCertificate:
            return BeginOutcome(status="malformed")
        summary = CertificateSummary.of(certificate)
        refusal = checker.refusal(certificate, now)
        card = store.card_by_fingerprint(summary.fingerprint)
        user: User | None = None
        if card is not None:
            user = store.user(card.user_id)
        elif refusal is None:
            username = checker.upn_username(certificate)
            if username is not None and checker.chains_to_anchor(certificate, now):
                user = store.user_by_name(username)

        status = _verdict(card, user, refusal, revocation)
        bound = self.policy.max_pending_challenges
        if store.pending_challenges(now=now, limit=bound) >= bound:
            return BeginOutcome(status="busy", user=user, certificate=summary, card=card)
        # The same work and the same answer whatever the verdict: a stored challenge.
        handle = b64url_encode(self._random(HANDLE_BYTES))
        challenge = self._random(CHALLENGE_BYTES)
        expires_at = now + self.policy.challenge_lifetime
        accepted = status == "accepted"
        store.add_challenge(
            PendingChallenge(
                handle_hash=handle_hash(handle),
                challenge=challenge,
                fingerprint=summary.fingerprint,
                card_id=card.id if card is not None else None,
                user_id=user.id if user is not None else None,
                certificate=certificate_der if card is None and accepted else None,
                client_id=client_id,
                created_at=now,
                expires_at=expires_at,
                refusal=None if accepted else status,
            ),
            now=now,
        )
        return BeginOutcome(
            status=status,
            user=user,
            certificate=summary,
            card=card,
            handle=handle,
            challenge=challenge,
            expires_at=expires_at,
        )

    def complete(
        self,
        store: PivStore,
        checker: CertificateChecker,
        handle: str,
        signature: bytes,
        *,
        origin: str,
        now: float,
    ) -> CompleteOutcome:
        """``origin`` is the service's own (``piv_message.service_origin`` of its issuer
        URL): the card must have signed the login message naming it."""
        if not _HANDLE.fullmatch(handle):
            return CompleteOutcome(status="unknown_handle")
        hashed = handle_hash(handle)
        pending = store.claim_challenge(hashed, at=now)
        if pending is None:
            used = store.claimed_challenge(hashed)
            if used is None:
                return CompleteOutcome(status="unknown_handle")
            return CompleteOutcome(status="reused", reused_fingerprint=used)
        if pending.refusal is not None:  # refused at the first step, whatever was signed
            return CompleteOutcome(
                status=pending.refusal,
                user=store.user(pending.user_id) if pending.user_id is not None else None,
                card=store.card_by_id(pending.card_id) if pending.card_id is not None else None,
                client_id=pending.client_id,
                reused_fingerprint=pending.fingerprint,
            )
        card = (
            store.card_by_id(pending.card_id)
            if pending.card_id is not None
            else store.card_by_fingerprint(pending.fingerprint)
        )
        der = card.certificate if card is not None else pending.certificate
        user = store.user(pending.user_id) if pending.user_id is not None else None
        if der is None:  # pragma: no cover - a UPN challenge always keeps its certificate
            return CompleteOutcome(status="unknown_certificate", client_id=pending.client_id)
        certificate = load_certificate(der)
        summary = CertificateSummary.of(certificate)

        def outcome(status: LoginStatus) -> CompleteOutcome:
            return CompleteOutcome(
                status=status,
                user=user,
                certificate=summary,
                card=card,
                client_id=pending.client_id,
            )

        status = _refusal_before_signature(pending, card, user, certificate, checker, now=now)
        if status is not None:
            return outcome(status)
        assert user is not None  # noqa: S101 - checked above
        if not verify_challenge_signature(
            card_public_key(certificate), login_message(origin, pending.challenge), signature
        ):
            return outcome("bad_signature")
        if card is None:
            card = store.add_upn_card(summary, der, user_id=user.id, at=now)
            if card.state != "active" or card.user_id != user.id:
                return outcome("revoked")
        elif not store.record_card_use(card.id, at=now):
            return outcome("revoked")
        return outcome("accepted")


def _verdict(
    card: PivCardRecord | None,
    user: User | None,
    refusal: CertificateRefused | None,
    revocation: LoginStatus | None = None,
) -> LoginStatus:
    """What the first step thinks of the certificate (the audit log's reason)."""
    if card is not None and card.state != "active":
        return "revoked"
    if refusal is not None:
        return refusal.reason
    if revocation is not None:
        return revocation
    if user is None:
        return "unknown_certificate" if card is None else "unknown_user"
    if not user.enabled:
        return "user_disabled"
    return "accepted"


def _refusal_before_signature(
    pending: PendingChallenge,
    card: PivCardRecord | None,
    user: User | None,
    certificate: x509.Certificate,
    checker: CertificateChecker,
    *,
    now: float,
) -> LoginStatus | None:
    """What the second step refuses before it looks at the signature."""
    if pending.expires_at <= now:
        return "handle_expired"
    if card is not None and card.state != "active":
        return "revoked"
    if card is not None and card.user_id != pending.user_id:
        return "unknown_certificate"  # enrolled for someone else after a UPN challenge
    refusal = checker.refusal(certificate, now)
    if refusal is not None:
        return refusal.reason
    if card is None and (
        checker.upn_username(certificate) is None or not checker.chains_to_anchor(certificate, now)
    ):
        return "unknown_certificate"  # UPN mapping switched off meanwhile
    if user is None:
        return "unknown_user"
    if not user.enabled:
        return "user_disabled"
    return None
