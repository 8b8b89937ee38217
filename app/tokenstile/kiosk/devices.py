"""The hardware the kiosk watches, handed in (so the demo and the tests can hand in theirs).

:class:`KioskDevices` names a key source (anything with ``find()``, such as
:class:`~tokenstile.devices.security_keys.KeyFinder`), a card monitor factory (called
with the event callback, like :class:`~tokenstile.devices.monitor.CardMonitor`), a way
to open the PIV card in a reader, and the readers to heed (empty: all).

Two in-process devices live here for the demo's "demo devices" panel and for tests:
:class:`KeyPresence`, a software key that is there only while "tapped", and
:class:`InProcessCardReader`, a reader an in-process card is inserted into and pulled
from, with insert and remove events like pcscd's.

:class:`KeyWatcher` polls the key source on its own thread and reports each key as it
appears.
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


def key_identity(key: SecurityKey) -> tuple[str, str]:
    """What tells one attached key from another across looks (not the handle's id)."""
    descriptor = getattr(key.device, "descriptor", None)
    path = getattr(descriptor, "path", None)
    if path is not None:
        return (key.transport.value, str(path))
    if key.transport is KeyTransport.NFC:
        return (key.transport.value, key.name)
    return (key.transport.value, str(id(key.device)))


class KeyWatcher:
    """Polls a key source on its own thread and reports each key as it appears, and
    (``on_gone``, with its :func:`key_identity`) as it goes."""

    def __init__(
        self,
        keys: KeyLookup,
        on_key: Callable[[SecurityKey], None],
        *,
        interval: float,
        on_gone: Callable[[tuple[str, str]], None] | None = None,
    ) -> None:
        self._keys = keys
        self._on_key = on_key
        self._on_gone = on_gone
        self._interval = interval
        self._stop = threading.Event()
        self._forget = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="key-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def rescan(self) -> None:
        """Report keys still attached as new on the next look (after a declined card)."""
        self._forget.set()

    def _run(self) -> None:
        seen: set[tuple[str, str]] = set()
        while not self._stop.is_set():
            if self._forget.is_set():
                self._forget.clear()
                seen = set()
            try:
                keys = self._keys.find()
            except DeviceError as exc:
                # Not knowing is not "gone": nothing is reported until the next look.
                logger.info("looking for security keys: %s", exc.message)
                self._stop.wait(self._interval)
                continue
            except Exception:  # a broken transport must not end the watching
                logger.exception("looking for security keys failed")
                self._stop.wait(self._interval)
                continue
            now = {key_identity(key): key for key in keys}
            new = [key for identity, key in now.items() if identity not in seen]
            gone = seen - set(now)
            seen = set(now)
            if self._on_gone is not None and not self._stop.is_set():
                for identity in gone:
                    self._on_gone(identity)
            for key in keys:
                if key is not (new[0] if new else None):
                    key.close()
            if new and not self._stop.is_set():
                self._on_key(new[0])
            self._stop.wait(self._interval)
