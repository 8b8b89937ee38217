"""The hardware the kiosk watches, handed in (so the demo and the tests can hand in theirs).

:class:`KioskDevices` names a key source (anything with ``find()``, such as
:class:`~tokenstile.devices.security_keys.KeyFinder`), a card monitor factory (called
with the event callback, like :class:`~tokenstile.devices.monitor.CardMonitor`), a way
to open the PIV card in a reader, and the readers to heed (empty: all).

Two in-process devices live here for the demo's "demo devices" panel and for tests:
:class:`KeyPresence`, a software key that is there only while "tapped", and
:class:`InProcessCardReader`, a reader an in-process card is inserted into and pulled
from, with insert and remove events like pcscd's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from fido2.ctap import CtapDevice

from tokenstile.devices.connection import InProcessCard
from tokenstile.devices.errors import CardRemoved, DeviceError, NoCard
from tokenstile.devices.monitor import CardEvent, CardEventCallback, CardEventKind
from tokenstile.devices.piv import PivCard
from tokenstile.devices.security_keys import KeyTransport, SecurityKey

logger = logging.getLogger(__name__)


class KeyLookup(Protocol):
    def find(self) -> list[SecurityKey]: ...


class CardWatch(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float = ...) -> None: ...


CardMonitorFactory = Callable[[CardEventCallback], CardWatch]
CardOpener = Callable[[str], PivCard]


@dataclass(frozen=True, slots=True, kw_only=True)
class KioskDevices:
    keys: KeyLookup | None = None
    card_monitor: CardMonitorFactory | None = None
    open_card: CardOpener | None = None
    readers: tuple[str, ...] = ()

    def heeds(self, reader: str) -> bool:
        return not self.readers or reader in self.readers

    @classmethod
    def system(cls, *, readers: Sequence[str] = ()) -> KioskDevices:
        """USB and NFC security keys, and every PC/SC reader through pcscd."""
        from tokenstile.devices.monitor import CardMonitor
        from tokenstile.devices.pcsc import open_piv_card
        from tokenstile.devices.security_keys import default_key_finder

        def open_card(reader: str) -> PivCard:
            return open_piv_card(reader)

        return cls(
            keys=default_key_finder(),
            card_monitor=CardMonitor,
            open_card=open_card,
            readers=tuple(readers),
        )


class KeyPresence:
    """A key source holding at most one in-process key: ``present`` it, ``remove`` it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: SecurityKey | None = None

    def present(self, device: CtapDevice, name: str = "Software security key") -> None:
        with self._lock:
            self._key = SecurityKey(device=device, transport=KeyTransport.VIRTUAL, name=name)

    def remove(self) -> None:
        with self._lock:
            self._key = None

    @property
    def present_now(self) -> bool:
        with self._lock:
            return self._key is not None

    def find(self) -> list[SecurityKey]:
        with self._lock:
            return [] if self._key is None else [self._key]


class _SlotConnection:
    """The connection to whatever card is in an :class:`InProcessCardReader` right now."""

    def __init__(self, reader: InProcessCardReader, card: InProcessCard, insertion: int) -> None:
        self._reader = reader
        self._card = card
        self._insertion = insertion
        self.closed = False

    @property
    def atr(self) -> bytes:
        return self._reader.atr

    def transmit(self, apdu: bytes) -> bytes:
        if self.closed:
            raise DeviceError("The connection to the card is closed.")
        if not self._reader.holds(self._insertion):
            raise CardRemoved("The card was removed.")
        return self._card.handle_apdu(apdu)

    def close(self) -> None:
        self.closed = True


class _InProcessMonitor:
    def __init__(self, reader: InProcessCardReader, callback: CardEventCallback) -> None:
        self._reader = reader
        self.callback = callback

    def start(self) -> None:
        self._reader.attach(self)

    def stop(self, timeout: float = 5.0) -> None:
        self._reader.detach(self)


class InProcessCardReader:
    """A reader in this process; its ``monitor`` and ``open`` go into :class:`KioskDevices`."""

    def __init__(
        self, name: str = "Tokenstile virtual reader", atr: bytes = bytes.fromhex("3B80800101")
    ) -> None:
        self.name = name
        self.atr = atr
        self._lock = threading.Lock()
        self._card: InProcessCard | None = None
        self._insertion = 0
        self._monitors: list[_InProcessMonitor] = []

    def devices(self, keys: KeyLookup | None = None) -> KioskDevices:
        return KioskDevices(
            keys=keys, card_monitor=self.monitor, open_card=self.open, readers=(self.name,)
        )

    def monitor(self, callback: CardEventCallback) -> CardWatch:
        return _InProcessMonitor(self, callback)

    def attach(self, monitor: _InProcessMonitor) -> None:
        with self._lock:
            self._monitors.append(monitor)
            present = self._card is not None
        monitor.callback(CardEvent(kind=CardEventKind.READER_ADDED, reader=self.name))
        if present:
            monitor.callback(
                CardEvent(kind=CardEventKind.CARD_INSERTED, reader=self.name, atr=self.atr)
            )

    def detach(self, monitor: _InProcessMonitor) -> None:
        with self._lock:
            if monitor in self._monitors:
                self._monitors.remove(monitor)

    @property
    def inserted(self) -> bool:
        with self._lock:
            return self._card is not None

    def holds(self, insertion: int) -> bool:
        with self._lock:
            return self._card is not None and self._insertion == insertion

    def insert(self, card: InProcessCard) -> None:
        """Put ``card`` in (pulling any card already there)."""
        if self.inserted:
            self.pull()
        power_cycle = getattr(card, "power_cycle", None)
        if callable(power_cycle):
            power_cycle()  # a fresh insertion: PIN not verified, nothing selected
        with self._lock:
            self._card = card
            self._insertion += 1
        self._emit(CardEventKind.CARD_INSERTED)

    def pull(self) -> None:
        with self._lock:
            if self._card is None:
                return
            self._card = None
        self._emit(CardEventKind.CARD_REMOVED)

    def open(self, reader: str) -> PivCard:
        with self._lock:
            card, insertion = self._card, self._insertion
        if reader != self.name or card is None:
            raise NoCard("There is no card in the reader.")
        return PivCard(_SlotConnection(self, card, insertion))

    def _emit(self, kind: CardEventKind) -> None:
        with self._lock:
            monitors = list(self._monitors)
        for monitor in monitors:
            try:
                monitor.callback(CardEvent(kind=kind, reader=self.name, atr=self.atr))
            except Exception:  # a receiver's failure must not stop the others
                logger.exception("in-process card reader: a callback failed")
