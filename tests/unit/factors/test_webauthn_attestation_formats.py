"""Attestation statements of every format go through python-fido2's verifiers
(``fido2.attestation``): the software key's ``packed`` (full and self) and ``none``, and a
``fido-u2f`` statement built here with ``cryptography`` the way a U2F key signs it
(WebAuthn Level 3 section 8.6). A format python-fido2 does not know is refused and
nothing is enrolled."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor
from fido2.webauthn import AuthenticatorData

from tests.unit.factors.test_webauthn_service import MemoryTransactions, MemoryTx
from tests.unit.factors.webauthn_keys import (
    RP,
    SOFTWARE_KEYS_ALLOWED,
    Kiosk,
    flip_bit,
    new_challenge,
    registration_options,
    unb64,
    with_response,
)
from tokenstile.clock import FrozenClock
from tokenstile.factors.webauthn import CeremonyRejected
from tokenstile.factors.webauthn_registration import (
    AttestationPolicy,
    NewCredential,
    parse_registration,
    verify_registration,
)
from tokenstile.factors.webauthn_service import WebAuthnService
from tokenstile.virtual import AttestationMode, Ctap2Authenticator, VirtualAuthenticator
from tokenstile.virtual.attestation import AttestationIdentity

NOW = 1_800_000_000.0
_DER = serialization.Encoding.DER


def _u2f_vendor() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    """A U2F key maker's root and the batch attestation certificate it issued."""
    vendor = AttestationIdentity.create(
        bytes(16), NOW, maker="U2F Vendor", root_name="U2F Vendor Root", key_name="U2F Batch 1"
    )
    return vendor.signing_key, vendor.certificate, vendor.root_certificate


def _as_u2f(response: dict[str, Any], batch_key: ec.EllipticCurvePrivateKey, batch: bytes) -> Any:
    """The key's registration re-attested as ``fido-u2f``: the batch key signs
    0x00 || rpIdHash || clientDataHash || credentialId || the public key as an uncompressed
    point (FIDO U2F raw message formats, section 4.3)."""
    statement = cbor.decode(unb64(response["response"]["attestationObject"]))
    auth = AuthenticatorData(statement["authData"])
    credential = auth.credential_data
    assert credential is not None
    point = b"\x04" + credential.public_key[-2] + credential.public_key[-3]
    client_hash = hashlib.sha256(unb64(response["response"]["clientDataJSON"])).digest()
    signed = b"\x00" + auth.rp_id_hash + client_hash + credential.credential_id + point
    statement["fmt"] = "fido-u2f"
    statement["attStmt"] = {
        "sig": batch_key.sign(signed, ec.ECDSA(hashes.SHA256())),
        "x5c": [batch],
    }
    return statement


def _register(response: dict[str, Any], challenge: bytes, policy: AttestationPolicy) -> Any:
    return verify_registration(
        RP, parse_registration(response), challenge=challenge, policy=policy, now=NOW
    )


def _attested_as(statement: Any, kiosk: Kiosk) -> tuple[dict[str, Any], bytes]:
    challenge = new_challenge()
    response = kiosk.register(registration_options(challenge=challenge))
    return with_response(response, attestationObject=cbor.encode(statement(response))), challenge


def test_a_fido_u2f_statement_is_verified_and_trusted_through_its_root() -> None:
    batch_key, batch, root = _u2f_vendor()
    kiosk = Kiosk()
    response, challenge = _attested_as(lambda r: _as_u2f(r, batch_key, batch), kiosk)

    # No roots: verified, not trusted, and not a hardware key.
    new: NewCredential = _register(response, challenge, AttestationPolicy())
    assert (new.attestation_format, new.attestation_trusted) == ("fido-u2f", False)
    assert new.assurance == "unverified"

    # Its maker's root configured: attested, a hardware key.
    response, challenge = _attested_as(lambda r: _as_u2f(r, batch_key, batch), kiosk)
    new = _register(response, challenge, AttestationPolicy(roots=(root,)))
    assert (new.attestation_trusted, new.assurance) == (True, "attested")

    # Another maker's root: refused.
    _other_key, _other_batch, other_root = _u2f_vendor()
    response, challenge = _attested_as(lambda r: _as_u2f(r, batch_key, batch), kiosk)
    with pytest.raises(CeremonyRejected) as refused:
        _register(response, challenge, AttestationPolicy(roots=(other_root,)))
    assert refused.value.reason == "attestation_refused"


def test_a_tampered_fido_u2f_signature_is_refused_even_without_roots() -> None:
    batch_key, batch, _root = _u2f_vendor()

    def tampered(response: dict[str, Any]) -> Any:
        statement = _as_u2f(response, batch_key, batch)
        statement["attStmt"]["sig"] = flip_bit(statement["attStmt"]["sig"], 12)
        return statement

    response, challenge = _attested_as(tampered, Kiosk())
    with pytest.raises(CeremonyRejected, match="fido-u2f attestation does not verify"):
        _register(response, challenge, AttestationPolicy())


@pytest.mark.parametrize(
    ("mode", "fmt", "software"),
    [
        (AttestationMode.PACKED, "packed", True),  # full: x5c naming the software key
        (AttestationMode.SELF, "packed", False),  # self: signed by the credential key
        (AttestationMode.NONE, "none", False),
    ],
)
def test_the_software_key_in_each_of_its_formats(
    mode: AttestationMode, fmt: str, software: bool
) -> None:
    device = VirtualAuthenticator(Ctap2Authenticator(attestation=mode))
    device.authenticator.provision_pin("4711")
    challenge = new_challenge()
    response = Kiosk(device).register(registration_options(challenge=challenge))
    new = _register(response, challenge, SOFTWARE_KEYS_ALLOWED)
    assert (new.attestation_format, new.software) == (fmt, software)
    assert new.assurance == ("software" if software else "unverified")


@pytest.mark.parametrize("fmt", ["android-key", "made-up", "PACKED"])
def test_an_unknown_format_is_refused_and_nothing_is_enrolled(fmt: str) -> None:
    tx = MemoryTx()  # alice is a person there
    service = WebAuthnService(
        MemoryTransactions(tx), rp=RP, clock=FrozenClock(NOW), policy=SOFTWARE_KEYS_ALLOWED
    )
    options = service.begin_registration("alice", label="key", by="test")
    response = Kiosk().register(options.public_key)
    statement = cbor.decode(unb64(response["response"]["attestationObject"]))
    statement["fmt"] = fmt
    changed = with_response(response, attestationObject=cbor.encode(statement))
    with pytest.raises(CeremonyRejected, match="not one this service knows") as refused:
        service.complete_registration(options.handle, parse_registration(changed), by="test")
    assert refused.value.reason == "attestation_refused"
    assert fmt in str(refused.value)
    assert service.credentials() == []
    assert tx.events[-1].outcome == "failure"
    assert tx.events[-1].detail["reason"] == "attestation_refused"
