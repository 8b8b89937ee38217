"""Attestation statements of every format go through python-fido2's verifiers
(``fido2.attestation``): the software key's ``packed`` (full and self) and ``none``, a
``fido-u2f`` statement built here with ``cryptography`` the way a U2F key signs it
(WebAuthn Level 3 section 8.6), and public ``tpm`` and ``apple`` vectors
(``attestation_vectors``) through ``check_attestation``, judged at a time inside their
certificates' validity (the Apple credential certificate was valid for three days in
December 2020) and, to show the dates are checked, at one outside it. A format
python-fido2 does not know is refused and nothing is enrolled."""

from __future__ import annotations

import datetime
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor
from fido2.webauthn import AuthenticatorData

from tests.unit.factors import attestation_vectors as vectors
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
    check_attestation,
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


# -- public test vectors: tpm and apple --------------------------------------------------------


def _utc(*parts: int) -> float:
    return datetime.datetime(*parts, tzinfo=datetime.UTC).timestamp()


@dataclass(frozen=True)
class Vector:
    fmt: str
    att_stmt: dict[str, Any]
    auth_data: bytes
    client_data_hash: bytes
    root: bytes
    valid_at: float  # inside every certificate's validity, the root's too
    expired_at: float  # after the first certificate's notAfter


TPM = Vector(
    "tpm",
    {
        "alg": -65535,  # RS1
        "sig": vectors.TPM_SIG,
        "x5c": [vectors.TPM_AIK_CERTIFICATE, vectors.TPM_INTERMEDIATE],
        "certInfo": vectors.TPM_CERT_INFO,
        "pubArea": vectors.TPM_PUB_AREA,
    },
    vectors.TPM_AUTH_DATA,
    vectors.TPM_CLIENT_DATA_HASH,
    vectors.MICROSOFT_TPM_ROOT_2014,
    valid_at=_utc(2021, 6, 1),
    expired_at=_utc(2029, 4, 2),
)
APPLE = Vector(
    "apple",
    {"alg": -7, "x5c": [vectors.APPLE_CREDENTIAL_CERTIFICATE, vectors.APPLE_WEBAUTHN_CA_1]},
    vectors.APPLE_AUTH_DATA,
    vectors.APPLE_CLIENT_DATA_HASH,
    vectors.APPLE_WEBAUTHN_ROOT,
    valid_at=_utc(2020, 12, 29, 12),
    expired_at=time.time(),  # long past 2020-12-31
)
VECTORS = [pytest.param(TPM, id="tpm"), pytest.param(APPLE, id="apple")]


def _check(
    vector: Vector, policy: AttestationPolicy, *, now: float | None = None, **changes: Any
) -> Any:
    fields = {
        "att_stmt": vector.att_stmt,
        "raw_auth": vector.auth_data,
        "client_data_hash": vector.client_data_hash,
        **changes,
    }
    return check_attestation(
        vector.fmt,
        fields["att_stmt"],
        fields["raw_auth"],
        fields["client_data_hash"],
        policy=policy,
        now=vector.valid_at if now is None else now,
    )


def test_the_vectors_roots_are_the_makers_published_ones() -> None:
    fingerprints = {
        hashlib.sha256(vectors.MICROSOFT_TPM_ROOT_2014).hexdigest(): "Microsoft",
        hashlib.sha256(vectors.APPLE_WEBAUTHN_ROOT).hexdigest(): "Apple",
    }
    assert fingerprints == {
        "870c7a35ceab3d59979f2c6a524042d404cb71518004350925fb2ced79a999da": "Microsoft",
        "0915dd5c07a28db549d1f677bb5a75d4bfbe9561a773424327762e9e02f9bb29": "Apple",
    }


@pytest.mark.parametrize("vector", VECTORS)
def test_a_vector_chained_to_its_root_is_attested(vector: Vector) -> None:
    checked = _check(vector, AttestationPolicy(roots=(vector.root,)))
    assert (checked.trusted, checked.software, checked.assurance) == (True, False, "attested")


@pytest.mark.parametrize("vector", VECTORS)
def test_a_vector_without_its_root_is_verified_but_not_attested(vector: Vector) -> None:
    # No roots configured: verified by python-fido2, trusted by nobody.
    checked = _check(vector, AttestationPolicy())
    assert (checked.trusted, checked.assurance) == (False, "unverified")
    # Roots configured, but the other maker's: refused (configured roots make trust required).
    other = APPLE.root if vector is TPM else TPM.root
    with pytest.raises(CeremonyRejected) as refused:
        _check(vector, AttestationPolicy(roots=(other,)))
    assert refused.value.reason == "attestation_refused"


@pytest.mark.parametrize("roots", [(), (TPM.root,)], ids=["no roots", "its root"])
def test_a_tpm_signature_with_one_bit_flipped_is_refused(roots: tuple[bytes, ...]) -> None:
    tampered = {**TPM.att_stmt, "sig": flip_bit(TPM.att_stmt["sig"], 100)}
    with pytest.raises(CeremonyRejected, match="tpm attestation does not verify") as refused:
        _check(TPM, AttestationPolicy(roots=roots), att_stmt=tampered)
    assert refused.value.reason == "attestation_refused"


@pytest.mark.parametrize("roots", [(), (APPLE.root,)], ids=["no roots", "its root"])
def test_an_apple_statement_bound_to_other_data_is_refused(roots: tuple[bytes, ...]) -> None:
    """An ``apple`` statement carries no signature of its own: the credential certificate
    binds SHA-256(authData || clientDataHash) in its nonce extension. One bit flipped in
    the client data hash breaks that binding."""
    with pytest.raises(CeremonyRejected, match="apple attestation does not verify"):
        _check(
            APPLE,
            AttestationPolicy(roots=roots),
            client_data_hash=flip_bit(APPLE.client_data_hash, 0),
        )


def test_an_apple_certificate_signature_with_one_bit_flipped_does_not_chain() -> None:
    credential_certificate = APPLE.att_stmt["x5c"][0]
    forged = flip_bit(credential_certificate, len(credential_certificate) - 10)  # in the s value
    tampered = {**APPLE.att_stmt, "x5c": [forged, APPLE.att_stmt["x5c"][1]]}
    with pytest.raises(CeremonyRejected) as refused:
        _check(APPLE, AttestationPolicy(roots=(APPLE.root,)), att_stmt=tampered)
    assert refused.value.reason == "attestation_refused"
    # Without roots nothing checks the chain: verified, and only "unverified".
    assert _check(APPLE, AttestationPolicy(), att_stmt=tampered).assurance == "unverified"


@pytest.mark.parametrize("vector", VECTORS)
def test_a_vector_judged_after_its_certificate_expired_is_not_attested(vector: Vector) -> None:
    with pytest.raises(CeremonyRejected, match="not valid now") as refused:
        _check(vector, AttestationPolicy(roots=(vector.root,)), now=vector.expired_at)
    assert refused.value.reason == "attestation_refused"
