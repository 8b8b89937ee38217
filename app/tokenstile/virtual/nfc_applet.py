"""The software key as an NFC FIDO applet: ISO 7816-4 APDUs in, response APDUs out.

CTAP 2.1 section 11.3 (NFC): SELECT of the FIDO AID answers ``FIDO_2_0`` (a CTAP2-only
key, no U2F); NFCCTAP_MSG (CLA 80, INS 10) carries a CTAP2 request to the processor.
Long requests arrive as short APDUs chained with CLA bit 0x10 or as one extended APDU;
long replies leave in pieces of at most Le bytes, each but the last ending ``61xx``, and
the platform fetches the rest with GET RESPONSE (INS C0). When the platform sets P1 bit
0x80 it accepts NFCCTAP_GETRESPONSE (INS 11): a request still running after a moment
answers ``9100`` with a keep-alive status byte, and the platform polls (P1 0x11 cancels).

The vpcd transport that feeds pcscd is built elsewhere on :meth:`CtapNfcApplet.handle_apdu`.
"""

from __future__ import annotations

import logging
import struct
import threading
from dataclasses import dataclass

from fido2.ctap import STATUS, CtapError

from tokenstile.virtual.apdu import CommandApdu, PendingReply, StatusWordError, parse_command
from tokenstile.virtual.ctap2_authenticator import Ctap2Authenticator

logger = logging.getLogger(__name__)

FIDO_AID = bytes.fromhex("A0000006472F0001")
SELECT_RESPONSE = b"FIDO_2_0"

SW_OK = 0x9000
SW_UPDATE = 0x9100  # NFCCTAP_GETRESPONSE: still processing, status byte attached
SW_CONDITIONS_NOT_SATISFIED = 0x6985
SW_FILE_NOT_FOUND = 0x6A82
SW_INCORRECT_P1P2 = 0x6A86
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00

_CHAINING = 0x10
_INS_SELECT, _INS_GET_RESPONSE = 0xA4, 0xC0
_INS_NFCCTAP_MSG, _INS_NFCCTAP_GET_RESPONSE = 0x10, 0x11
_P1_GET_RESPONSE_SUPPORTED = 0x80
_P1_CANCEL = 0x11


@dataclass(kw_only=True)
class _Pending:
    """A CTAP request running on a worker thread while the platform polls."""

    done: threading.Event
    cancel: threading.Event
    status: STATUS = STATUS.PROCESSING
    response: bytes = b""


class CtapNfcApplet:
    def __init__(self, authenticator: Ctap2Authenticator, *, keepalive_interval: float = 0.1):
        self.authenticator = authenticator
        self._keepalive_interval = keepalive_interval
        self._selected = False
        self._chain = b""
        self._chain_ins: int | None = None
        self._reply = PendingReply()
        self._pending: _Pending | None = None

    def power_cycle(self) -> None:
        """The card left the field (or was reset): the applet and the key start over."""
        if self._pending is not None:
            self._pending.cancel.set()
            self._pending.done.wait()
        self._pending = None
        self._selected = False
        self._chain, self._chain_ins = b"", None
        self._reply.drop()
        self.authenticator.power_cycle()

    def handle_apdu(self, apdu: bytes) -> bytes:
        """One command APDU in, its response APDU (data + SW1 SW2) out."""
        try:
            command = parse_command(apdu)
            data, sw = self._handle(command)
        except StatusWordError as exc:
            return struct.pack(">H", exc.sw)
        return data + struct.pack(">H", sw)

    def _handle(self, command: CommandApdu) -> tuple[bytes, int]:
        if command.cla == 0x00 and command.ins == _INS_GET_RESPONSE:
            if not self._reply.waiting:
                raise StatusWordError(SW_CONDITIONS_NOT_SATISFIED)
            return self._reply.next_piece(command.ne)
        self._reply.drop()  # any other command abandons an unread reply
        if command.cla & _CHAINING:
            if self._chain_ins not in (None, command.ins):
                self._chain = b""
            self._chain += command.data
            self._chain_ins = command.ins
            return b"", SW_OK
        data = self._chain + command.data if self._chain_ins == command.ins else command.data
        self._chain, self._chain_ins = b"", None

        if command.cla == 0x00 and command.ins == _INS_SELECT:
            return self._select(command, data)
        if command.cla != 0x80:
            raise StatusWordError(SW_CLA_NOT_SUPPORTED)
        if not self._selected:
            raise StatusWordError(SW_CONDITIONS_NOT_SATISFIED)
        if command.ins == _INS_NFCCTAP_MSG:
            return self._ctap_message(command, data)
        if command.ins == _INS_NFCCTAP_GET_RESPONSE:
            if self._pending is None:
                raise StatusWordError(SW_CONDITIONS_NOT_SATISFIED)
            if command.p1 == _P1_CANCEL:
                self._pending.cancel.set()
            return self._poll(command.ne)
        raise StatusWordError(SW_INS_NOT_SUPPORTED)

    def _select(self, command: CommandApdu, aid: bytes) -> tuple[bytes, int]:
        if command.p1 != 0x04:
            raise StatusWordError(SW_INCORRECT_P1P2)
        if aid != FIDO_AID:
            self._selected = False
            raise StatusWordError(SW_FILE_NOT_FOUND)
        self._selected = True
        return self._reply.send(SELECT_RESPONSE, command.ne)

    def _ctap_message(self, command: CommandApdu, request: bytes) -> tuple[bytes, int]:
        if self._pending is not None:
            return self._reply.send(bytes([CtapError.ERR.CHANNEL_BUSY]), command.ne)
        if not command.p1 & _P1_GET_RESPONSE_SUPPORTED:
            return self._reply.send(self.authenticator.process(request), command.ne)
        pending = _Pending(done=threading.Event(), cancel=threading.Event())

        def keepalive(status: STATUS) -> None:
            pending.status = status

        def run() -> None:
            try:
                pending.response = self.authenticator.process(
                    request, cancel=pending.cancel, on_keepalive=keepalive
                )
            except Exception:  # a bug must not leave the platform polling forever
                logger.exception("virtual key: CTAP request failed inside the NFC applet")
                pending.response = bytes([CtapError.ERR.OTHER])
            finally:
                pending.done.set()

        self._pending = pending
        threading.Thread(target=run, name="virtual-key-nfc", daemon=True).start()
        return self._poll(command.ne)

    def _poll(self, ne: int) -> tuple[bytes, int]:
        pending = self._pending
        assert pending is not None  # noqa: S101 - the callers checked
        if not pending.done.wait(self._keepalive_interval):
            return bytes([pending.status]), SW_UPDATE
        self._pending = None
        return self._reply.send(pending.response, ne)
