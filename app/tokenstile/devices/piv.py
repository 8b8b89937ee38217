"""A PIV card session (NIST SP 800-73-4 Part 2) over any :class:`SmartCardConnection`.

What the kiosk and the enrollment station do with a card: select the PIV application,
read the certificates and the CHUID, verify the PIN and learn the retries left, have the
card sign a challenge, change or unblock the PIN; and, as an administrator holding the
management key, generate a key and store its certificate.

Signing follows what the token service verifies: the card's 9A key signs SHA-256 of the
challenge. The card only does the raw private-key operation, so the session hashes
and, for RSA, builds the PKCS#1 v1.5 block around the SHA-256 DigestInfo itself. An
ECDSA signature comes back DER-encoded, as the card returns it.

No pyscard here: the PC/SC adapter lives in :mod:`tokenstile.devices.pcsc`, and tests
run this against the virtual card in-process through a
:class:`~tokenstile.devices.connection.DirectConnection`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass
from enum import IntEnum

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding

from tokenstile.devices import tlv
from tokenstile.devices.connection import SW_OK, ApduChannel, SmartCardConnection
from tokenstile.devices.errors import (
    CardCommandError,
    InvalidCardData,
    InvalidPinFormat,
    ManagementKeyRejected,
    NoCertificate,
    NotPivCard,
    ObjectNotFound,
    PinBlocked,
    PinRequired,
    PukBlocked,
    UnsupportedKey,
    WrongPin,
    WrongPuk,
)

logger = logging.getLogger(__name__)

PIV_AID = bytes.fromhex("A000000308000010000100")


class PivSlot(IntEnum):
    AUTHENTICATION = 0x9A
    SIGNATURE = 0x9C
    KEY_MANAGEMENT = 0x9D
    CARD_AUTHENTICATION = 0x9E


class KeyAlgorithm(IntEnum):
    """Asymmetric mechanisms, SP 800-78-4 Table 6-2."""

    RSA2048 = 0x07
    ECCP256 = 0x11
    ECCP384 = 0x14


class ManagementKeyAlgorithm(IntEnum):
    TDES = 0x03
    AES128 = 0x08
    AES192 = 0x0A
    AES256 = 0x0C


_CERTIFICATE_OBJECTS = {
    PivSlot.AUTHENTICATION: 0x5FC105,
    PivSlot.SIGNATURE: 0x5FC10A,
    PivSlot.KEY_MANAGEMENT: 0x5FC10B,
    PivSlot.CARD_AUTHENTICATION: 0x5FC101,
}
CHUID_OBJECT = 0x5FC102
ATTESTATION_OBJECT = 0x5FFF01  # YubiKey PIV: the certificate of the attestation key F9

_INS_SELECT, _INS_GET_DATA, _INS_PUT_DATA = 0xA4, 0xCB, 0xDB
_INS_VERIFY, _INS_CHANGE_REFERENCE, _INS_RESET_RETRY = 0x20, 0x24, 0x2C
_INS_GENERAL_AUTHENTICATE, _INS_GENERATE = 0x87, 0x47
_INS_ATTEST, _INS_SET_MANAGEMENT_KEY = 0xF9, 0xFF  # YubiKey PIV extensions
_PIN, _PUK, _MANAGEMENT_KEY = 0x80, 0x81, 0x9B
_SW_SECURITY_STATUS = 0x6982
_SW_BLOCKED = 0x6983
_SW_NOT_FOUND = 0x6A82

# RFC 8017 section 9.2 note 1: DER of DigestInfo for SHA-256, before the hash.
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


@dataclass(frozen=True, kw_only=True)
class PinStatus:
    """What an empty VERIFY tells: verified now, or how many tries are left."""

    verified: bool
    retries_left: int | None  # None when the card is verified and does not say

    @property
    def blocked(self) -> bool:
        return self.retries_left == 0


@dataclass(frozen=True, kw_only=True)
class Chuid:
    """The parts of the Card Holder Unique Identifier a log needs (Part 1 Table 9)."""

    guid: bytes | None
    fasc_n: bytes | None
    expires: dt.date | None

    @property
    def card_id(self) -> str | None:
        """The card's GUID as hex, the stable id an audit record names."""
        return self.guid.hex() if self.guid else None


def _check_pin_format(value: str, what: str) -> bytes:
    encoded = value.encode("ascii", "replace")
    if not 6 <= len(encoded) <= 8 or not value.isascii() or not value.isprintable():
        raise InvalidPinFormat(f"A {what} is 6 to 8 characters (digits on PIV cards).")
    return encoded.ljust(8, b"\xff")


class PivCard:
    """A session with the PIV application of one card; selects it on creation.

    Raises :class:`NotPivCard` when the card has no PIV application. Transport errors
    (card pulled, reader gone) come from the connection as :class:`DeviceError`s.
    """

    def __init__(self, connection: SmartCardConnection) -> None:
        self.connection = connection
        self._channel = ApduChannel(connection)
        self._certificates: dict[PivSlot, x509.Certificate] = {}
        self.application_label: str | None = None
        self.select()

    def close(self) -> None:
        self.connection.close()

    def select(self) -> None:
        reply, sw = self._channel.exchange(0x00, _INS_SELECT, 0x04, 0x00, PIV_AID)
        if sw != SW_OK:
            raise NotPivCard("This card has no PIV application.")
        if not reply:
            return
        try:
            template = tlv.unwrap(reply, 0x61)
            label = tlv.find(template, 0x50)
        except InvalidCardData as exc:
            raise NotPivCard("This card did not answer like a PIV card.") from exc
        if label is not None:
            self.application_label = label.decode("utf-8", "replace")

    # -- reading ------------------------------------------------------------------------

    def read_object(self, tag: int) -> bytes:
        """The content of a data container (inside its ``53``), e.g. ``0x5FC102``."""
        tag_list = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
        reply, sw = self._channel.exchange(0x00, _INS_GET_DATA, 0x3F, 0xFF, tlv.tlv(0x5C, tag_list))
        if sw == _SW_NOT_FOUND:
            raise ObjectNotFound(f"The card has no data object {tag:X}.", sw)
        if sw == _SW_SECURITY_STATUS:
            raise PinRequired("Enter the PIN to read this from the card.", sw)
        if sw != SW_OK:
            raise CardCommandError(f"The card could not read object {tag:X} ({sw:04X}).", sw)
        return tlv.unwrap(reply, 0x53)

    def read_certificate(self, slot: PivSlot = PivSlot.AUTHENTICATION) -> x509.Certificate:
        """The X.509 certificate of ``slot`` (9A by default); cached for the session."""
        if slot in self._certificates:
            return self._certificates[slot]
        try:
            container = self.read_object(_CERTIFICATE_OBJECTS[slot])
        except ObjectNotFound as exc:
            raise NoCertificate(f"The card has no certificate in slot {slot:02X}.", exc.sw) from exc
        der = tlv.find(container, 0x70)
        info = tlv.find(container, 0x71)
        if der is None:
            raise InvalidCardData(f"The certificate object of slot {slot:02X} is empty.")
        if info and info[0] & 0x01:  # CertInfo: compressed (gzip), Part 1 Table 10
            raise InvalidCardData("The card's certificate is compressed; that is not supported.")
        try:
            certificate = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise InvalidCardData(
                f"The certificate in slot {slot:02X} is not valid X.509."
            ) from exc
        self._certificates[slot] = certificate
        return certificate

    def attest(self, slot: PivSlot = PivSlot.AUTHENTICATION) -> x509.Certificate:
        """The card's attestation of the key in ``slot`` (YubiKey ATTEST, ``00 F9 slot 00``).

        Raises :class:`CardCommandError` with the card's status word when it refuses:
        ``6D00`` or ``6E00`` for a card that does not know the instruction, ``6A80`` or
        ``6A88`` for a slot it cannot attest (no key, or an imported one).
        """
        reply, sw = self._channel.exchange(0x00, _INS_ATTEST, slot, 0x00)
        if sw != SW_OK:
            raise CardCommandError(f"The card did not attest slot {slot:02X} ({sw:04X}).", sw)
        try:
            return x509.load_der_x509_certificate(reply)
        except ValueError as exc:
            raise InvalidCardData("The card's attestation is not valid X.509.") from exc

    def read_attestation_certificate(self) -> x509.Certificate:
        """The certificate of the attestation key F9 (object ``5FFF01``)."""
        der = tlv.find(self.read_object(ATTESTATION_OBJECT), 0x70)
        if der is None:
            raise InvalidCardData("The card's attestation certificate object is empty.")
        try:
            return x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise InvalidCardData("The card's attestation certificate is not valid X.509.") from exc

    def read_chuid(self) -> Chuid:
        items = dict(tlv.parse(self.read_object(CHUID_OBJECT)))
        expires = None
        raw_date = items.get(0x35)
        if raw_date is not None:
            try:
                text = raw_date.decode("ascii")
                expires = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
            except (ValueError, UnicodeDecodeError):
                logger.warning("the card's CHUID has an unreadable expiration date")
        return Chuid(guid=items.get(0x34), fasc_n=items.get(0x30), expires=expires)

    # -- PIN and PUK --------------------------------------------------------------------

    def pin_status(self) -> PinStatus:
        """An empty VERIFY: no try is spent."""
        _, sw = self._channel.exchange(0x00, _INS_VERIFY, 0x00, _PIN, le=None)
        if sw == SW_OK:
            return PinStatus(verified=True, retries_left=None)
        if sw & 0xFFF0 == 0x63C0:
            return PinStatus(verified=False, retries_left=sw & 0x0F)
        if sw == _SW_BLOCKED:
            return PinStatus(verified=False, retries_left=0)
        raise CardCommandError(f"The card did not report its PIN status ({sw:04X}).", sw)

    def pin_retries(self) -> int | None:
        return self.pin_status().retries_left

    def verify_pin(self, pin: str) -> None:
        """Raises :class:`WrongPin` (with ``retries_left``) or :class:`PinBlocked`."""
        padded = _check_pin_format(pin, "PIN")
        _, sw = self._channel.exchange(0x00, _INS_VERIFY, 0x00, _PIN, padded, le=None)
        _raise_for_reference(sw, puk=False)

    def logout(self) -> None:
        """Forget the verified PIN (VERIFY with P1 FF, Part 2 3.2.1)."""
        self._channel.send(0x00, _INS_VERIFY, 0xFF, _PIN, le=None)

    def change_pin(self, old: str, new: str) -> None:
        data = _check_pin_format(old, "PIN") + _check_new_pin(new)
        _, sw = self._channel.exchange(0x00, _INS_CHANGE_REFERENCE, 0x00, _PIN, data, le=None)
        _raise_for_reference(sw, puk=False)

    def change_puk(self, old: str, new: str) -> None:
        data = _check_pin_format(old, "PUK") + _check_pin_format(new, "PUK")
        _, sw = self._channel.exchange(0x00, _INS_CHANGE_REFERENCE, 0x00, _PUK, data, le=None)
        _raise_for_reference(sw, puk=True)

    def unblock_pin(self, puk: str, new_pin: str) -> None:
        """RESET RETRY COUNTER: the PUK sets a new PIN and restores its retries."""
        data = _check_pin_format(puk, "PUK") + _check_new_pin(new_pin)
        _, sw = self._channel.exchange(0x00, _INS_RESET_RETRY, 0x00, _PIN, data, le=None)
        _raise_for_reference(sw, puk=True)

    # -- signing ------------------------------------------------------------------------

    def sign(
        self, message: bytes, *, slot: PivSlot = PivSlot.AUTHENTICATION, pin: str | None = None
    ) -> bytes:
        """Sign SHA-256(``message``) with the key in ``slot``, whose type the slot's
        certificate names: ECDSA P-256 (DER signature) or RSA-2048 PKCS#1 v1.5.

        With ``pin`` the PIN is verified first (the 9C key wants it before every use).
        """
        public_key = self.read_certificate(slot).public_key()
        digest = hashlib.sha256(message).digest()
        if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(
            public_key.curve, ec.SECP256R1
        ):
            algorithm, block = KeyAlgorithm.ECCP256, digest
        elif isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048:
            algorithm, block = KeyAlgorithm.RSA2048, _pkcs1_v15_block(digest, 256)
        else:
            raise UnsupportedKey(f"The key in slot {slot:02X} is neither ECC P-256 nor RSA-2048.")
        if pin is not None:
            self.verify_pin(pin)
        template = tlv.tlv(0x7C, tlv.tlv(0x82) + tlv.tlv(0x81, block))
        reply, sw = self._channel.exchange(
            0x00, _INS_GENERAL_AUTHENTICATE, algorithm, slot, template
        )
        if sw == _SW_SECURITY_STATUS:
            raise PinRequired("Enter the card's PIN before it signs.", sw)
        if sw != SW_OK:
            raise CardCommandError(f"The card did not sign ({sw:04X}).", sw)
        signature = tlv.find(tlv.unwrap(reply, 0x7C), 0x82)
        if not signature:
            raise InvalidCardData("The card's answer holds no signature.")
        return signature

    # -- administration (management key) ------------------------------------------------

    def authenticate(
        self, management_key: bytes, algorithm: ManagementKeyAlgorithm = ManagementKeyAlgorithm.TDES
    ) -> None:
        """Mutual authentication with the management key (Part 2 Appendix A.1).

        The card proves it knows the key as well: a card answering the host's challenge
        wrongly is refused too.
        """
        block = 8 if algorithm == ManagementKeyAlgorithm.TDES else 16
        cipher = _management_cipher(algorithm, management_key)
        request = tlv.tlv(0x7C, tlv.tlv(0x80))
        reply, sw = self._channel.exchange(
            0x00, _INS_GENERAL_AUTHENTICATE, algorithm, _MANAGEMENT_KEY, request
        )
        if sw != SW_OK:
            raise ManagementKeyRejected(
                f"The card refused management key authentication ({sw:04X}): "
                "is the algorithm right?",
                sw,
            )
        encrypted_witness = tlv.find(tlv.unwrap(reply, 0x7C), 0x80)
        if encrypted_witness is None or len(encrypted_witness) != block:
            raise InvalidCardData("The card sent no witness.")
        decryptor = cipher.decryptor()
        witness = decryptor.update(encrypted_witness) + decryptor.finalize()
        challenge = os.urandom(block)
        answer = tlv.tlv(0x7C, tlv.tlv(0x80, witness) + tlv.tlv(0x81, challenge))
        reply, sw = self._channel.exchange(
            0x00, _INS_GENERAL_AUTHENTICATE, algorithm, _MANAGEMENT_KEY, answer
        )
        if sw != SW_OK:
            raise ManagementKeyRejected("Wrong management key.", sw)
        encryptor = cipher.encryptor()
        expected = encryptor.update(challenge) + encryptor.finalize()
        response = tlv.find(tlv.unwrap(reply, 0x7C), 0x82)
        if response is None or not hmac.compare_digest(response, expected):
            raise ManagementKeyRejected("The card does not hold this management key.", sw)

    def generate_key(
        self, slot: PivSlot = PivSlot.AUTHENTICATION, algorithm: KeyAlgorithm = KeyAlgorithm.ECCP256
    ) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
        """A new key pair in ``slot`` (after :meth:`authenticate`); its public key."""
        control = tlv.tlv(0xAC, tlv.tlv(0x80, bytes([algorithm])))
        reply, sw = self._channel.exchange(0x00, _INS_GENERATE, 0x00, slot, control)
        if sw == _SW_SECURITY_STATUS:
            raise ManagementKeyRejected("Authenticate with the management key first.", sw)
        if sw != SW_OK:
            raise CardCommandError(f"The card did not generate a key ({sw:04X}).", sw)
        self._certificates.pop(slot, None)
        items = dict(tlv.parse(tlv.unwrap(reply, 0x7F49)))
        try:
            if algorithm == KeyAlgorithm.RSA2048:
                modulus = int.from_bytes(items[0x81], "big")
                exponent = int.from_bytes(items[0x82], "big")
                return rsa.RSAPublicNumbers(exponent, modulus).public_key()
            curve = ec.SECP256R1() if algorithm == KeyAlgorithm.ECCP256 else ec.SECP384R1()
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, items[0x86])
        except (KeyError, ValueError) as exc:
            raise InvalidCardData("The card sent an unreadable public key.") from exc

    def put_certificate(self, slot: PivSlot, certificate: x509.Certificate) -> None:
        """Store ``certificate`` in ``slot``'s container (after :meth:`authenticate`)."""
        container = (
            tlv.tlv(0x70, certificate.public_bytes(Encoding.DER))
            + tlv.tlv(0x71, b"\x00")
            + tlv.tlv(0xFE)
        )
        self.put_object(_CERTIFICATE_OBJECTS[slot], container, what="the certificate")
        self._certificates[slot] = certificate

    def put_object(self, tag: int, content: bytes, *, what: str = "the data") -> None:
        """Write a data container (its ``53`` content) after :meth:`authenticate`."""
        data = tlv.tlv(0x5C, tag.to_bytes(3, "big")) + tlv.tlv(0x53, content)
        _, sw = self._channel.exchange(0x00, _INS_PUT_DATA, 0x3F, 0xFF, data, le=None)
        if sw == _SW_SECURITY_STATUS:
            raise ManagementKeyRejected("Authenticate with the management key first.", sw)
        if sw != SW_OK:
            raise CardCommandError(f"The card did not store {what} ({sw:04X}).", sw)

    def set_management_key(self, key: bytes, algorithm: ManagementKeyAlgorithm) -> None:
        """Replace the management key (YubiKey SET MANAGEMENT KEY, ``00 FF FF FF``), after
        :meth:`authenticate` with the old one. A card without the instruction refuses."""
        _management_cipher(algorithm, key)  # the length check, before the card sees it
        data = bytes([algorithm]) + tlv.tlv(_MANAGEMENT_KEY, key)
        _, sw = self._channel.exchange(0x00, _INS_SET_MANAGEMENT_KEY, 0xFF, 0xFF, data, le=None)
        if sw == _SW_SECURITY_STATUS:
            raise ManagementKeyRejected("Authenticate with the management key first.", sw)
        if sw != SW_OK:
            raise CardCommandError(f"The card did not take the new management key ({sw:04X}).", sw)


def _check_new_pin(pin: str) -> bytes:
    if not pin.isdigit() or not pin.isascii():
        raise InvalidPinFormat("A PIV PIN is 6 to 8 digits.")
    return _check_pin_format(pin, "PIN")


def _raise_for_reference(sw: int, *, puk: bool) -> None:
    if sw == SW_OK:
        return
    if sw & 0xFFF0 == 0x63C0 and sw & 0x0F:
        raise (WrongPuk if puk else WrongPin)(sw & 0x0F, sw)
    if sw in (_SW_BLOCKED, 0x63C0):
        raise (PukBlocked if puk else PinBlocked)(sw)
    if sw == 0x6A80:
        raise InvalidPinFormat("The card refused the new value's format.")
    raise CardCommandError(f"The card refused the command ({sw:04X}).", sw)


def _pkcs1_v15_block(digest: bytes, size: int) -> bytes:
    """EMSA-PKCS1-v1_5 (RFC 8017 9.2): 00 01 FF..FF 00 DigestInfo(SHA-256)."""
    digest_info = _SHA256_DIGEST_INFO + digest
    return b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info


def _management_cipher(algorithm: ManagementKeyAlgorithm, key: bytes) -> Cipher[modes.ECB]:
    lengths = {
        ManagementKeyAlgorithm.TDES: 24,
        ManagementKeyAlgorithm.AES128: 16,
        ManagementKeyAlgorithm.AES192: 24,
        ManagementKeyAlgorithm.AES256: 32,
    }
    if len(key) != lengths[algorithm]:
        raise ValueError(f"a {algorithm.name} management key is {lengths[algorithm]} bytes")
    primitive = TripleDES(key) if algorithm == ManagementKeyAlgorithm.TDES else algorithms.AES(key)
    return Cipher(primitive, modes.ECB())  # noqa: S305 - single blocks, as the card does
