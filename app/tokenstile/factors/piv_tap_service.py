"""The card tap's use cases (``factors.piv_tap``), each one transaction with its audit row:
enrolling a card's card authentication (9E) certificate with the card, and the tap's two
steps. ``PivService.card_taps`` builds it over the PIV service's storage, clock, checks
and settings, so the card tap sees the same trust anchors and the same cards.

The shift grant (is this person's shift open at this kiosk's group?) is not checked
here: the route asks ``tokens.shifts`` after the card has proved itself, and again in the
session's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography import x509

from tokenstile.clock import Clock
from tokenstile.errors import ConfigError
from tokenstile.factors.piv import CertificateChecker, CertificateSummary, load_certificate
from tokenstile.factors.piv_config import PivSettings
from tokenstile.factors.piv_login import PivLoginPolicy
from tokenstile.factors.piv_port import PivConflict, PivStorage
from tokenstile.factors.piv_tap import CardTapAuthenticator, CardTapBegun, CardTapDone
from tokenstile.tokens.model import AuditEvent

PIV_FACTOR = "piv"


class CardTapService:
    def __init__(
        self,
        storage: PivStorage,
        *,
        clock: Clock,
        checker: Callable[[], CertificateChecker],
        settings: PivSettings,
        resolve: Callable[[str], str],
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._checker = checker
        self._resolve = resolve
        self.settings = settings
        self.authenticator = CardTapAuthenticator(
            PivLoginPolicy(
                challenge_lifetime=settings.challenge_lifetime,
                max_pending_challenges=settings.max_pending_challenges,
            )
        )

    def enroll(
        self, card_fingerprint: str, certificate: bytes, *, by: str, origin: str | None = None
    ) -> str:
        """Enroll ``certificate`` (DER) as the card authentication certificate of the card
        whose 9A fingerprint is ``card_fingerprint`` (a unique prefix will do); its
        fingerprint. Refused (``PivConflict``, ``CertificateRefused``) for a revoked card, a
        certificate that is no valid 9E certificate, or one another card holds."""
        full = self._resolve(card_fingerprint)
        parsed: x509.Certificate = load_certificate(certificate)
        now = self._clock.now()
        refusal = self._checker().card_auth_refusal(parsed, now)
        if refusal is not None:
            raise refusal
        fingerprint = CertificateSummary.of(parsed).fingerprint
        with self._storage.write() as tx:
            card = tx.card_by_fingerprint(full)
            holder = tx.card_holder(full)
            if card is None or holder is None:  # pragma: no cover - resolved just before
                raise PivConflict(f"No PIV card has the certificate fingerprint {full}.")
            if card.state != "active":
                raise PivConflict("This card is revoked: its 9E certificate cannot be enrolled.")
            if fingerprint == card.fingerprint or not tx.set_card_auth(
                card.id, fingerprint, certificate
            ):
                raise PivConflict("This 9E certificate is enrolled with another person's card.")
            tx.audit(
                AuditEvent(
                    "piv_card_auth_enrolled",
                    "info",
                    username=holder.username,
                    factor=PIV_FACTOR,
                    origin=origin,
                    detail={"fingerprint": full, "card_auth_fingerprint": fingerprint, "by": by},
                ),
                at=now,
            )
        return fingerprint

    def begin(self, certificate: bytes, *, client_id: str, origin: str | None) -> CardTapBegun:
        checker = self._checker()
        with self._storage.write() as tx:
            now = self._clock.now()
            begun = self.authenticator.begin(tx, checker, certificate, client_id=client_id, now=now)
            if begun.status != "malformed":
                tx.audit(
                    AuditEvent(
                        "piv_tap_challenge",
                        "success" if begun.status == "accepted" else "failure",
                        username=begun.user.username if begun.user is not None else None,
                        client_id=client_id,
                        factor=PIV_FACTOR,
                        origin=origin,
                        detail=_detail(begun.fingerprint, begun.status),
                    ),
                    at=now,
                )
        return begun

    def complete(
        self, handle: str, signature: bytes, *, client_id: str, origin: str | None
    ) -> CardTapDone:
        service = self.settings.service_origin
        if service is None:
            raise ConfigError("The card tap needs the service's origin (its issuer URL).")
        checker = self._checker()
        with self._storage.write() as tx:
            now = self._clock.now()
            done = self.authenticator.complete(
                tx, checker, handle, signature, client_id=client_id, origin=service, now=now
            )
            tx.audit(
                AuditEvent(
                    "piv_tap",
                    "success" if done.accepted else "failure",
                    username=done.user.username if done.user is not None else None,
                    client_id=client_id,
                    factor=PIV_FACTOR,
                    origin=origin,
                    detail=_detail(done.fingerprint, done.status),
                ),
                at=now,
            )
        return done


def _detail(fingerprint: str | None, status: str) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if fingerprint is not None:
        detail["card_auth_fingerprint"] = fingerprint
    if status != "accepted":
        detail["reason"] = status
    return detail
