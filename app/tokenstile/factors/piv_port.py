"""What the PIV use cases need from storage (``PivTx``) and the records it carries.

``PivTx`` is one open transaction: the login port ``piv_login.PivStore`` plus the rows
of enrollment, revocation, the issuing CAs and the trust anchors, and the audit log.
``PivStorage`` opens such transactions. ``piv_service.PivService`` works over them the
way ``tokens.service.TokenService`` works over ``tokens.model.TokenTx``; the SQL adapter
is ``store.piv_repository``.
"""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tokenstile.errors import StoreError
from tokenstile.factors.piv import CertificateSummary, fingerprint
from tokenstile.factors.piv_ca import CaSource
from tokenstile.factors.piv_login import CardSource, CardState, PivCardRecord, PivStore
from tokenstile.tokens.model import AuditEvent, User


class PivConflict(StoreError):
    """The card or CA is not in a state that allows this (already enrolled, revoked...)."""

    code = "piv_conflict"


@dataclass(frozen=True, slots=True, kw_only=True)
class PivCardInfo:
    """A card as an admin sees it."""

    fingerprint: str
    username: str
    cert_serial: str
    subject: str
    issuer: str
    not_before: float
    not_after: float
    key_algorithm: str
    upn: str | None
    card_guid: str | None
    label: str
    source: str
    state: str
    created_at: float
    enrolled_by: str | None
    last_used_at: float | None
    revoked_at: float | None
    # the card authentication (9E) certificate enrolled with it: the card tap
    card_auth_fingerprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class CaCertificateInfo:
    """An issuing CA or a trust anchor: its certificate, never a key."""

    fingerprint: str
    subject: str
    not_before: float
    not_after: float
    source: str  # builtin, imported, trust-anchor, settings
    active: bool
    certificate_pem: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, certificate: x509.Certificate, *, source: str, active: bool) -> CaCertificateInfo:
        return cls(
            fingerprint=fingerprint(certificate),
            subject=certificate.subject.rfc4514_string(),
            not_before=certificate.not_valid_before_utc.timestamp(),
            not_after=certificate.not_valid_after_utc.timestamp(),
            source=source,
            active=active,
            certificate_pem=certificate.public_bytes(Encoding.PEM).decode("ascii"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCa:
    """An issuing CA as stored: its certificate (DER), its key sealed with the KEK."""

    certificate: bytes
    sealed_key: bytes
    source: CaSource
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CardHolder:
    """Whom an enrolled certificate belongs to, and its state."""

    username: str
    state: CardState
    cert_serial: str
    card_guid: str | None


class PivTx(PivStore, Protocol):
    """One transaction of PIV work; its audit rows commit or roll back with it."""

    def audit(self, event: AuditEvent, *, at: float) -> None: ...

    def require_user(self, username: str) -> User:
        """The person, or ``NotFound``."""
        ...

    def end_sessions_of(
        self, credential: str, *, reason: str, by: str, origin: str | None, at: float
    ) -> int:
        """End (and audit) the open sessions ``credential`` opened; how many."""
        ...

    # cards
    def card_holder(self, fingerprint: str) -> CardHolder | None: ...

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
    ) -> None: ...

    def card_by_card_auth(self, fingerprint: str) -> PivCardRecord | None:
        """The card whose card authentication (9E) certificate has this fingerprint."""
        ...

    def set_card_auth(self, card_id: int, fingerprint: str, certificate: bytes) -> bool:
        """Enroll the card's 9E certificate (replacing one before; taken from another
        card row of the same person, a card enrolled again); False when another person's
        card holds it."""
        ...

    def card_fingerprints(self, prefix: str, *, limit: int) -> list[str]:
        """Fingerprints starting with ``prefix`` (taken literally), at most ``limit``."""
        ...

    def card_info(self, fingerprint: str) -> PivCardInfo | None: ...

    def card_infos(self, username: str | None = None) -> list[PivCardInfo]:
        """Every card (of ``username``), in enrollment order."""
        ...

    def revoke_card(self, fingerprint: str, *, at: float, by: str) -> bool:
        """Mark an active card revoked; False when it was not active."""
        ...

    def revoked_certificates(self) -> list[tuple[bytes, float]]:
        """Every revoked card's certificate (DER) and when it was revoked (for the CRL)."""
        ...

    # issuing CAs
    def active_ca(self) -> StoredCa | None: ...

    def ca_known(self, fingerprint: str) -> bool: ...

    def retire_active_ca(self, *, at: float) -> str | None:
        """Retire the active CA (its cards keep working); its fingerprint, if any."""
        ...

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
        """Store the active issuing CA."""
        ...

    def issuing_cas(self) -> list[StoredCa]:
        """Every issuing CA, the active one first, then the newest first."""
        ...

    # trust anchors
    def trust_anchors(self) -> list[bytes]:
        """The stored trust anchors (DER), oldest first."""
        ...

    def trust_anchor_known(self, fingerprint: str) -> bool: ...

    def add_trust_anchor(
        self, info: CaCertificateInfo, certificate: bytes, *, at: float, by: str
    ) -> None: ...


class PivStorage(Protocol):
    """Opens PIV transactions."""

    def write(self) -> AbstractContextManager[PivTx]: ...

    def read(self) -> AbstractContextManager[PivTx]: ...

    def is_duplicate(self, error: StoreError) -> bool:
        """Whether a write failed because another writer stored the same row first."""
        ...
