"""The card tap of tap-and-go (issue 17): a PIV card's card authentication key signs in.

The card authentication key (slot 9E) signs without the PIN: a card left in a reader, or
held by whoever picked it up, signs anything asked of it. So a 9E signature is worth a
*tap* and nothing more: the token service accepts it only inside the holder's open shift
at the kiosk's group (``tokens.shifts``, checked by the route), at ``acr`` ``tap``. Two
steps, as a PIV login's, over the same challenge table (``piv_login.PivStore``)::

    begin:    9E certificate (DER) -> the card enrolled with it -> handle + challenge,
              stored with the card, the person and the kiosk client
    complete: handle + signature + client -> the challenge claimed once -> the card, its
              9E certificate and its holder checked again -> the signature over the login
              message (``piv_message.login_message``) verified with the 9E key

What keeps a 9E signature from passing for a PIN login, and the other way round:

- the 9E certificate is enrolled in its card's row (``card_auth_fingerprint``), never as a
  card of its own; it must name ``id-PIV-cardAuth``, which the 9A checks refuse
  (``piv.CertificateChecker.refusal``), so neither enrollment nor UPN mapping takes it
  for a login certificate;
- a tap's challenge names the 9E fingerprint: the 9A login verifies against the card's 9A
  key, which only signs after the PIN; and a 9A login's challenge names the 9A
  fingerprint, which this module refuses (``not_a_tap``);
- the challenge is bound to the kiosk client that asked for it (``other_client``).

The first step answers every well-formed certificate alike, as the PIV login does; the
refusal comes at the second step.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from tokenstile.factors.piv import (
    CertificateChecker,
    CertificateSummary,
    MalformedCertificate,
    card_public_key,
    load_certificate,
    verify_challenge_signature,
)
from tokenstile.factors.piv_login import (
    HANDLE_BYTES,
    LoginStatus,
    PendingChallenge,
    PivCardRecord,
    PivLoginPolicy,
    PivStore,
    handle_hash,
)
from tokenstile.protocol.jose import b64url_encode
from tokenstile.protocol.piv_message import CHALLENGE_BYTES, login_message
from tokenstile.tokens.model import User

_HANDLE = re.compile(r"[A-Za-z0-9_-]{43}")

CardTapStatus = Literal[
    "accepted",
    "malformed",
    "busy",
    "unknown_certificate",
    "revoked",
    "unsupported_key",
    "not_yet_valid",
    "expired",
    "key_usage",
    "untrusted",
    "user_disabled",
    "unknown_handle",
    "reused",
    "handle_expired",
    "not_a_tap",
    "other_client",
    "bad_signature",
]


class CardTapStore(PivStore, Protocol):
    """What a card tap needs beyond a PIV login: the card by its 9E certificate."""

    def card_by_card_auth(self, fingerprint: str) -> PivCardRecord | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CardTapBegun:
    status: CardTapStatus
    user: User | None = None
    card: PivCardRecord | None = None
    fingerprint: str | None = None
    handle: str | None = None
    challenge: bytes | None = None
    expires_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CardTapDone:
    status: CardTapStatus
    user: User | None = None
    card: PivCardRecord | None = None
    fingerprint: str | None = None  # the 9E certificate's, for the audit log

    @property
    def accepted(self) -> bool:
        return self.status == "accepted" and self.user is not None and self.card is not None


def _verdict(
    card: PivCardRecord | None, user: User | None, certificate_refusal: str | None
) -> CardTapStatus:
    if card is None or card.card_auth_certificate is None:
        return "unknown_certificate"
    if card.state != "active":
        return "revoked"
    if certificate_refusal is not None:
        return cast(CardTapStatus, certificate_refusal)
    if user is None:
        return "unknown_certificate"
    if not user.enabled:
        return "user_disabled"
    return "accepted"


class CardTapAuthenticator:
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
        store: CardTapStore,
        checker: CertificateChecker,
        certificate_der: bytes,
        *,
        client_id: str,
        now: float,
    ) -> CardTapBegun:
        try:
            certificate = load_certificate(certificate_der)
        except MalformedCertificate:
            return CardTapBegun(status="malformed")
        fingerprint = CertificateSummary.of(certificate).fingerprint
        card = store.card_by_card_auth(fingerprint)
        user = store.user(card.user_id) if card is not None else None
        refusal = checker.card_auth_refusal(certificate, now)
        status = _verdict(card, user, refusal.reason if refusal is not None else None)
        bound = self.policy.max_pending_challenges
        if store.pending_challenges(now=now, limit=bound) >= bound:
            return CardTapBegun(status="busy", user=user, card=card, fingerprint=fingerprint)
        handle = b64url_encode(self._random(HANDLE_BYTES))
        challenge = self._random(CHALLENGE_BYTES)
        expires_at = now + self.policy.challenge_lifetime
        store.add_challenge(
            PendingChallenge(
                handle_hash=handle_hash(handle),
                challenge=challenge,
                fingerprint=fingerprint,
                card_id=card.id if card is not None else None,
                user_id=user.id if user is not None else None,
                certificate=None,
                client_id=client_id,
                created_at=now,
                expires_at=expires_at,
                # The login's statuses name every refusal of the first step.
                refusal=None if status == "accepted" else cast(LoginStatus, status),
            ),
            now=now,
        )
        return CardTapBegun(
            status=status,
            user=user,
            card=card,
            fingerprint=fingerprint,
            handle=handle,
            challenge=challenge,
            expires_at=expires_at,
        )

    def complete(
        self,
        store: CardTapStore,
        checker: CertificateChecker,
        handle: str,
        signature: bytes,
        *,
        client_id: str,
        origin: str,
        now: float,
    ) -> CardTapDone:
        """``origin`` is the service's own: the card signed the login message naming it."""
        if not _HANDLE.fullmatch(handle):
            return CardTapDone(status="unknown_handle")
        hashed = handle_hash(handle)
        pending = store.claim_challenge(hashed, at=now)
        if pending is None:
            used = store.claimed_challenge(hashed)
            if used is None:
                return CardTapDone(status="unknown_handle")
            return CardTapDone(status="reused", fingerprint=used)
        card = store.card_by_id(pending.card_id) if pending.card_id is not None else None
        user = store.user(pending.user_id) if pending.user_id is not None else None

        def done(status: CardTapStatus) -> CardTapDone:
            return CardTapDone(status=status, user=user, card=card, fingerprint=pending.fingerprint)

        if pending.refusal is not None:
            return done(cast(CardTapStatus, pending.refusal))
        if card is None or card.card_auth_fingerprint != pending.fingerprint:
            return done("not_a_tap")  # a PIN login's challenge, or the 9E changed since
        if pending.client_id != client_id:
            return done("other_client")
        if pending.expires_at <= now:
            return done("handle_expired")
        assert card.card_auth_certificate is not None  # noqa: S101 - it has its fingerprint
        certificate = load_certificate(card.card_auth_certificate)
        refusal = checker.card_auth_refusal(certificate, now)
        status = _verdict(card, user, refusal.reason if refusal is not None else None)
        if status != "accepted":
            return done(status)
        if not verify_challenge_signature(
            card_public_key(certificate), login_message(origin, pending.challenge), signature
        ):
            return done("bad_signature")
        if not store.record_card_use(card.id, at=now):
            return done("revoked")
        return done("accepted")
