"""The PIV attestation verdict: chain, root, key, and the require policy (pure)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tokenstile.config import load_settings
from tokenstile.devices import DirectConnection, PivCard
from tokenstile.errors import ConfigError
from tokenstile.factors.piv_attestation import (
    CardAttestation,
    PivAttestationError,
    judge_card_attestation,
)
from tokenstile.virtual.piv_attestation import AttestationAuthority
from tokenstile.virtual.piv_provision import create_piv_card


def now() -> dt.datetime:
    """The time of the check: read when the test runs, after its certificates were made
    (a time read when the module was collected can lie before them in a long run)."""
    return dt.datetime.now(dt.UTC)


def evidence_of(root: AttestationAuthority) -> tuple[CardAttestation, ec.EllipticCurvePublicKey]:
    card = PivCard(DirectConnection(create_piv_card(attestation=root)))
    public_key = card.read_certificate().public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    return (
        CardAttestation(
            slot_certificate=card.attest(),
            attestation_certificate=card.read_attestation_certificate(),
        ),
        public_key,
    )


def test_a_card_key_attested_to_a_configured_root() -> None:
    root = AttestationAuthority.create()
    evidence, key = evidence_of(root)
    verdict = judge_card_attestation(
        evidence, None, key, [root.certificate], require=True, now=now()
    )
    assert verdict.attested
    assert verdict.root == root.certificate.subject.rfc4514_string()
    assert verdict.audit_detail()["attestation"] == "attested"


def test_another_root_is_refused_even_without_the_require_policy() -> None:
    evidence, key = evidence_of(AttestationAuthority.create())
    other = AttestationAuthority.create("Another Maker Root")
    for require in (True, False):
        with pytest.raises(PivAttestationError, match="not certified by a configured"):
            judge_card_attestation(
                evidence, None, key, [other.certificate], require=require, now=now()
            )


def test_an_attestation_of_another_key_is_refused() -> None:
    root = AttestationAuthority.create()
    evidence, _ = evidence_of(root)
    other_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(PivAttestationError, match="different key"):
        judge_card_attestation(
            evidence, None, other_key, [root.certificate], require=False, now=now()
        )


def test_a_slot_attestation_not_signed_by_the_f9_key_is_refused() -> None:
    root = AttestationAuthority.create()
    evidence, key = evidence_of(root)
    foreign, _ = evidence_of(root)  # another card's F9 certificate, same maker
    mixed = CardAttestation(
        slot_certificate=evidence.slot_certificate,
        attestation_certificate=foreign.attestation_certificate,
    )
    with pytest.raises(PivAttestationError, match="not signed by its attestation key"):
        judge_card_attestation(mixed, None, key, [root.certificate], require=False, now=now())


def test_expired_attestations_are_refused() -> None:
    root = AttestationAuthority.create()
    evidence, key = evidence_of(root)
    later = now() + dt.timedelta(days=3700)
    with pytest.raises(PivAttestationError, match="not valid now"):
        judge_card_attestation(evidence, None, key, [root.certificate], require=False, now=later)


def test_a_card_that_refuses_is_not_attested_or_refused_by_policy() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    root = AttestationAuthority.create()
    verdict = judge_card_attestation(
        None, "the card refused (6D00)", key, [root.certificate], require=False, now=now()
    )
    assert (verdict.attested, verdict.reason) == (False, "the card refused (6D00)")
    with pytest.raises(PivAttestationError, match=r"6D00.*piv_require_attestation"):
        judge_card_attestation(
            None, "the card refused (6D00)", key, [root.certificate], require=True, now=now()
        )


def test_without_roots_an_attestation_is_not_checked() -> None:
    evidence, key = evidence_of(AttestationAuthority.create())
    verdict = judge_card_attestation(evidence, None, key, [], require=False, now=now())
    assert verdict.status == "not_attested"
    assert "no piv_attestation_roots" in verdict.reason


def test_requiring_attestation_without_roots_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="piv_require_attestation needs piv_attestation_roots"):
        load_settings(piv_require_attestation=True)
    assert load_settings(piv_require_attestation=True, piv_attestation_roots=["/r.pem"])


def test_what_a_station_sends_is_parsed_or_refused_as_a_whole() -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from tokenstile.factors.piv_attestation import (
        MAX_ATTESTATION_BYTES,
        NO_EVIDENCE,
        AttestationEvidence,
        AttestationPolicy,
    )

    root = AttestationAuthority.create()
    card_evidence, key = evidence_of(root)
    slot = card_evidence.slot_certificate.public_bytes(Encoding.DER)
    device = card_evidence.attestation_certificate.public_bytes(Encoding.DER)
    policy = AttestationPolicy(roots=(root.certificate,), require=True)
    verdict = policy.judge(
        AttestationEvidence(slot_certificate=slot, attestation_certificate=device), key, now=now()
    )
    assert verdict.root == root.certificate.subject.rfc4514_string()
    refused = [
        (AttestationEvidence(slot_certificate=slot), "both or neither"),
        (AttestationEvidence(attestation_certificate=device), "both or neither"),
        (
            AttestationEvidence(slot_certificate=b"\x30\x03abc", attestation_certificate=device),
            "not a DER X.509 certificate",
        ),
        (
            AttestationEvidence(
                slot_certificate=slot, attestation_certificate=b"x" * (MAX_ATTESTATION_BYTES + 1)
            ),
            "1 to 8192 bytes",
        ),
        (AttestationEvidence(), NO_EVIDENCE),
        (AttestationEvidence(refusal="the card said 6D00"), "the card said 6D00"),
    ]
    for evidence, message in refused:
        with pytest.raises(
            PivAttestationError, match=message.replace("(", r"\(").replace(")", r"\)")
        ):
            policy.judge(evidence, key, now=now())
    # Without the policy, only "nothing sent" passes, as not attested; a bad pair never.
    lenient = AttestationPolicy(roots=(root.certificate,), require=False)
    assert lenient.judge(AttestationEvidence(), key, now=now()).reason == NO_EVIDENCE
    with pytest.raises(PivAttestationError, match="both or neither"):
        lenient.judge(AttestationEvidence(slot_certificate=slot), key, now=now())
