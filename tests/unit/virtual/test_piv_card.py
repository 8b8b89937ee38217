"""The virtual PIV card at the APDU level (SP 800-73-4 Part 2), with no pcscd.

The signatures it makes are checked with ``cryptography`` against the certificates it
holds; PIN and PUK counters against the status words the spec prescribes.
"""

from __future__ import annotations

import hashlib
import random

import pytest
from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_objects import Algorithm, Slot, iter_tlv, parse_tlv
from tokenstile.virtual.piv_provision import create_piv_card
from tokenstile.virtual.piv_state import PivCardState

# Raw APDUs, deliberately independent of ``tokenstile.devices``: these tests speak
# SP 800-73-4 bytes to the card, so a mistake shared by card and kiosk cannot hide.

PIN = b"123456"
PUK = b"12345678"
TDES_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")


def split(response: bytes) -> tuple[bytes, int]:
    return response[:-2], int.from_bytes(response[-2:], "big")


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    return b"\x82" + n.to_bytes(2, "big")


def tlv(tag: int, value: bytes = b"") -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big") + length(len(value)) + value


def apdu(
    ins: int, p1: int, p2: int, data: bytes = b"", *, cla: int = 0, le: int | None = 0
) -> bytes:
    command = bytes([cla, ins, p1, p2])
    if data:
        command += bytes([len(data)]) + data
    if le is not None:
        command += bytes([le])
    return command


def padded(value: bytes) -> bytes:
    return value.ljust(8, b"\xff")


def transceive(card: PivCardApplet, command: bytes) -> tuple[bytes, int]:
    """Send a command and fetch the whole reply with GET RESPONSE, as a host does."""
    data, sw = split(card.handle_apdu(command))
    pieces = [data]
    while sw >> 8 == 0x61:
        data, sw = split(card.handle_apdu(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF])))
        pieces.append(data)
    return b"".join(pieces), sw


def send_chained(card: PivCardApplet, ins: int, p1: int, p2: int, data: bytes) -> tuple[bytes, int]:
    """Long data in 255-byte links with CLA 10, then the last link with CLA 00."""
    while len(data) > 255:
        link, data = data[:255], data[255:]
        assert split(card.handle_apdu(apdu(ins, p1, p2, link, cla=0x10, le=None)))[1] == 0x9000
    return transceive(card, apdu(ins, p1, p2, data))


def get_data(card: PivCardApplet, tag: int) -> tuple[bytes, int]:
    tag_bytes = tag.to_bytes(3 if tag > 0xFF else 1, "big")
    return transceive(card, apdu(0xCB, 0x3F, 0xFF, tlv(0x5C, tag_bytes)))


def verify(card: PivCardApplet, pin: bytes | None = PIN) -> int:
    if pin is None:
        return split(card.handle_apdu(bytes.fromhex("00200080")))[1]
    return split(card.handle_apdu(apdu(0x20, 0x00, 0x80, padded(pin), le=None)))[1]


def ecb(key: bytes, block: bytes, *, decrypt: bool = False) -> bytes:
    primitive = TripleDES(key) if len(block) == 8 else algorithms.AES(key)
    cipher = Cipher(primitive, modes.ECB())  # noqa: S305 - single blocks, as the card does
    worker = cipher.decryptor() if decrypt else cipher.encryptor()
    return worker.update(block) + worker.finalize()


def authenticate_management(
    card: PivCardApplet, key: bytes = TDES_KEY, algorithm: int = 0x03
) -> None:
    """Mutual authentication: decrypt the card's witness, check its answer to ours."""
    block = 8 if algorithm == 0x03 else 16
    reply, sw = transceive(card, apdu(0x87, algorithm, 0x9B, tlv(0x7C, tlv(0x80))))
    assert sw == 0x9000
    assert reply[:4] == bytes([0x7C, block + 2, 0x80, block])
    witness = ecb(key, reply[4:], decrypt=True)
    challenge = bytes(range(block))
    reply, sw = transceive(
        card, apdu(0x87, algorithm, 0x9B, tlv(0x7C, tlv(0x80, witness) + tlv(0x81, challenge)))
    )
    assert sw == 0x9000
    assert reply == tlv(0x7C, tlv(0x82, ecb(key, challenge)))


AID = bytes.fromhex("A000000308000010000100")


@pytest.fixture(scope="module")
def ec_template() -> PivCardApplet:
    return create_piv_card(
        slots=[Slot.AUTHENTICATION, Slot.SIGNATURE, Slot.KEY_MANAGEMENT, Slot.CARD_AUTHENTICATION]
    )


@pytest.fixture
def card(ec_template: PivCardApplet) -> PivCardApplet:
    """A fresh in-memory P-256 card with keys and certificates in all four slots."""
    return PivCardApplet(PivCardState.from_json(ec_template.state.to_json()))


@pytest.fixture(scope="module")
def rsa_card() -> PivCardApplet:
    return create_piv_card(algorithm=Algorithm.RSA2048)


def certificate(card: PivCardApplet, tag: int = 0x5FC105) -> x509.Certificate:
    data, sw = get_data(card, tag)
    assert sw == 0x9000
    container = parse_tlv(parse_tlv(data)[0x53])
    assert container[0x71] == b"\x00"  # CertInfo: not compressed
    assert 0xFE in container
    return x509.load_der_x509_certificate(container[0x70])


# -- SELECT and GET DATA --------------------------------------------------------------


@pytest.mark.parametrize("aid", [AID, AID[:9], AID[:5]])
def test_select_answers_the_application_property_template(card: PivCardApplet, aid: bytes) -> None:
    data, sw = transceive(card, apdu(0xA4, 0x04, 0x00, aid))
    assert sw == 0x9000
    template = parse_tlv(parse_tlv(data)[0x61])
    assert template[0x4F] == bytes.fromhex("0000100001 00".replace(" ", ""))
    assert parse_tlv(template[0x79]) == {0x4F: AID[:5]}
    algorithms = [value for tag, value in _items(template[0xAC]) if tag == 0x80]
    assert {b"\x03", b"\x08", b"\x07", b"\x11"} <= set(algorithms)


def _items(data: bytes) -> list[tuple[int, bytes]]:
    return list(iter_tlv(data))


def test_select_of_another_aid_is_not_found(card: PivCardApplet) -> None:
    assert transceive(card, apdu(0xA4, 0x04, 0x00, bytes.fromhex("A0000006472F0001")))[1] == 0x6A82
    assert transceive(card, apdu(0xA4, 0x04, 0x00, AID + b"\x00"))[1] == 0x6A82
    # PIV stays the current application
    assert get_data(card, 0x7E)[1] == 0x9000


def test_chuid_ccc_and_discovery(card: PivCardApplet) -> None:
    chuid, sw = get_data(card, 0x5FC102)
    assert sw == 0x9000
    fields = parse_tlv(parse_tlv(chuid)[0x53])
    assert len(fields[0x30]) == 25  # FASC-N
    assert len(fields[0x34]) == 16  # GUID
    assert len(fields[0x35]) == 8  # YYYYMMDD
    assert fields[0x35].isdigit()
    assert fields[0x3E] == b""  # issuer signature (unsigned virtual card)

    ccc, sw = get_data(card, 0x5FC107)
    assert sw == 0x9000
    fields = parse_tlv(parse_tlv(ccc)[0x53])
    assert len(fields[0xF0]) == 21
    assert fields[0xF5] == b"\x10"

    discovery, sw = get_data(card, 0x7E)
    assert sw == 0x9000
    fields = parse_tlv(parse_tlv(discovery)[0x7E])
    assert fields[0x4F] == AID
    assert fields[0x5F2F] == b"\x40\x00"  # PIV PIN only


@pytest.mark.parametrize(
    ("tag", "slot"),
    [
        (0x5FC105, Slot.AUTHENTICATION),
        (0x5FC10A, Slot.SIGNATURE),
        (0x5FC10B, Slot.KEY_MANAGEMENT),
        (0x5FC101, Slot.CARD_AUTHENTICATION),
    ],
)
def test_certificates_match_the_slot_keys(card: PivCardApplet, tag: int, slot: Slot) -> None:
    assert certificate(card, tag).public_key() == card.state.keys[slot].private_key.public_key()


def test_long_object_comes_in_pieces_honouring_le(card: PivCardApplet) -> None:
    whole, sw = get_data(card, 0x5FC105)
    assert sw == 0x9000
    data, sw = split(
        card.handle_apdu(apdu(0xCB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC105")), le=0x40))
    )
    pieces = [data]
    assert len(data) == 0x40
    while sw >> 8 == 0x61:
        data, sw = split(card.handle_apdu(bytes.fromhex("00C0000040")))
        pieces.append(data)
    assert sw == 0x9000
    assert b"".join(pieces) == whole
    assert len(pieces) > 3


def test_extended_le_gets_everything_at_once(card: PivCardApplet) -> None:
    command = bytes.fromhex("00CB3FFF000005") + tlv(0x5C, bytes.fromhex("5FC105")) + b"\x00\x00"
    data, sw = split(card.handle_apdu(command))
    assert sw == 0x9000
    assert data == get_data(card, 0x5FC105)[0]


def test_missing_object_and_pin_protected_object(card: PivCardApplet) -> None:
    assert get_data(card, 0x5FC10C)[1] == 0x6A82  # no key history
    assert get_data(card, 0x5FC109)[1] == 0x6982  # printed information needs the PIN
    assert verify(card) == 0x9000
    data, sw = get_data(card, 0x5FC109)
    assert sw == 0x9000
    assert parse_tlv(parse_tlv(data)[0x53])[0x01] == b"Virtual Cardholder"


# -- PIN and PUK -----------------------------------------------------------------------


def test_wrong_pins_count_down_then_block(card: PivCardApplet) -> None:
    assert verify(card, None) == 0x63C3
    assert verify(card, b"654321") == 0x63C2
    assert verify(card, None) == 0x63C2  # an empty VERIFY spends nothing
    assert verify(card, b"654321") == 0x63C1
    assert verify(card, b"654321") == 0x6983
    assert verify(card, PIN) == 0x6983  # blocked: even the right PIN fails
    assert verify(card, None) == 0x6983
    assert card.pin_retries == 0


def test_right_pin_restores_the_counter_and_logs_in(card: PivCardApplet) -> None:
    assert verify(card, b"999999") == 0x63C2
    assert verify(card) == 0x9000
    assert verify(card, None) == 0x9000
    assert card.pin_retries == 3
    # P1 FF resets the security status
    assert split(card.handle_apdu(bytes.fromhex("0020FF80")))[1] == 0x9000
    assert verify(card, None) == 0x63C3


def test_wrong_pin_after_login_logs_out(card: PivCardApplet) -> None:
    assert verify(card) == 0x9000
    assert verify(card, b"000000") == 0x63C2
    assert verify(card, None) == 0x63C2


@pytest.mark.parametrize(
    ("command", "sw"),
    [
        ("002000800431323334", 0x6A80),  # not 8 bytes: no try spent
        ("00200081083132333435363738", 0x6A88),  # the PUK is not verified with VERIFY
        ("002000800A31323334", 0x6700),  # Lc says 10, 4 bytes follow
        ("00200180083132333435363738", 0x6A86),
    ],
)
def test_malformed_verify(card: PivCardApplet, command: str, sw: int) -> None:
    assert split(card.handle_apdu(bytes.fromhex(command)))[1] == sw
    assert card.pin_retries == 3


def test_change_pin(card: PivCardApplet) -> None:
    change = apdu(0x24, 0x00, 0x80, padded(PIN) + padded(b"13572468"), le=None)
    assert split(card.handle_apdu(change))[1] == 0x9000
    assert verify(card, PIN) == 0x63C2
    assert verify(card, b"13572468") == 0x9000


def test_change_pin_with_wrong_old_pin_counts(card: PivCardApplet) -> None:
    change = apdu(0x24, 0x00, 0x80, padded(b"000000") + padded(b"13572468"), le=None)
    assert split(card.handle_apdu(change))[1] == 0x63C2
    assert verify(card, PIN) == 0x9000


@pytest.mark.parametrize("new_pin", [b"12345\xff\xff\xff", b"12a456\xff\xff", b"1234\xff678"])
def test_change_pin_refuses_a_pin_fips_201_forbids(card: PivCardApplet, new_pin: bytes) -> None:
    change = apdu(0x24, 0x00, 0x80, padded(PIN) + new_pin, le=None)
    assert split(card.handle_apdu(change))[1] == 0x6A80
    assert verify(card, PIN) == 0x9000


def test_puk_unblocks_a_blocked_pin(card: PivCardApplet) -> None:
    for _ in range(3):
        verify(card, b"000000")
    assert verify(card, None) == 0x6983
    reset = apdu(0x2C, 0x00, 0x80, padded(b"87654321") + padded(b"246810"), le=None)
    assert split(card.handle_apdu(reset))[1] == 0x63C2  # wrong PUK
    reset = apdu(0x2C, 0x00, 0x80, padded(PUK) + padded(b"246810"), le=None)
    assert split(card.handle_apdu(reset))[1] == 0x9000
    assert verify(card, None) == 0x63C3
    assert verify(card, b"246810") == 0x9000
    assert card.puk_retries == 3


def test_puk_blocks_too(card: PivCardApplet) -> None:
    wrong = apdu(0x2C, 0x00, 0x80, padded(b"87654321") + padded(b"246810"), le=None)
    assert [split(card.handle_apdu(wrong))[1] for _ in range(4)] == [0x63C2, 0x63C1, 0x6983, 0x6983]
    right = apdu(0x2C, 0x00, 0x80, padded(PUK) + padded(b"246810"), le=None)
    assert split(card.handle_apdu(right))[1] == 0x6983


def test_change_puk(card: PivCardApplet) -> None:
    change = apdu(0x24, 0x00, 0x81, padded(PUK) + padded(b"87654321"), le=None)
    assert split(card.handle_apdu(change))[1] == 0x9000
    reset = apdu(0x2C, 0x00, 0x80, padded(b"87654321") + padded(b"246810"), le=None)
    assert split(card.handle_apdu(reset))[1] == 0x9000


def test_power_cycle_forgets_the_pin(card: PivCardApplet) -> None:
    assert verify(card) == 0x9000
    card.power_cycle()
    assert verify(card, None) == 0x63C3


# -- GENERAL AUTHENTICATE: signatures ---------------------------------------------------


def _sign_apdu(algorithm: int, slot: int, data: bytes) -> bytes:
    return apdu(0x87, algorithm, slot, tlv(0x7C, tlv(0x82) + tlv(0x81, data)))


def test_ecdsa_p256_signature_with_the_9a_key(card: PivCardApplet) -> None:
    digest = bytes(range(32))
    assert transceive(card, _sign_apdu(0x11, 0x9A, digest))[1] == 0x6982  # PIN first
    assert verify(card) == 0x9000
    reply, sw = transceive(card, _sign_apdu(0x11, 0x9A, digest))
    assert sw == 0x9000
    signature = parse_tlv(parse_tlv(reply)[0x7C])[0x82]
    public_key = certificate(card).public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_rsa_2048_raw_signature_is_pkcs1_when_the_host_pads(rsa_card: PivCardApplet) -> None:
    message = b"server challenge"
    digest_info = (
        bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(message).digest()
    )
    block = b"\x00\x01" + b"\xff" * (256 - len(digest_info) - 3) + b"\x00" + digest_info
    assert verify(rsa_card) == 0x9000
    command = tlv(0x7C, tlv(0x82) + tlv(0x81, block))
    reply, sw = send_chained(rsa_card, 0x87, 0x07, 0x9A, command)  # 260 bytes: chained
    assert sw == 0x9000
    signature = parse_tlv(parse_tlv(reply)[0x7C])[0x82]
    assert len(signature) == 256
    public_key = certificate(rsa_card).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_signature_key_wants_the_pin_right_before_each_use(card: PivCardApplet) -> None:
    digest = b"\x01" * 32
    assert verify(card) == 0x9000
    assert transceive(card, _sign_apdu(0x11, 0x9C, digest))[1] == 0x9000
    assert transceive(card, _sign_apdu(0x11, 0x9C, digest))[1] == 0x6982  # "PIN always"
    assert transceive(card, _sign_apdu(0x11, 0x9A, digest))[1] == 0x9000  # 9A: once is enough
    assert verify(card) == 0x9000
    assert transceive(card, _sign_apdu(0x11, 0x9C, digest))[1] == 0x9000


def test_card_authentication_key_needs_no_pin(card: PivCardApplet) -> None:
    assert transceive(card, _sign_apdu(0x11, 0x9E, b"\x02" * 32))[1] == 0x9000


def test_key_agreement_with_the_key_management_key(card: PivCardApplet) -> None:
    peer = ec.generate_private_key(ec.SECP256R1())
    point = peer.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert verify(card) == 0x9000
    reply, sw = transceive(card, apdu(0x87, 0x11, 0x9D, tlv(0x7C, tlv(0x82) + tlv(0x85, point))))
    assert sw == 0x9000
    secret = parse_tlv(parse_tlv(reply)[0x7C])[0x82]
    card_public = card.state.keys[Slot.KEY_MANAGEMENT].private_key.public_key()
    assert isinstance(card_public, ec.EllipticCurvePublicKey)
    assert secret == peer.exchange(ec.ECDH(), card_public)


@pytest.mark.parametrize(
    ("command", "sw"),
    [
        (_sign_apdu(0x07, 0x9A, b"\x00" * 32), 0x6A86),  # RSA mechanism on an EC key
        (_sign_apdu(0x11, 0x9A, b"\x00" * 33), 0x6A80),  # longer than the field
        (_sign_apdu(0x11, 0x82, b"\x00" * 32), 0x6A86),  # a slot the card does not have
        (apdu(0x87, 0x11, 0x9A, b"\x7c\x05\x82\x00"), 0x6A80),  # truncated template
        (apdu(0x87, 0x11, 0x9A, tlv(0x7C, tlv(0x81, b"x"))), 0x6A80),  # no response tag
        (apdu(0x87, 0x11, 0x9A, tlv(0x53, b"")), 0x6A80),
    ],
)
def test_bad_general_authenticate(card: PivCardApplet, command: bytes, sw: int) -> None:
    assert verify(card) == 0x9000
    assert transceive(card, command)[1] == sw


def test_empty_slot_is_reference_not_found() -> None:
    card = create_piv_card(slots=[Slot.AUTHENTICATION])
    assert verify(card) == 0x9000
    assert transceive(card, _sign_apdu(0x11, 0x9D, b"\x00" * 32))[1] == 0x6A88


# -- the management key, GENERATE and PUT DATA ----------------------------------------------


def test_generate_and_put_data_need_the_management_key(card: PivCardApplet) -> None:
    generate = apdu(0x47, 0x00, 0x9A, tlv(0xAC, tlv(0x80, b"\x11")))
    assert transceive(card, generate)[1] == 0x6982
    put = apdu(0xDB, 0x3F, 0xFF, tlv(0x5C, bytes.fromhex("5FC109")) + tlv(0x53, b"\x01\x00"))
    assert transceive(card, put)[1] == 0x6982


def test_mutual_authentication_with_3des(card: PivCardApplet) -> None:
    authenticate_management(card, TDES_KEY, 0x03)
    reply, sw = transceive(card, apdu(0x47, 0x00, 0x9A, tlv(0xAC, tlv(0x80, b"\x11"))))
    assert sw == 0x9000
    point = parse_tlv(parse_tlv(reply)[0x7F49])[0x86]
    assert len(point) == 65
    assert point[0] == 4
    new_key = card.state.keys[Slot.AUTHENTICATION].private_key.public_key()
    assert isinstance(new_key, ec.EllipticCurvePublicKey)
    assert point == new_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_aes_management_key_by_challenge_response() -> None:
    key = bytes(range(16))
    card = create_piv_card(management_key=key, management_algorithm=Algorithm.AES128)
    # the other algorithm is refused
    assert transceive(card, apdu(0x87, 0x03, 0x9B, tlv(0x7C, tlv(0x80))))[1] == 0x6A86
    reply, sw = transceive(card, apdu(0x87, 0x08, 0x9B, tlv(0x7C, tlv(0x81))))
    assert sw == 0x9000
    challenge = parse_tlv(parse_tlv(reply)[0x7C])[0x81]
    assert len(challenge) == 16
    response = tlv(0x7C, tlv(0x82, ecb(key, challenge)))
    assert transceive(card, apdu(0x87, 0x08, 0x9B, response))[1] == 0x9000
    generate = apdu(0x47, 0x00, 0x9D, tlv(0xAC, tlv(0x80, b"\x07")))
    reply, sw = transceive(card, generate)
    assert sw == 0x9000
    template = parse_tlv(parse_tlv(reply)[0x7F49])
    assert len(template[0x81]) == 256
    assert template[0x82] == b"\x01\x00\x01"


def test_wrong_management_key_is_refused(card: PivCardApplet) -> None:
    reply, sw = transceive(card, apdu(0x87, 0x03, 0x9B, tlv(0x7C, tlv(0x80))))
    assert sw == 0x9000
    wrong_witness = ecb(bytes(24), parse_tlv(parse_tlv(reply)[0x7C])[0x80], decrypt=True)
    answer = tlv(0x7C, tlv(0x80, wrong_witness) + tlv(0x81, bytes(8)))
    assert transceive(card, apdu(0x87, 0x03, 0x9B, answer))[1] == 0x6982
    # a witness is good for one try only
    assert transceive(card, apdu(0x87, 0x03, 0x9B, answer))[1] == 0x6982
    generate = apdu(0x47, 0x00, 0x9A, tlv(0xAC, tlv(0x80, b"\x11")))
    assert transceive(card, generate)[1] == 0x6982


def test_put_data_writes_chained_and_deletes(card: PivCardApplet) -> None:
    authenticate_management(card)
    big = bytes(random.Random(5).getrandbits(8) for _ in range(1500))
    content = tlv(0x70, big) + tlv(0x71, b"\x00") + tlv(0xFE)
    data = tlv(0x5C, bytes.fromhex("5FC10D")) + tlv(0x53, content)
    assert send_chained(card, 0xDB, 0x3F, 0xFF, data)[1] == 0x9000
    stored, sw = get_data(card, 0x5FC10D)
    assert sw == 0x9000
    assert parse_tlv(parse_tlv(stored)[0x53])[0x70] == big
    delete = tlv(0x5C, bytes.fromhex("5FC10D")) + tlv(0x53)
    assert transceive(card, apdu(0xDB, 0x3F, 0xFF, delete))[1] == 0x9000
    assert get_data(card, 0x5FC10D)[1] == 0x6A82


def test_put_data_refuses_tags_outside_piv(card: PivCardApplet) -> None:
    authenticate_management(card)
    data = tlv(0x5C, bytes.fromhex("5FFF01")) + tlv(0x53, b"\x01\x00")
    assert transceive(card, apdu(0xDB, 0x3F, 0xFF, data))[1] == 0x6A80


def test_broken_chain_is_refused(card: PivCardApplet) -> None:
    head = apdu(0xDB, 0x3F, 0xFF, b"\x5c\x03\x5f", cla=0x10, le=None)
    assert split(card.handle_apdu(head))[1] == 0x9000
    # the next link is another command: the chain is abandoned
    assert transceive(card, apdu(0xCB, 0x3F, 0xFF, tlv(0x5C, b"\x7e")))[1] == 0x6883
    assert get_data(card, 0x7E)[1] == 0x9000


# -- anything at all on the wire --------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "sw"),
    [
        (b"", 0x6700),
        (b"\x00\xa4\x04", 0x6700),
        (bytes.fromhex("00A404000AA0000003"), 0x6700),  # Lc larger than the data
        (bytes.fromhex("80CB3FFF"), 0x6E00),
        (bytes.fromhex("0CCB3FFF"), 0x6882),  # secure messaging
        (bytes.fromhex("00EE0000"), 0x6D00),
        (bytes.fromhex("00FF0000"), 0x6A86),  # SET MANAGEMENT KEY (YubiKey) with a wrong P1 P2
        (bytes.fromhex("00C0000000"), 0x6985),  # nothing to get
        (bytes.fromhex("00CB3FFE035C017E"), 0x6A86),
        (bytes.fromhex("00CB3FFF025C00"), 0x6A80),
        (bytes.fromhex("00CB3FFF045C02FFFF"), 0x6A80),
        (bytes.fromhex("0047009A03AC0180"), 0x6982),
        (bytes.fromhex("00A4000002 3F00".replace(" ", "")), 0x6A86),
    ],
)
def test_malformed_apdus_get_status_words(card: PivCardApplet, command: bytes, sw: int) -> None:
    assert split(card.handle_apdu(command)) == (b"", sw)


def test_random_apdus_never_crash_the_card(card: PivCardApplet) -> None:
    rng = random.Random(1)
    interesting = [0xA4, 0xCB, 0xDB, 0x20, 0x24, 0x2C, 0x87, 0x47, 0xC0]
    for _ in range(2000):
        size = rng.choice([0, 1, 3, 4, 5, 6, 7, 9, 20, 40, 300])
        command = bytearray(rng.getrandbits(8) for _ in range(size))
        if len(command) >= 2 and rng.random() < 0.8:
            command[0] = rng.choice([0x00, 0x10])
            command[1] = rng.choice(interesting)
        response = card.handle_apdu(bytes(command))
        assert len(response) >= 2
        assert response[-2] in (0x90, 0x61, 0x63, 0x67, 0x68, 0x69, 0x6A, 0x6D, 0x6E)
    # and the card still answers like a card
    card.power_cycle()
    assert transceive(card, apdu(0xA4, 0x04, 0x00, AID))[1] == 0x9000
