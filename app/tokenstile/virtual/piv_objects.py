"""The virtual PIV card's data: BER-TLV, tags and the data objects of NIST SP 800-73-4.

Part 1 section 3 defines the containers a card carries (CHUID, CCC, Discovery Object,
the X.509 certificate objects, Printed Information); Part 2 section 3.1.1 the
application property template the card answers to SELECT. Every container is the
content of a ``53`` TLV on the wire (the Discovery Object is its own ``7E`` TLV).

This module is the card's own codec and knows nothing of ``tokenstile.devices``: the
kiosk's reader code is written separately, so each checks the other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from enum import IntEnum

from tokenstile.errors import TokenstileError

PIV_AID = bytes.fromhex("A000000308000010000100")
PIV_RID_PIX = bytes.fromhex("A00000030800001000")  # the AID without the version


class Slot(IntEnum):
    """Key references of SP 800-73-4 Part 1 Table 4b (the four a login needs)."""

    AUTHENTICATION = 0x9A
    SIGNATURE = 0x9C
    KEY_MANAGEMENT = 0x9D
    CARD_AUTHENTICATION = 0x9E


MANAGEMENT_KEY_REFERENCE = 0x9B
PIN_REFERENCE = 0x80
PUK_REFERENCE = 0x81


class Algorithm(IntEnum):
    """Cryptographic mechanism identifiers, SP 800-78-4 Table 6-2."""

    TDES = 0x03
    AES128 = 0x08
    AES192 = 0x0A
    AES256 = 0x0C
    RSA2048 = 0x07
    ECCP256 = 0x11
    ECCP384 = 0x14


ASYMMETRIC_ALGORITHMS = (Algorithm.RSA2048, Algorithm.ECCP256, Algorithm.ECCP384)
MANAGEMENT_KEY_ALGORITHMS = (Algorithm.TDES, Algorithm.AES128, Algorithm.AES192, Algorithm.AES256)


class ObjectTag(IntEnum):
    """BER-TLV tags of the containers, SP 800-73-4 Part 1 Table 3."""

    CARD_CAPABILITY_CONTAINER = 0x5FC107
    CHUID = 0x5FC102
    CERT_AUTHENTICATION = 0x5FC105
    CERT_SIGNATURE = 0x5FC10A
    CERT_KEY_MANAGEMENT = 0x5FC10B
    CERT_CARD_AUTHENTICATION = 0x5FC101
    FINGERPRINTS = 0x5FC103
    SECURITY_OBJECT = 0x5FC106
    FACIAL_IMAGE = 0x5FC108
    PRINTED_INFORMATION = 0x5FC109
    KEY_HISTORY = 0x5FC10C
    IRIS_IMAGES = 0x5FC121
    DISCOVERY = 0x7E


CERTIFICATE_TAGS = {
    Slot.AUTHENTICATION: ObjectTag.CERT_AUTHENTICATION,
    Slot.SIGNATURE: ObjectTag.CERT_SIGNATURE,
    Slot.KEY_MANAGEMENT: ObjectTag.CERT_KEY_MANAGEMENT,
    Slot.CARD_AUTHENTICATION: ObjectTag.CERT_CARD_AUTHENTICATION,
}

# Readable only after the PIN (Part 1 Table 3, access rule "PIN").
PIN_PROTECTED_TAGS = frozenset(
    {
        ObjectTag.FINGERPRINTS,
        ObjectTag.FACIAL_IMAGE,
        ObjectTag.PRINTED_INFORMATION,
        ObjectTag.IRIS_IMAGES,
    }
)


# YubiKey's own objects: PIVMAN data (flags such as "management key stored under the
# PIN"), and the attestation key's certificate.
PIVMAN_DATA = 0x5FFF00
ATTESTATION_CERTIFICATE = 0x5FFF01


def is_container_tag(tag: int) -> bool:
    """A tag PUT DATA may write: the 5FC1xx containers of Part 1 Table 3, and YubiKey's
    PIVMAN data (the attestation certificate is the maker's: not written over PUT DATA)."""
    return 0x5FC101 <= tag <= 0x5FC123 or tag == PIVMAN_DATA


class TlvError(TokenstileError):
    """Bytes that are not BER-TLV (the card answers 6A80)."""

    code = "tlv_malformed"


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    if length <= 0xFF:
        return bytes([0x81, length])
    if length <= 0xFFFF:
        return b"\x82" + length.to_bytes(2, "big")
    raise TlvError("a TLV longer than 65535 bytes")


def tag_bytes(tag: int) -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def tlv(tag: int, value: bytes = b"") -> bytes:
    return tag_bytes(tag) + encode_length(len(value)) + value


def iter_tlv(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The (tag, value) pairs of a run of BER-TLVs; multi-byte tags are whole integers."""
    offset = 0
    while offset < len(data):
        tag = data[offset]
        offset += 1
        if tag & 0x1F == 0x1F:  # ISO 7816-4 5.2.2.1: subsequent tag bytes
            while True:
                if offset >= len(data):
                    raise TlvError("truncated tag")
                tag = (tag << 8) | data[offset]
                offset += 1
                if not data[offset - 1] & 0x80:
                    break
        if offset >= len(data):
            raise TlvError("missing length")
        length = data[offset]
        offset += 1
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 3 or offset + count > len(data):
                raise TlvError("bad length")
            length = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        if offset + length > len(data):
            raise TlvError("value runs past the end")
        yield tag, data[offset : offset + length]
        offset += length


def parse_tlv(data: bytes) -> dict[int, bytes]:
    """A run of BER-TLVs as a mapping; a repeated tag keeps its first value."""
    found: dict[int, bytes] = {}
    for tag, value in iter_tlv(data):
        found.setdefault(tag, value)
    return found


def parse_single(data: bytes, expected: int) -> bytes:
    """The value of the one TLV ``data`` must be, with tag ``expected``."""
    items = list(iter_tlv(data))
    if len(items) != 1 or items[0][0] != expected:
        raise TlvError(f"expected a single {expected:X} TLV")
    return items[0][1]


# -- the containers ------------------------------------------------------------------


def application_property_template(label: str) -> bytes:
    """SELECT's answer, Part 2 Table 3: AID, tag authority, label, algorithms."""
    algorithms = b"".join(
        tlv(0x80, bytes([alg])) for alg in (*MANAGEMENT_KEY_ALGORITHMS, *ASYMMETRIC_ALGORITHMS)
    )
    return tlv(
        0x61,
        tlv(0x4F, PIV_AID[5:])  # the PIX: the application identifier of the application
        + tlv(0x79, tlv(0x4F, PIV_AID[:5]))  # coexistent tag allocation authority: NIST
        + tlv(0x50, label.encode("ascii", "replace")[:32])
        + tlv(0xAC, algorithms + tlv(0x06, b"\x00")),
    )


# A FASC-N that names no agency (system 9999, credential 999999), as test cards carry.
_NON_FEDERAL_FASC_N = bytes.fromhex("D4E739DA739CED39CE739D836858210842108421C84210C3EB")


def chuid(guid: bytes, expires: date) -> bytes:
    """Card Holder Unique Identifier, Part 1 Table 9 (unsigned: the 3E signature is empty)."""
    if len(guid) != 16:
        raise ValueError("the CHUID GUID is 16 bytes")
    return (
        tlv(0x30, _NON_FEDERAL_FASC_N)
        + tlv(0x34, guid)
        + tlv(0x35, expires.strftime("%Y%m%d").encode("ascii"))
        + tlv(0x3E)
        + tlv(0xFE)
    )


def card_capability_container(card_identifier: bytes | None = None) -> bytes:
    """Card Capability Container, Part 1 Table 8 (values as PIV-only cards carry them)."""
    # GSC-RID A0 00 00 01 16, manufacturer FF (other), card type 02 (Java Card), 14 bytes id
    identifier = card_identifier or bytes.fromhex("A000000116FF02") + os.urandom(14)
    return (
        tlv(0xF0, identifier)
        + tlv(0xF1, b"\x21")  # container version
        + tlv(0xF2, b"\x21")  # grammar version
        + tlv(0xF3)  # applications CardURL: none (a dual CAC card would list one)
        + tlv(0xF4, b"\x00")  # PKCS#15: no
        + tlv(0xF5, b"\x10")  # registered data model: PIV
        + tlv(0xF6)  # access control rule table
        + tlv(0xF7)  # card APDUs
        + tlv(0xFA)  # redirection tag
        + tlv(0xFB)  # capability tuples
        + tlv(0xFC)  # status tuples
        + tlv(0xFD)  # next CCC
        + tlv(0xFE)  # error detection code
    )


def discovery_object() -> bytes:
    """Discovery Object, Part 1 Table 18: the PIV AID and a PIN usage policy of PIV PIN only."""
    return tlv(ObjectTag.DISCOVERY, tlv(0x4F, PIV_AID) + tlv(0x5F2F, b"\x40\x00"))


def certificate_object(der: bytes) -> bytes:
    """An X.509 certificate container, Part 1 Table 10: 70 cert, 71 CertInfo, FE LRC."""
    return tlv(0x70, der) + tlv(0x71, b"\x00") + tlv(0xFE)


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def printed_information(name: str, affiliation: str, expires: date, serial: str) -> bytes:
    """Printed Information, Part 1 Table 12 (PIN-protected)."""
    return (
        tlv(0x01, name.encode("utf-8")[:125])
        + tlv(0x02, affiliation.encode("utf-8")[:20])
        + tlv(0x04, f"{expires.year:04d}{_MONTHS[expires.month - 1]}{expires.day:02d}".encode())
        + tlv(0x05, serial.encode("ascii")[:20])
        + tlv(0x06, b"Tokenstile")
        + tlv(0xFE)
    )
