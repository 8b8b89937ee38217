"""``PivCard`` against the virtual PIV card in-process (no pcscd).

Signatures are checked the way the token service checks them: the certificate's
public key over SHA-256 of the challenge, ECDSA (DER) or RSA PKCS#1 v1.5.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from tokenstile.devices import (
    DirectConnection,
    InvalidPinFormat,
    KeyAlgorithm,
    ManagementKeyAlgorithm,
    ManagementKeyRejected,
    NoCertificate,
    NotPivCard,
    PinBlocked,
    PinRequired,
    PivCard,
    PivSlot,
    PukBlocked,
    UnsupportedKey,
    WrongPin,
    WrongPuk,
)
from tokenstile.virtual import Ctap2Authenticator, CtapNfcApplet
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_objects import Algorithm, Slot
from tokenstile.virtual.piv_provision import (
    DEFAULT_MANAGEMENT_KEY,
    CertificateRequest,
    build_certificate,
    create_piv_card,
)
from tokenstile.virtual.piv_state import PivCardState

CHALLENGE = bytes(range(32))


@pytest.fixture(scope="module")
def ec_template() -> PivCardApplet:
    return create_piv_card(holder="Alice Example", slots=[Slot.AUTHENTICATION, Slot.SIGNATURE])


@pytest.fixture(scope="module")
def rsa_template() -> PivCardApplet:
    return create_piv_card(algorithm=Algorithm.RSA2048)


def _copy(template: PivCardApplet) -> PivCardApplet:
    return PivCardApplet(PivCardState.from_json(template.state.to_json()))


@pytest.fixture
def virtual_card(ec_template: PivCardApplet) -> PivCardApplet:
    return _copy(ec_template)


@pytest.fixture
def card(virtual_card: PivCardApplet) -> PivCard:
    return PivCard(DirectConnection(virtual_card))


def verify_like_the_server(certificate: x509.Certificate, signature: bytes) -> None:
    public_key = certificate.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, CHALLENGE, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(public_key, rsa.RSAPublicKey)
        public_key.verify(signature, CHALLENGE, padding.PKCS1v15(), hashes.SHA256())


def test_login_with_an_ecc_card(card: PivCard) -> None:
    assert card.application_label == "Tokenstile virtual PIV"
    certificate = card.read_certificate()
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Alice Example"
    )
    assert card.pin_status().retries_left == 3
    card.verify_pin("123456")
    assert card.pin_status().verified
    verify_like_the_server(certificate, card.sign(CHALLENGE))


def test_login_with_an_rsa_card(rsa_template: PivCardApplet) -> None:
    card = PivCard(DirectConnection(_copy(rsa_template)))
    card.verify_pin("123456")
    signature = card.sign(CHALLENGE)
    assert len(signature) == 256
    verify_like_the_server(card.read_certificate(), signature)


def test_chuid_names_the_card(card: PivCard, virtual_card: PivCardApplet) -> None:
    chuid = card.read_chuid()
    assert chuid.guid is not None
    assert len(chuid.guid) == 16
    assert chuid.card_id == chuid.guid.hex()
    assert chuid.fasc_n is not None
    assert chuid.expires is not None


def test_wrong_pin_reports_retries_then_blocks(card: PivCard) -> None:
    with pytest.raises(WrongPin) as first:
        card.verify_pin("000000")
    assert first.value.retries_left == 2
    assert first.value.code == "wrong_pin"
    assert "2 tries left" in first.value.message
    with pytest.raises(WrongPin) as second:
        card.verify_pin("000000")
    assert second.value.retries_left == 1
    assert "1 try left" in second.value.message
    with pytest.raises(PinBlocked) as blocked:
        card.verify_pin("000000")
    assert blocked.value.code == "pin_blocked"
    assert card.pin_status().blocked
    with pytest.raises(PinBlocked):
        card.verify_pin("123456")


@pytest.mark.parametrize("pin", ["12345", "123456789", "", "12345\u00e9"])
def test_malformed_pin_is_refused_without_spending_a_try(card: PivCard, pin: str) -> None:
    with pytest.raises(InvalidPinFormat):
        card.verify_pin(pin)
    assert card.pin_status().retries_left == 3


def test_signing_needs_the_pin(card: PivCard) -> None:
    with pytest.raises(PinRequired) as caught:
        card.sign(CHALLENGE)
    assert caught.value.sw == 0x6982


def test_signature_key_with_pin_always(card: PivCard) -> None:
    certificate = card.read_certificate(PivSlot.SIGNATURE)
    verify_like_the_server(certificate, card.sign(CHALLENGE, slot=PivSlot.SIGNATURE, pin="123456"))
    with pytest.raises(PinRequired):
        card.sign(CHALLENGE, slot=PivSlot.SIGNATURE)
    verify_like_the_server(certificate, card.sign(CHALLENGE, slot=PivSlot.SIGNATURE, pin="123456"))


def test_empty_slot_has_no_certificate(card: PivCard) -> None:
    with pytest.raises(NoCertificate) as caught:
        card.read_certificate(PivSlot.KEY_MANAGEMENT)
    assert caught.value.code == "no_certificate"
    assert "9D" in caught.value.message


def test_logout(card: PivCard) -> None:
    card.verify_pin("123456")
    card.logout()
    assert card.pin_status() == type(card.pin_status())(verified=False, retries_left=3)


def test_change_pin(card: PivCard) -> None:
    card.change_pin("123456", "24681357")
    with pytest.raises(WrongPin):
        card.verify_pin("123456")
    card.verify_pin("24681357")
    with pytest.raises(InvalidPinFormat):
        card.change_pin("24681357", "abcdef")


def test_unblock_with_the_puk(card: PivCard) -> None:
    for _ in range(2):
        with pytest.raises(WrongPin):
            card.verify_pin("000000")
    with pytest.raises(PinBlocked):
        card.verify_pin("000000")
    with pytest.raises(WrongPuk) as wrong:
        card.unblock_pin("87654321", "112233")
    assert wrong.value.retries_left == 2
    card.unblock_pin("12345678", "112233")
    assert card.pin_status().retries_left == 3
    card.verify_pin("112233")


def test_puk_blocks(card: PivCard) -> None:
    card.change_puk("12345678", "87654321")
    for expected in (2, 1):
        with pytest.raises(WrongPuk) as wrong:
            card.unblock_pin("12345678", "112233")
        assert wrong.value.retries_left == expected
    with pytest.raises(PukBlocked):
        card.unblock_pin("12345678", "112233")
    with pytest.raises(PukBlocked):
        card.unblock_pin("87654321", "112233")


def test_not_a_piv_card() -> None:
    with pytest.raises(NotPivCard) as caught:
        PivCard(DirectConnection(CtapNfcApplet(Ctap2Authenticator())))
    assert caught.value.code == "not_piv_card"

    class Chatty:
        def handle_apdu(self, apdu: bytes) -> bytes:
            return b"\x01\x02\x03\x90\x00"  # "OK" to everything, with junk

    with pytest.raises(NotPivCard):
        PivCard(DirectConnection(Chatty()))


def test_unsupported_key_type() -> None:
    card = create_piv_card(algorithm=Algorithm.ECCP384)
    with pytest.raises(UnsupportedKey):
        PivCard(DirectConnection(card)).sign(CHALLENGE)


# -- administration -------------------------------------------------------------------


def test_enroll_a_new_key_issued_by_a_ca(card: PivCard, virtual_card: PivCardApplet) -> None:
    with pytest.raises(ManagementKeyRejected):
        card.generate_key()
    card.authenticate(DEFAULT_MANAGEMENT_KEY, ManagementKeyAlgorithm.TDES)
    public_key = card.generate_key(PivSlot.AUTHENTICATION, KeyAlgorithm.ECCP256)
    assert public_key == virtual_card.state.keys[Slot.AUTHENTICATION].private_key.public_key()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dana")])
    request = CertificateRequest(slot=Slot.AUTHENTICATION, public_key=public_key, subject=subject)
    certificate = build_certificate(request, issuer_name=ca_name, signing_key=ca_key)
    card.put_certificate(PivSlot.AUTHENTICATION, certificate)

    fresh = PivCard(DirectConnection(virtual_card))
    assert fresh.read_certificate() == certificate
    fresh.verify_pin("123456")
    verify_like_the_server(certificate, fresh.sign(CHALLENGE))


def test_generate_rsa_key(card: PivCard) -> None:
    card.authenticate(DEFAULT_MANAGEMENT_KEY)
    public_key = card.generate_key(PivSlot.KEY_MANAGEMENT, KeyAlgorithm.RSA2048)
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == 2048


def test_aes_management_key() -> None:
    key = bytes(range(16))
    virtual_card = create_piv_card(management_key=key, management_algorithm=Algorithm.AES128)
    card = PivCard(DirectConnection(virtual_card))
    with pytest.raises(ManagementKeyRejected, match="algorithm"):
        card.authenticate(DEFAULT_MANAGEMENT_KEY, ManagementKeyAlgorithm.TDES)
    with pytest.raises(ManagementKeyRejected, match="Wrong management key"):
        card.authenticate(bytes(16), ManagementKeyAlgorithm.AES128)
    card.authenticate(key, ManagementKeyAlgorithm.AES128)
    card.generate_key(PivSlot.CARD_AUTHENTICATION)


def test_a_card_that_does_not_know_the_key_is_caught(virtual_card: PivCardApplet) -> None:
    """Mutual authentication: the host checks the card's answer to its challenge too."""

    class Impostor:
        def handle_apdu(self, apdu: bytes) -> bytes:
            response = virtual_card.handle_apdu(apdu)
            if apdu[1] == 0x87 and b"\x81\x08" in apdu:  # the host's challenge
                return response[:-3] + bytes([response[-3] ^ 1]) + response[-2:]
            return response

    with pytest.raises(ManagementKeyRejected, match="does not hold"):
        PivCard(DirectConnection(Impostor())).authenticate(DEFAULT_MANAGEMENT_KEY)
