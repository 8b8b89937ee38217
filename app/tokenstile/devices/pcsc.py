"""PC/SC through pyscard: the readers pcscd knows, and connections to their cards.

This is the only module (with :mod:`tokenstile.devices.monitor`) that calls pyscard.
It uses pyscard's thin ``smartcard.scard`` layer, which hands back PC/SC return codes,
and turns each failing code into one of :mod:`tokenstile.devices.errors`, so the rest
of the kiosk never sees a pyscard exception or an ``0x8010xxxx`` number.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager
from typing import Any

from smartcard import scard

from tokenstile.devices.errors import (
    CardCommunicationError,
    CardInUse,
    CardRemoved,
    CardReset,
    DeviceError,
    NoCard,
    NoReader,
    NotPivCard,
    PcscUnavailable,
)
from tokenstile.devices.piv import PivCard

logger = logging.getLogger(__name__)

_NO_SERVICE = frozenset({scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED})
_REMOVED = frozenset({scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD})
_READER_GONE = frozenset({scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE})
_ANY_PROTOCOL = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
_SETTLE_SECONDS = 1.5  # pcscd polls some readers (vpcd among them) every 400 ms


def pcsc_error(hresult: int, doing: str) -> DeviceError:
    """The :class:`DeviceError` for a failing PC/SC return code, while ``doing``."""
    code = hresult & 0xFFFFFFFF
    if code in _NO_SERVICE:
        return PcscUnavailable(
            "The smart card service (pcscd) is not running: start it and try again."
        )
    if code in _REMOVED:
        return CardRemoved(f"The card was removed while {doing}.")
    if code == scard.SCARD_W_RESET_CARD:
        return CardReset(f"The card was reset by another program while {doing}.")
    if code == scard.SCARD_E_NO_READERS_AVAILABLE:
        return NoReader("No smart card reader is connected.")
    if code in _READER_GONE:
        return NoReader(f"The smart card reader went away while {doing}.")
    if code == scard.SCARD_E_SHARING_VIOLATION:
        return CardInUse("Another program is using the card exclusively.")
    if code in (scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_W_UNPOWERED_CARD):
        return CardCommunicationError("The card does not respond: insert it the right way.")
    message = scard.SCardGetErrorMessage(hresult)
    return CardCommunicationError(f"Smart card error while {doing}: {message} ({code:08X}).")


class _Context:
    """A PC/SC context (a session with pcscd), released when done."""

    def __init__(self) -> None:
        hresult, handle = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise pcsc_error(hresult, "connecting to the smart card service")
        self.handle: Any = handle

    def readers(self) -> list[str]:
        hresult, readers = scard.SCardListReaders(self.handle, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            raise pcsc_error(hresult, "listing the readers")
        return [str(reader) for reader in readers]

    def cards(self, readers: list[str]) -> dict[str, bytes]:
        """The readers among ``readers`` holding a card, with each card's ATR."""
        if not readers:
            return {}
        states = [(reader, scard.SCARD_STATE_UNAWARE) for reader in readers]
        hresult, new_states = scard.SCardGetStatusChange(self.handle, 0, states)
        if hresult not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
            raise pcsc_error(hresult, "looking for cards")
        return {
            str(reader): bytes(atr)
            for reader, event_state, atr in new_states
            if event_state & scard.SCARD_STATE_PRESENT and not event_state & scard.SCARD_STATE_MUTE
        }

    def release(self) -> None:
        scard.SCardReleaseContext(self.handle)


def list_readers() -> list[str]:
    """The names of the readers pcscd knows (``[]`` when none is attached)."""
    context = _Context()
    try:
        return context.readers()
    finally:
        context.release()


def readers_with_cards() -> dict[str, bytes]:
    """Reader name -> ATR of every reader holding a card now."""
    context = _Context()
    try:
        return context.cards(context.readers())
    finally:
        context.release()


class PcscConnection(AbstractContextManager["PcscConnection", None]):
    """A :class:`~tokenstile.devices.connection.SmartCardConnection` to a card via pcscd.

    ``exclusive`` keeps other programs off the card until :meth:`close`. Closing resets
    the card by default, so a verified PIN does not outlive the session for the next
    program that opens the card.
    """

    def __init__(self, reader: str, *, exclusive: bool = False) -> None:
        self.reader = reader
        self._context = _Context()
        share = scard.SCARD_SHARE_EXCLUSIVE if exclusive else scard.SCARD_SHARE_SHARED
        try:
            self._card, self._protocol, self._atr = _connect(self._context, reader, share)
        except BaseException:
            self._context.release()
            raise
        self._open = True

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def atr(self) -> bytes:
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        if not self._open:
            raise CardCommunicationError("The connection to the card is closed.")
        try:
            hresult, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        except scard.error as exc:  # pyscard's own failure (e.g. out of memory)
            raise CardCommunicationError("The smart card library failed.") from exc
        if hresult != scard.SCARD_S_SUCCESS:
            error = pcsc_error(hresult, "talking to the card")
            if isinstance(error, CardCommunicationError) and self._card_was_pulled():
                raise CardRemoved("The card was removed while talking to the card.")
            raise error
        if len(response) < 2:
            if self._card_was_pulled():
                raise CardRemoved("The card was removed while talking to the card.")
            raise CardCommunicationError("The card answered without a status word.")
        return bytes(response)

    def _card_was_pulled(self, settle: float = _SETTLE_SECONDS) -> bool:
        """After a failed exchange: is the card gone? Readers notice a pulled card a
        moment after the exchange breaks, so look again for up to ``settle`` seconds.
        """
        deadline = time.monotonic() + settle
        while True:
            hresult = scard.SCardStatus(self._card)[0]
            if hresult & 0xFFFFFFFF in _REMOVED | _READER_GONE:
                return True
            if hresult != scard.SCARD_S_SUCCESS or time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def close(self, *, reset: bool = True) -> None:
        """Disconnect (resetting the card unless ``reset`` is False); idempotent."""
        if not self._open:
            return
        self._open = False
        disposition = scard.SCARD_RESET_CARD if reset else scard.SCARD_LEAVE_CARD
        hresult = scard.SCardDisconnect(self._card, disposition)
        if hresult != scard.SCARD_S_SUCCESS:
            logger.debug("disconnecting from %s: %08X", self.reader, hresult & 0xFFFFFFFF)
        self._context.release()


def _connect(context: _Context, reader: str, share: int) -> tuple[Any, int, bytes]:
    """SCardConnect and SCardStatus: the card handle, the protocol, the ATR."""
    hresult, card, protocol = scard.SCardConnect(context.handle, reader, share, _ANY_PROTOCOL)
    if hresult != scard.SCARD_S_SUCCESS:
        if hresult & 0xFFFFFFFF in _REMOVED:
            raise NoCard(f"There is no card in {reader}.")
        raise pcsc_error(hresult, f"connecting to the card in {reader}")
    hresult, _, _, _, atr = scard.SCardStatus(card)
    if hresult != scard.SCARD_S_SUCCESS:
        scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        raise pcsc_error(hresult, "reading the card's ATR")
    return card, int(protocol), bytes(atr)


def open_connection(reader: str | None = None, *, exclusive: bool = False) -> PcscConnection:
    """A connection to the card in ``reader`` (a name or part of one), or in the first
    reader holding a card.

    Raises :class:`PcscUnavailable`, :class:`NoReader` or :class:`NoCard`.
    """
    context = _Context()
    try:
        readers = context.readers()
        if not readers:
            raise NoReader("No smart card reader is connected.")
        if reader is not None:
            matching = [name for name in readers if name == reader] or [
                name for name in readers if reader in name
            ]
            if not matching:
                raise NoReader(f"There is no reader named {reader!r}.")
            readers = matching[:1]
        with_cards = context.cards(readers)
    finally:
        context.release()
    if not with_cards:
        where = readers[0] if reader is not None else "any reader"
        raise NoCard(f"There is no card in {where}.")
    return PcscConnection(next(iter(with_cards)), exclusive=exclusive)


def open_piv_card(reader: str | None = None, *, exclusive: bool = False) -> PivCard:
    """A PIV session with the card in ``reader``, or with the first PIV card found.

    Without ``reader``, readers holding other cards (a FIDO key on the NFC pad) are
    skipped. Raises :class:`NotPivCard` when no card has a PIV application.
    """
    if reader is not None:
        connection = open_connection(reader, exclusive=exclusive)
        try:
            return PivCard(connection)
        except BaseException:
            connection.close()
            raise
    present = readers_with_cards()
    if not present:
        if not list_readers():
            raise NoReader("No smart card reader is connected.")
        raise NoCard("There is no card in any reader.")
    for name in present:
        try:
            connection = PcscConnection(name, exclusive=exclusive)
        except (NoCard, CardInUse):
            continue
        try:
            return PivCard(connection)
        except NotPivCard:
            connection.close()
        except BaseException:
            connection.close()
            raise
    raise NotPivCard("No card in the readers has a PIV application.")
