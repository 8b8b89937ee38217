"""A PIV card application (NIST SP 800-73-4) in software: APDUs in, response APDUs out.

What a login needs, as real cards answer it (Part 2 section 3):

- SELECT of the PIV AID (or its right-truncated forms) answers the application property
  template. PIV is the card's default application: it is current after power-on, and a
  SELECT of an unknown AID answers ``6A82`` and leaves it current.
- GET DATA reads the containers (CHUID, CCC, Discovery Object, certificates 9A/9C/9D/9E,
  Printed Information after the PIN); PUT DATA writes them with the management key.
- VERIFY of the PIN (``80``) counts down its retries (``63Cx``; ``6983`` when blocked);
  an empty VERIFY reports the count or ``9000`` when verified; P1 ``FF`` logs out.
  CHANGE REFERENCE DATA changes the PIN or PUK, RESET RETRY COUNTER unblocks the PIN
  with the PUK.
- GENERAL AUTHENTICATE signs (ECC P-256/P-384, RSA-2048), agrees keys (ECDH), and
  authenticates the management key 9B (3DES or AES) by witness or by challenge.
  The PIN guards 9A and 9D once per session, 9C immediately before each use ("PIN
  always"), and 9E not at all (card authentication).
- GENERATE ASYMMETRIC KEY PAIR needs the management key.
- SET MANAGEMENT KEY (``FF``, YubiKey's PIV extension, ``00 FF FF FF`` with the
  algorithm and ``9B`` key) replaces the management key, after the old one.
- ATTEST (``F9``, YubiKey's PIV extension) answers a certificate for a slot's key
  signed by the attestation key F9 (:mod:`.piv_attestation`); a card without one answers
  ``6D00``.
- Commands chain with CLA bit ``10``; replies longer than Le leave in pieces ending
  ``61xx`` and the host fetches the rest with GET RESPONSE.

Every change to PIN, PUK, counters, keys or containers is saved before the answer
leaves, so pulling the card (or killing the process) never loses a decremented counter.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from tokenstile.virtual.apdu import (
    SW,
    CommandApdu,
    PendingReply,
    StatusWordError,
    parse_command,
)
from tokenstile.virtual.piv_attestation import ATTESTATION_OBJECT, attestation_certificate
from tokenstile.virtual.piv_keys import (
    KeyOperationError,
    check_management_key,
    generate_key,
    key_agreement,
    management_block_size,
    management_encrypt,
    public_key_template,
    sign,
)
from tokenstile.virtual.piv_objects import (
    ASYMMETRIC_ALGORITHMS,
    MANAGEMENT_KEY_ALGORITHMS,
    MANAGEMENT_KEY_REFERENCE,
    PIN_PROTECTED_TAGS,
    PIN_REFERENCE,
    PIV_AID,
    PUK_REFERENCE,
    Algorithm,
    ObjectTag,
    Slot,
    TlvError,
    application_property_template,
    is_container_tag,
    iter_tlv,
    parse_single,
    parse_tlv,
    tlv,
)
from tokenstile.virtual.piv_state import (
    PivCardFile,
    PivCardState,
    PivPrivateKey,
    PivStateStore,
    ReferenceData,
    SlotKey,
    VirtualCardFileError,
)

logger = logging.getLogger(__name__)

DEFAULT_LABEL = "Tokenstile virtual PIV"

_CHAINING = 0x10
_MAX_COMMAND = 0xFFFF  # the most data a chain of commands may carry
_MAX_OBJECT = 8192  # the largest container PUT DATA accepts

_INS_SELECT = 0xA4
_INS_GET_DATA = 0xCB
_INS_PUT_DATA = 0xDB
_INS_VERIFY = 0x20
_INS_CHANGE_REFERENCE = 0x24
_INS_RESET_RETRY = 0x2C
_INS_GENERAL_AUTHENTICATE = 0x87
_INS_GENERATE = 0x47
_INS_GET_RESPONSE = 0xC0
_INS_ATTEST = 0xF9
_INS_SET_MANAGEMENT_KEY = 0xFF

# Dynamic authentication template (Part 2 Table 7)
_DAT = 0x7C
_WITNESS, _CHALLENGE, _RESPONSE, _EXPONENTIATION = 0x80, 0x81, 0x82, 0x85

# PIN "always" for the digital signature key; never for card authentication.
_PIN_ONCE = frozenset({Slot.AUTHENTICATION, Slot.KEY_MANAGEMENT})
_PIN_ALWAYS = frozenset({Slot.SIGNATURE})


def pad_reference(value: bytes) -> bytes:
    """PIN and PUK travel as 8 bytes, right-padded with FF (Part 2 section 2.4.3)."""
    return value.ljust(8, b"\xff")


def _is_padded_pin(data: bytes) -> bool:
    """6 to 8 ASCII digits then FF padding: the only PIN values FIPS 201 allows."""
    text = data.rstrip(b"\xff")
    return 6 <= len(text) <= 8 and text.isdigit() and data == pad_reference(text)


def _is_padded_puk(data: bytes) -> bool:
    text = data.rstrip(b"\xff")
    return len(data) == 8 and 6 <= len(text) <= 8 and b"\xff" not in text


class PivCardApplet:
    """The card: feed it APDUs with :meth:`handle_apdu`; :meth:`power_cycle` on reset.

    ``store`` receives the state after every change; without one the card forgets
    everything when the object goes away. Calls are serialised by a lock, so a test may
    read the card while a vpcd thread serves it.
    """

    aid = PIV_AID

    def __init__(
        self,
        state: PivCardState,
        *,
        store: PivStateStore | None = None,
        label: str = DEFAULT_LABEL,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._state = state
        self._store = store
        self._label = label
        self._random = random
        self._lock = threading.RLock()
        self._reset_session()

    @classmethod
    def from_file(
        cls, path: Path | str, *, kek: bytes | None = None, label: str = DEFAULT_LABEL
    ) -> PivCardApplet:
        """The card kept in ``path``, as :func:`.piv_provision.create_piv_card` made it."""
        store = PivCardFile(path, kek=kek)
        state = store.load()
        if state is None:
            raise VirtualCardFileError(f"no virtual card at {path}: create one first")
        return cls(state, store=store, label=label)

    # -- what tests and the demo may look at ---------------------------------------------

    @property
    def pin_retries(self) -> int:
        with self._lock:
            return self._state.pin_retries

    @property
    def puk_retries(self) -> int:
        with self._lock:
            return self._state.puk_retries

    @property
    def pin_verified(self) -> bool:
        with self._lock:
            return self._pin_verified

    @property
    def state(self) -> PivCardState:
        """The live state (hold no reference across commands from another thread)."""
        return self._state

    def write_object(self, tag: int, content: bytes) -> None:
        """Store a container as an issuing station does (no management key involved)."""
        with self._lock:
            self._state.objects[tag] = content
            self._save()

    # -- the card interface ---------------------------------------------------------------

    def power_cycle(self) -> None:
        """The card lost power or was reset: security status and pending replies go."""
        with self._lock:
            self._reset_session()

    def handle_apdu(self, apdu: bytes) -> bytes:
        """One command APDU in, its response APDU (data + SW1 SW2) out."""
        with self._lock:
            try:
                data, sw = self._handle(parse_command(apdu))
            except StatusWordError as exc:
                self._reply.drop()
                return struct.pack(">H", exc.sw)
            except Exception:  # a bug must answer like a card, never kill the reader thread
                logger.exception("virtual PIV card: a command failed inside the card")
                self._reply.drop()
                return struct.pack(">H", SW.NO_PRECISE_DIAGNOSIS)
            return data + struct.pack(">H", sw)

    # -- dispatch -------------------------------------------------------------------------

    def _reset_session(self) -> None:
        self._pin_verified = False
        self._pin_fresh = False  # VERIFY was the command just before ("PIN always")
        self._management_authenticated = False
        self._management_pending: tuple[int, bytes] | None = None  # (tag, expected)
        self._chain: tuple[tuple[int, int, int], bytes] | None = None
        self._reply = PendingReply()

    def _handle(self, command: CommandApdu) -> tuple[bytes, int]:
        if command.cla & 0x0C:
            raise StatusWordError(SW.SECURE_MESSAGING_UNSUPPORTED)
        if command.cla & ~_CHAINING & 0xFF:
            raise StatusWordError(SW.CLA_NOT_SUPPORTED)
        if command.ins == _INS_GET_RESPONSE and not command.cla & _CHAINING:
            if not self._reply.waiting:
                raise StatusWordError(SW.CONDITIONS_NOT_SATISFIED)
            return self._reply.next_piece(command.ne)
        self._reply.drop()  # any other command abandons an unread reply

        header = (command.ins, command.p1, command.p2)
        data = command.data
        if self._chain is not None:
            chained_header, collected = self._chain
            self._chain = None
            if chained_header != header:
                # ISO 7816-4 5.1.1.1: the chain is broken; the new command stands alone.
                if command.cla & _CHAINING:
                    self._chain = (header, data)
                    return b"", SW.OK
                raise StatusWordError(SW.LAST_COMMAND_EXPECTED)
            data = collected + data
        if len(data) > _MAX_COMMAND:
            raise StatusWordError(SW.NOT_ENOUGH_MEMORY)
        if command.cla & _CHAINING:
            self._chain = (header, data)
            return b"", SW.OK

        pin_fresh, self._pin_fresh = self._pin_fresh, False
        handlers = {
            _INS_SELECT: self._select,
            _INS_GET_DATA: self._get_data,
            _INS_PUT_DATA: self._put_data,
            _INS_VERIFY: self._verify,
            _INS_CHANGE_REFERENCE: self._change_reference,
            _INS_RESET_RETRY: self._reset_retry_counter,
            _INS_GENERATE: self._generate,
            _INS_ATTEST: self._attest,
            _INS_SET_MANAGEMENT_KEY: self._set_management_key,
        }
        if command.ins == _INS_GENERAL_AUTHENTICATE:
            reply = self._general_authenticate(command, data, pin_fresh=pin_fresh)
        elif command.ins in handlers:
            reply = handlers[command.ins](command, data)
        else:
            raise StatusWordError(SW.INS_NOT_SUPPORTED)
        return self._reply.send(reply, command.ne)

    def _save(self) -> None:
        if self._store is not None:
            self._store.save(self._state)

    # -- SELECT, GET DATA, PUT DATA -------------------------------------------------------

    def _select(self, command: CommandApdu, aid: bytes) -> bytes:
        if command.p1 != 0x04 or command.p2 not in (0x00, 0x0C):
            raise StatusWordError(SW.INCORRECT_P1P2)
        # A right-truncated AID selects too (ISO 7816-4 partial DF name, P2 first match).
        if not 5 <= len(aid) <= len(PIV_AID) or not PIV_AID.startswith(aid):
            raise StatusWordError(SW.NOT_FOUND)
        if command.p2 == 0x0C:
            return b""
        return application_property_template(self._label)

    def _object_tag(self, command: CommandApdu, data: bytes) -> int:
        if (command.p1, command.p2) != (0x3F, 0xFF):
            raise StatusWordError(SW.INCORRECT_P1P2)
        try:
            tag_list = parse_single(data, 0x5C)
        except TlvError as exc:
            raise StatusWordError(SW.INCORRECT_DATA) from exc
        if len(tag_list) not in (1, 3):
            raise StatusWordError(SW.INCORRECT_DATA)
        return int.from_bytes(tag_list, "big")

    def _get_data(self, command: CommandApdu, data: bytes) -> bytes:
        tag = self._object_tag(command, data)
        if tag in PIN_PROTECTED_TAGS and not self._pin_verified:
            raise StatusWordError(SW.SECURITY_STATUS_NOT_SATISFIED)
        content = self._state.objects.get(tag)
        if content is None:
            raise StatusWordError(SW.NOT_FOUND)
        if tag == ObjectTag.DISCOVERY:
            return tlv(ObjectTag.DISCOVERY, content)
        return tlv(0x53, content)

    def _put_data(self, command: CommandApdu, data: bytes) -> bytes:
        if (command.p1, command.p2) != (0x3F, 0xFF):
            raise StatusWordError(SW.INCORRECT_P1P2)
        if not self._management_authenticated:
            raise StatusWordError(SW.SECURITY_STATUS_NOT_SATISFIED)
        try:
            items = list(iter_tlv(data))
        except TlvError as exc:
            raise StatusWordError(SW.INCORRECT_DATA) from exc
        if len(items) == 1 and items[0][0] == ObjectTag.DISCOVERY:
            tag, content = int(ObjectTag.DISCOVERY), items[0][1]
        elif len(items) == 2 and items[0][0] == 0x5C and items[1][0] == 0x53:
            tag = int.from_bytes(items[0][1], "big")
            content = items[1][1]
            if len(items[0][1]) != 3 or not is_container_tag(tag):
                raise StatusWordError(SW.INCORRECT_DATA)
        else:
            raise StatusWordError(SW.INCORRECT_DATA)
        if len(content) > _MAX_OBJECT:
            raise StatusWordError(SW.NOT_ENOUGH_MEMORY)
        if content:
            self._state.objects[tag] = content
        else:
            self._state.objects.pop(tag, None)
        self._save()
        return b""

    # -- PIN and PUK ----------------------------------------------------------------------

    def _verify(self, command: CommandApdu, data: bytes) -> bytes:
        if command.p2 != PIN_REFERENCE:
            raise StatusWordError(SW.REFERENCE_NOT_FOUND)
        if command.p1 == 0xFF:  # Part 2 3.2.1: reset the security status
            if data:
                raise StatusWordError(SW.INCORRECT_DATA)
            self._pin_verified = False
            return b""
        if command.p1 != 0x00:
            raise StatusWordError(SW.INCORRECT_P1P2)
        state = self._state
        if not data:  # the status: verified, or how many tries are left
            if state.pin_retries == 0:
                raise StatusWordError(SW.AUTH_METHOD_BLOCKED)
            if self._pin_verified:
                return b""
            raise StatusWordError(SW.VERIFY_FAILED | min(state.pin_retries, 15))
        if len(data) != 8:
            raise StatusWordError(SW.INCORRECT_DATA)
        self._check_reference(state.pin, data, pin=True)
        self._pin_verified = True
        self._pin_fresh = True
        return b""

    def _check_reference(self, reference: ReferenceData, candidate: bytes, *, pin: bool) -> None:
        """Count a try, compare, and answer ``63Cx``/``6983`` on a mismatch."""
        state = self._state
        retries = state.pin_retries if pin else state.puk_retries
        if retries == 0:
            raise StatusWordError(SW.AUTH_METHOD_BLOCKED)
        if reference.matches(candidate):
            maximum = state.pin_max_retries if pin else state.puk_max_retries
            if retries != maximum:
                self._set_retries(maximum, pin=pin)
            return
        retries -= 1
        self._set_retries(retries, pin=pin)
        if pin:
            self._pin_verified = False
        if retries == 0:
            raise StatusWordError(SW.AUTH_METHOD_BLOCKED)
        raise StatusWordError(SW.VERIFY_FAILED | min(retries, 15))

    def _set_retries(self, retries: int, *, pin: bool) -> None:
        if pin:
            self._state.pin_retries = retries
        else:
            self._state.puk_retries = retries
        self._save()

    def _change_reference(self, command: CommandApdu, data: bytes) -> bytes:
        if command.p1 != 0x00:
            raise StatusWordError(SW.INCORRECT_P1P2)
        if command.p2 not in (PIN_REFERENCE, PUK_REFERENCE):
            raise StatusWordError(SW.REFERENCE_NOT_FOUND)
        pin = command.p2 == PIN_REFERENCE
        if len(data) != 16:
            raise StatusWordError(SW.INCORRECT_DATA)
        old, new = data[:8], data[8:]
        if not (_is_padded_pin(new) if pin else _is_padded_puk(new)):
            raise StatusWordError(SW.INCORRECT_DATA)
        self._check_reference(self._state.pin if pin else self._state.puk, old, pin=pin)
        if pin:
            self._state.pin = ReferenceData.of(new)
        else:
            self._state.puk = ReferenceData.of(new)
        self._save()
        return b""

    def _reset_retry_counter(self, command: CommandApdu, data: bytes) -> bytes:
        if command.p1 != 0x00:
            raise StatusWordError(SW.INCORRECT_P1P2)
        if command.p2 != PIN_REFERENCE:
            raise StatusWordError(SW.REFERENCE_NOT_FOUND)
        if len(data) != 16:
            raise StatusWordError(SW.INCORRECT_DATA)
        puk, new_pin = data[:8], data[8:]
        if not _is_padded_pin(new_pin):
            raise StatusWordError(SW.INCORRECT_DATA)
        self._check_reference(self._state.puk, puk, pin=False)
        self._state.pin = ReferenceData.of(new_pin)
        self._state.pin_retries = self._state.pin_max_retries
        self._pin_verified = False
        self._save()
        return b""

    # -- GENERAL AUTHENTICATE -------------------------------------------------------------

    def _general_authenticate(self, command: CommandApdu, data: bytes, *, pin_fresh: bool) -> bytes:
        try:
            template = parse_tlv(parse_single(data, _DAT))
        except TlvError as exc:
            raise StatusWordError(SW.INCORRECT_DATA) from exc
        if command.p2 == MANAGEMENT_KEY_REFERENCE:
            return self._authenticate_management(command.p1, template)
        try:
            slot = Slot(command.p2)
        except ValueError as exc:
            raise StatusWordError(SW.INCORRECT_P1P2) from exc
        key = self._state.keys.get(slot)
        if key is None:
            raise StatusWordError(SW.REFERENCE_NOT_FOUND)
        if command.p1 != key.algorithm:
            raise StatusWordError(SW.INCORRECT_P1P2)
        if slot in _PIN_ONCE and not self._pin_verified:
            raise StatusWordError(SW.SECURITY_STATUS_NOT_SATISFIED)
        if slot in _PIN_ALWAYS and not (self._pin_verified and pin_fresh):
            raise StatusWordError(SW.SECURITY_STATUS_NOT_SATISFIED)
        return self._private_key_operation(key, template)

    def _private_key_operation(self, key: SlotKey, template: dict[int, bytes]) -> bytes:
        if template.get(_RESPONSE) != b"":
            raise StatusWordError(SW.INCORRECT_DATA)
        try:
            if _CHALLENGE in template:
                result = sign(key.private_key, template[_CHALLENGE])
            elif _EXPONENTIATION in template:
                result = key_agreement(key.private_key, template[_EXPONENTIATION])
            else:
                raise StatusWordError(SW.INCORRECT_DATA)
        except KeyOperationError as exc:
            raise StatusWordError(SW.INCORRECT_DATA) from exc
        return tlv(_DAT, tlv(_RESPONSE, result))

    def _authenticate_management(self, algorithm: int, template: dict[int, bytes]) -> bytes:
        """Part 2 Appendix A.1: witness (+ challenge for mutual) or challenge-response."""
        state = self._state
        if algorithm != state.management_algorithm:
            raise StatusWordError(SW.INCORRECT_P1P2)
        pending, self._management_pending = self._management_pending, None
        block = management_block_size(state.management_algorithm)

        def encrypt(value: bytes) -> bytes:
            return management_encrypt(state.management_algorithm, state.management_key, value)

        if template == {_WITNESS: b""}:  # step 1 of mutual: the card's encrypted witness
            witness = self._random(block)
            self._management_pending = (_WITNESS, witness)
            return tlv(_DAT, tlv(_WITNESS, encrypt(witness)))
        if template == {_CHALLENGE: b""}:  # step 1 of external: a plain challenge
            challenge = self._random(block)
            self._management_pending = (_RESPONSE, encrypt(challenge))
            return tlv(_DAT, tlv(_CHALLENGE, challenge))
        if _WITNESS in template and set(template) <= {_WITNESS, _CHALLENGE}:
            self._management_authenticated = False
            if pending is None or pending[0] != _WITNESS or template[_WITNESS] != pending[1]:
                raise StatusWordError(SW.SECURITY_STATUS_NOT_SATISFIED)
            self._management_authenticated = True
            if _CHALLENGE not in template:
                return b""
            if len(template[_CHALLENGE]) != block:
                raise StatusWordError(SW.INCORRECT_DATA)
            return tlv(_DAT, tlv(_RESPONSE, encrypt(template[_CHALLENGE])))
        if set(template) == {_RESPONSE}:
            self._management_authenticated = False
            if pending is None or pending[0] != _RESPONSE or template[_RESPONSE] != pending[1]:
                raise StatusWordError(SW.SECURITY_STATUS_NOT_SATISFIED)
            self._management_authenticated = True
            return b""
        raise StatusWordError(SW.INCORRECT_DATA)

    # -- GENERATE ASYMMETRIC KEY PAIR -----------------------------------------------------

    def _generate(self, command: CommandApdu, data: bytes) -> bytes:
        if command.p1 != 0x00:
            raise StatusWordError(SW.INCORRECT_P1P2)
        try:
            slot = Slot(command.p2)
        except ValueError as exc:
            raise StatusWordError(SW.INCORRECT_P1P2) from exc
        if not self._management_authenticated:
            raise StatusWordError(SW.SECURITY_STATUS_NOT_SATISFIED)
        try:
            control = parse_tlv(parse_single(data, 0xAC))
        except TlvError as exc:
            raise StatusWordError(SW.INCORRECT_DATA) from exc
        mechanism = control.get(0x80, b"")
        if len(mechanism) != 1 or mechanism[0] not in ASYMMETRIC_ALGORITHMS:
            raise StatusWordError(SW.INCORRECT_DATA)
        algorithm = Algorithm(mechanism[0])
        private_key = generate_key(algorithm)
        self._state.keys[slot] = SlotKey(algorithm=algorithm, private_key=private_key)
        self._save()
        return public_key_template(private_key)

    # -- SET MANAGEMENT KEY (YubiKey PIV) -------------------------------------------------

    def _set_management_key(self, command: CommandApdu, data: bytes) -> bytes:
        if command.p1 != 0xFF or command.p2 not in (0xFF, 0xFE):  # FE: touch, not modelled
            raise StatusWordError(SW.INCORRECT_P1P2)
        if not self._management_authenticated:
            raise StatusWordError(SW.SECURITY_STATUS_NOT_SATISFIED)
        try:
            algorithm = Algorithm(data[0]) if data else None
            key = parse_single(data[1:], MANAGEMENT_KEY_REFERENCE)
        except (ValueError, TlvError) as exc:
            raise StatusWordError(SW.INCORRECT_DATA) from exc
        if algorithm not in MANAGEMENT_KEY_ALGORITHMS:
            raise StatusWordError(SW.INCORRECT_DATA)
        try:
            check_management_key(algorithm, key)
        except KeyOperationError as exc:
            raise StatusWordError(SW.INCORRECT_DATA) from exc
        self._state.management_algorithm = algorithm
        self._state.management_key = key
        self._save()
        return b""

    # -- ATTEST (YubiKey PIV) -------------------------------------------------------------

    def _attest(self, command: CommandApdu, data: bytes) -> bytes:
        signing_key = self._state.attestation_key
        if signing_key is None:
            raise StatusWordError(SW.INS_NOT_SUPPORTED)
        if command.p2 != 0x00 or data:
            raise StatusWordError(SW.INCORRECT_P1P2)
        try:
            slot = Slot(command.p1)
        except ValueError as exc:
            raise StatusWordError(SW.INCORRECT_P1P2) from exc
        key = self._state.keys.get(slot)
        container = self._state.objects.get(ATTESTATION_OBJECT)
        if key is None or container is None:
            raise StatusWordError(SW.REFERENCE_NOT_FOUND)
        device_certificate = x509.load_der_x509_certificate(parse_tlv(container)[0x70])
        return self.attestation_for(slot, key, signing_key, device_certificate)

    def attestation_for(
        self,
        slot: Slot,
        key: SlotKey,
        signing_key: PivPrivateKey,
        device_certificate: x509.Certificate,
    ) -> bytes:
        """The DER certificate ATTEST answers (a test's lying card overrides this)."""
        return attestation_certificate(signing_key, device_certificate, slot, key.private_key)
