"""Proof that a PIV card made its key itself: the YubiKey PIV attestation, judged.

A card that supports it answers the ATTEST instruction (``INS F9``) for a slot with an
X.509 certificate for that slot's public key, signed by the card's attestation key (slot
F9), whose own certificate the card keeps in object ``5FFF01`` and which chains to the
maker's attestation root. A card only attests a key it generated, never an imported one.

What is checked here, with ``cryptography`` only (the card's answers arrive as
certificates; reading them is :mod:`tokenstile.devices.piv`'s job):

1. the slot certificate is signed by the F9 certificate's key and names it as issuer;
2. the F9 certificate is signed by one of the configured roots (``piv_attestation_roots``)
   and names it as issuer;
3. both certificates are valid now;
4. the attested public key is the slot's public key (the one just generated, or the one
   in the certificate being enrolled).

:func:`judge_card_attestation` applies the policy: with ``piv_require_attestation`` any
failure, and a card that refuses the instruction, is a :class:`PivAttestationError`;
without it a card that refuses, or a deployment with no roots, is "not attested" (the
caller logs and audits that), while an attestation that is present and wrong is still
refused: a card that claims a chain that does not hold is not one to enroll.

The token service judges, never the station: an enrollment station (``manage piv
enroll``, the admin console) hands in what the card answered as
:class:`AttestationEvidence` (DER, as it travels over HTTP, or nothing and why), and
``PivService.judge_attestation`` applies the deployment's :class:`AttestationPolicy`
(``piv_attestation_roots``, ``piv_require_attestation``) to it: one judge for the CLI and
the admin API.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tokenstile.factors.piv import PivError

PivPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
# Why there is no attestation when a station sends none: it does not say why.
NO_EVIDENCE = "the station sent no attestation (the card gave none)"
MAX_ATTESTATION_BYTES = 8 * 1024  # a YubiKey's attestation certificates are under 1 KiB


class PivAttestationError(PivError):
    """The card's key cannot prove it was generated on the card; nothing is enrolled."""

    code = "piv_attestation_failed"


@dataclass(frozen=True, kw_only=True)
class CardAttestation:
    """What the card answered: the slot's attestation and the F9 certificate beneath it."""

    slot_certificate: x509.Certificate
    attestation_certificate: x509.Certificate


@dataclass(frozen=True, kw_only=True)
class AttestationVerdict:
    """The outcome, for the log and the audit row (never any secret)."""

    status: Literal["attested", "not_attested"]
    reason: str  # one sentence for a person
    root: str | None = None  # the root that vouched, RFC 4514

    @property
    def attested(self) -> bool:
        return self.status == "attested"

    def audit_detail(self) -> dict[str, str]:
        detail = {"attestation": self.status, "attestation_reason": self.reason}
        if self.root is not None:
            detail["attestation_root"] = self.root
        return detail


@dataclass(frozen=True, kw_only=True)
class AttestationEvidence:
    """What a station hands in: the slot's attestation certificate and the certificate of
    the card's attestation key F9 (DER, both or neither); ``refusal`` says why there are
    none when the station knows (the card's status word)."""

    slot_certificate: bytes | None = None
    attestation_certificate: bytes | None = None
    refusal: str | None = None

    def parse(self) -> CardAttestation | None:
        """The two certificates, None when there are none, or :class:`PivAttestationError`
        for one without the other or bytes that are not a certificate."""
        slot, device = self.slot_certificate, self.attestation_certificate
        if slot is None and device is None:
            return None
        if slot is None or device is None:
            raise PivAttestationError(
                "An attestation comes with the certificate of the card's attestation key "
                "(F9): both or neither."
            )
        return CardAttestation(
            slot_certificate=_load(slot, "The card's attestation"),
            attestation_certificate=_load(device, "The card's attestation key certificate"),
        )


@dataclass(frozen=True, kw_only=True)
class AttestationPolicy:
    """The deployment's judge: its attestation roots and whether attestation is required."""

    roots: tuple[x509.Certificate, ...] = ()
    require: bool = False

    def judge(
        self, evidence: AttestationEvidence, public_key: PivPublicKey, *, now: dt.datetime
    ) -> AttestationVerdict:
        """:func:`judge_card_attestation` of what a station handed in."""
        return judge_card_attestation(
            evidence.parse(),
            evidence.refusal or NO_EVIDENCE,
            public_key,
            list(self.roots),
            require=self.require,
            now=now,
        )


def load_attestation_roots(pem: bytes) -> list[x509.Certificate]:
    """The certificates of one PEM file (a maker's attestation root CA or several)."""
    try:
        roots = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise PivAttestationError("An attestation root file holds no PEM certificate.") from exc
    return roots


def verify_card_attestation(
    evidence: CardAttestation,
    public_key: PivPublicKey,
    roots: list[x509.Certificate],
    *,
    now: dt.datetime,
) -> AttestationVerdict:
    """Checks 1 to 4 of the module docstring; raises :class:`PivAttestationError`."""
    slot_certificate = evidence.slot_certificate
    device_certificate = evidence.attestation_certificate
    if not _signed_by(slot_certificate, device_certificate):
        raise PivAttestationError(
            "The card's attestation is not signed by its attestation key (slot F9)."
        )
    root = next((r for r in roots if _signed_by(device_certificate, r)), None)
    if root is None:
        raise PivAttestationError(
            "The card's attestation key is not certified by a configured attestation root "
            f"({device_certificate.issuer.rfc4514_string()})."
        )
    for certificate in (slot_certificate, device_certificate):
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise PivAttestationError(
                f"The card's attestation certificate {certificate.subject.rfc4514_string()} "
                "is not valid now."
            )
    if not _same_key(slot_certificate.public_key(), public_key):
        raise PivAttestationError(
            "The card attested a different key than the one in the slot: not enrolled."
        )
    return AttestationVerdict(
        status="attested",
        reason="the card attested that it generated the key",
        root=root.subject.rfc4514_string(),
    )


def judge_card_attestation(
    evidence: CardAttestation | None,
    refusal: str | None,
    public_key: PivPublicKey,
    roots: list[x509.Certificate],
    *,
    require: bool,
    now: dt.datetime,
) -> AttestationVerdict:
    """The policy over :func:`verify_card_attestation` (see the module docstring).

    ``evidence`` is None when the card gave none; ``refusal`` then says why (e.g. "the
    card does not know the attestation instruction (6D00)").
    """
    if evidence is None:
        why = refusal or "the card gave no attestation"
        if require:
            raise PivAttestationError(
                f"The card cannot prove its key was generated on the card: {why}; "
                "piv_require_attestation refuses it."
            )
        return AttestationVerdict(status="not_attested", reason=why)
    if not roots:
        if require:
            raise PivAttestationError("piv_require_attestation is on but no root is configured.")
        return AttestationVerdict(
            status="not_attested", reason="no piv_attestation_roots configured to check it"
        )
    return verify_card_attestation(evidence, public_key, roots, now=now)


def _load(der: bytes, what: str) -> x509.Certificate:
    if not der or len(der) > MAX_ATTESTATION_BYTES:
        raise PivAttestationError(f"{what} is 1 to {MAX_ATTESTATION_BYTES} bytes of DER.")
    try:
        certificate = x509.load_der_x509_certificate(der)
        _ = certificate.not_valid_after_utc, certificate.extensions
    except ValueError as exc:
        raise PivAttestationError(f"{what} is not a DER X.509 certificate.") from exc
    return certificate


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _same_key(a: object, b: PivPublicKey) -> bool:
    if not isinstance(a, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return False
    spki = PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(Encoding.DER, spki) == b.public_bytes(Encoding.DER, spki)
