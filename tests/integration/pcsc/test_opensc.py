"""OpenSC, an independent PIV implementation, accepts the virtual card through real pcscd.

OpenSC picks its driver by what the card answers (a card that says 9000 to everything
is taken for something else), reads the certificates through its PKCS#15 emulation,
and signs through its PKCS#11 module; the signatures are checked here with the
certificate's public key.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from tests.integration.pcsc.conftest import OPENSC_PKCS11, READERS, VpcdSlot
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_objects import Algorithm, ObjectTag, Slot, parse_tlv
from tokenstile.virtual.piv_provision import create_piv_card

pytestmark = pytest.mark.pcsc

READER = READERS[0]


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        list(args), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if check and completed.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}")
    return completed


def card_certificate(card: PivCardApplet) -> x509.Certificate:
    container = parse_tlv(card.state.objects[ObjectTag.CERT_AUTHENTICATION])
    return x509.load_der_x509_certificate(container[0x70])


@pytest.fixture(scope="module")
def ecc_card() -> PivCardApplet:
    return create_piv_card(
        holder="Alice Example",
        upn="alice@example.com",
        slots=[Slot.AUTHENTICATION, Slot.SIGNATURE, Slot.KEY_MANAGEMENT, Slot.CARD_AUTHENTICATION],
    )


def test_opensc_lists_the_readers_and_takes_the_card_for_piv(
    vpcd_slot: VpcdSlot, ecc_card: PivCardApplet, opensc_env: dict[str, str]
) -> None:
    vpcd_slot(ecc_card)
    listing = run(opensc_env, "opensc-tool", "--list-readers").stdout
    for reader in READERS:
        assert reader in listing
    assert any(READER in line and "Yes" in line for line in listing.splitlines())
    driver = run(opensc_env, "opensc-tool", "--reader", READER, "--name").stdout
    assert "Personal Identity Verification Card" in driver


def test_pkcs15_tool_lists_and_reads_the_9a_certificate(
    vpcd_slot: VpcdSlot, ecc_card: PivCardApplet, opensc_env: dict[str, str]
) -> None:
    vpcd_slot(ecc_card)
    listing = run(opensc_env, "pkcs15-tool", "--reader", READER, "--list-certificates").stdout
    assert "Certificate for PIV Authentication" in listing
    assert "Certificate for Card Authentication" in listing
    expected = card_certificate(ecc_card)
    assert f"{expected.serial_number:X}" in listing.replace(" ", "").upper()

    pem = run(opensc_env, "pkcs15-tool", "--reader", READER, "--read-certificate", "01").stdout
    assert x509.load_pem_x509_certificate(pem.encode()) == expected


def test_pkcs11_ecdsa_signature_verifies_with_the_certificate(
    vpcd_slot: VpcdSlot, ecc_card: PivCardApplet, opensc_env: dict[str, str], tmp_path: Path
) -> None:
    vpcd_slot(ecc_card)
    digest = hashlib.sha256(b"challenge from the token service").digest()
    (tmp_path / "digest").write_bytes(digest)
    run(
        opensc_env,
        "pkcs11-tool",
        "--module", str(OPENSC_PKCS11),
        "--slot-description", READER,
        "--login", "--pin", "123456",
        "--sign", "--mechanism", "ECDSA", "--id", "01",
        "--input-file", str(tmp_path / "digest"),
        "--output-file", str(tmp_path / "signature"),
    )  # fmt: skip
    raw = (tmp_path / "signature").read_bytes()  # PKCS#11: r || s
    assert len(raw) == 64
    signature = encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    public_key = card_certificate(ecc_card).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_pkcs11_rsa_signature_verifies_with_the_certificate(
    vpcd_slot: VpcdSlot, opensc_env: dict[str, str], tmp_path: Path
) -> None:
    card = create_piv_card(algorithm=Algorithm.RSA2048, holder="Bob Example")
    vpcd_slot(card)
    message = b"challenge from the token service"
    (tmp_path / "message").write_bytes(message)
    run(
        opensc_env,
        "pkcs11-tool",
        "--module", str(OPENSC_PKCS11),
        "--slot-description", READER,
        "--login", "--pin", "123456",
        "--sign", "--mechanism", "SHA256-RSA-PKCS", "--id", "01",
        "--input-file", str(tmp_path / "message"),
        "--output-file", str(tmp_path / "signature"),
    )  # fmt: skip
    public_key = card_certificate(card).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(
        (tmp_path / "signature").read_bytes(), message, padding.PKCS1v15(), hashes.SHA256()
    )


def test_pkcs11_login_with_a_wrong_pin_counts_on_the_card(
    vpcd_slot: VpcdSlot, opensc_env: dict[str, str]
) -> None:
    card = create_piv_card()
    vpcd_slot(card)
    completed = run(
        opensc_env,
        "pkcs11-tool",
        "--module", str(OPENSC_PKCS11),
        "--slot-description", READER,
        "--login", "--pin", "999999",
        "--list-objects",
        check=False,
    )  # fmt: skip
    assert completed.returncode != 0
    assert "CKR_PIN_INCORRECT" in completed.stdout + completed.stderr
    assert card.pin_retries == 2
