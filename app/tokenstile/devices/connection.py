"""Talking APDUs to a card, independent of how the card is reached.

:class:`SmartCardConnection` is the port: one command APDU out, one response APDU
back. The PC/SC adapter (:mod:`tokenstile.devices.pcsc`) implements it with pyscard;
:class:`DirectConnection` hands APDUs to an in-process card (the virtual PIV card in
tests and the demo). :class:`ApduChannel` is the ISO 7816-4 layer on top that every
application session uses: command chaining for long data, GET RESPONSE for long
replies, and a status word other than ``9000`` raised as :class:`CardCommandError`.
"""

from __future__ import annotations

import logging
from typing import Protocol

from tokenstile.devices.errors import CardCommandError, CardCommunicationError

logger = logging.getLogger(__name__)

SW_OK = 0x9000
_SHORT_MAX = 255
_MAX_RESPONSE = 65536 * 4  # a card that never stops sending 61xx is broken


class SmartCardConnection(Protocol):
    """A card in a reader: ``transmit`` one APDU, get its response (data + SW1 SW2)."""

    @property
    def atr(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes: ...

    def close(self) -> None: ...


class InProcessCard(Protocol):
    def handle_apdu(self, apdu: bytes) -> bytes: ...


class DirectConnection:
    """A :class:`SmartCardConnection` to a card object living in this process."""

    def __init__(self, card: InProcessCard, atr: bytes = bytes.fromhex("3B80800101")) -> None:
        self.card = card
        self._atr = atr
        self.closed = False

    @property
    def atr(self) -> bytes:
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        if self.closed:
            raise CardCommunicationError("The connection to the card is closed.")
        return self.card.handle_apdu(apdu)

    def close(self) -> None:
        self.closed = True


class ApduChannel:
    """ISO 7816-4 commands over a connection: chaining, GET RESPONSE, status words."""

    def __init__(self, connection: SmartCardConnection) -> None:
        self.connection = connection

    def send(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", *, le: int | None = 0
    ) -> bytes:
        """Send one command (chained when ``data`` is long); the whole reply's data.

        ``le`` 0 asks for up to 256 bytes (more follow by GET RESPONSE); None sends no
        Le, for commands that answer no data.

        Raises :class:`CardCommandError` with the final status word unless it is 9000.
        """
        response, sw = self.exchange(cla, ins, p1, p2, data, le=le)
        if sw != SW_OK:
            raise CardCommandError(f"The card refused the command (status {sw:04X}).", sw)
        return response

    def exchange(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", *, le: int | None = 0
    ) -> tuple[bytes, int]:
        """Like :meth:`send`, but hands back the status word instead of raising."""
        while len(data) > _SHORT_MAX:
            piece, data = data[:_SHORT_MAX], data[_SHORT_MAX:]
            _, sw = self._transmit(_short_apdu(cla | 0x10, ins, p1, p2, piece, le=None))
            if sw != SW_OK:
                return b"", sw
        reply, sw = self._transmit(_short_apdu(cla, ins, p1, p2, data, le=le))
        if sw >> 8 == 0x6C:  # wrong Le: the card says how many bytes it has
            reply, sw = self._transmit(_short_apdu(cla, ins, p1, p2, data, le=sw & 0xFF))
        chunks = [reply]
        received = len(reply)
        while sw >> 8 == 0x61:
            reply, sw = self._transmit(_short_apdu(0x00, 0xC0, 0x00, 0x00, b"", le=sw & 0xFF))
            chunks.append(reply)
            received += len(reply)
            if received > _MAX_RESPONSE:
                raise CardCommunicationError("The card sent a reply without end.")
        return b"".join(chunks), sw

    def _transmit(self, apdu: bytes) -> tuple[bytes, int]:
        response = self.connection.transmit(apdu)
        if len(response) < 2:
            raise CardCommunicationError("The card answered without a status word.")
        return response[:-2], int.from_bytes(response[-2:], "big")


def _short_apdu(cla: int, ins: int, p1: int, p2: int, data: bytes, *, le: int | None) -> bytes:
    apdu = bytes([cla, ins, p1, p2])
    if data:
        apdu += bytes([len(data)]) + data
    if le is not None:
        apdu += bytes([le & 0xFF])  # 00 asks for up to 256 bytes
    return apdu
