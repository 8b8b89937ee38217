"""Card insert and remove events, delivered to a callback from a watcher thread.

pyscard's own ``CardMonitor`` is a process-wide singleton whose thread cannot be
stopped and started again, dies for good when pcscd goes away, and prints tracebacks;
a kiosk runs for weeks across pcscd restarts. :class:`CardMonitor` is the same idea
(PC/SC ``SCardGetStatusChange`` on every reader plus the PnP pseudo-reader, through
pyscard) with a lifecycle: :meth:`~CardMonitor.start`, :meth:`~CardMonitor.stop`
(immediate, via ``SCardCancel``), and recovery when pcscd restarts.

The callback runs on the monitor's thread, one event at a time, in order. It must
return quickly and must not touch a GUI: the kiosk re-emits each event as a Qt signal,
which Qt delivers on the GUI thread. Cards already in a reader when the monitor starts
are reported as inserted (after their readers as added).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from smartcard import scard

logger = logging.getLogger(__name__)

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"
_WAIT_MS = 2000  # backstop only: stop() cancels the wait at once
_ABSENT = -1


class CardEventKind(Enum):
    CARD_INSERTED = "card_inserted"
    CARD_REMOVED = "card_removed"
    READER_ADDED = "reader_added"
    READER_REMOVED = "reader_removed"
    SERVICE_UNAVAILABLE = "service_unavailable"  # pcscd stopped or not running
    SERVICE_AVAILABLE = "service_available"  # pcscd is back after being unavailable


@dataclass(frozen=True, kw_only=True)
class CardEvent:
    kind: CardEventKind
    reader: str = ""
    atr: bytes = b""


CardEventCallback = Callable[[CardEvent], None]


class CardMonitor:
    """Watches every reader and calls ``callback`` with each :class:`CardEvent`.

    Usable as a context manager. ``retry_interval`` is how often it looks for pcscd
    again while the service is away.
    """

    def __init__(self, callback: CardEventCallback, *, retry_interval: float = 0.5) -> None:
        self._callback = callback
        self._retry_interval = retry_interval
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._context: Any = None
        self._cards: dict[str, bytes] = {}
        self._service_up: bool | None = None
        self.ready = threading.Event()  # set once the first look at the readers is done

    def __enter__(self) -> CardMonitor:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the card monitor is running already")
            self._stopping.clear()
            self.ready.clear()
            self._thread = threading.Thread(target=self._run, name="card-monitor", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; returns when the thread has ended (idempotent)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping.set()
        if thread is None:
            return
        deadline = time.monotonic() + timeout
        while thread.is_alive() and time.monotonic() < deadline:
            # A cancel that lands just before the thread starts waiting is lost: repeat.
            with self._lock:
                if self._context is not None:
                    scard.SCardCancel(self._context)
            thread.join(0.05)
        if thread.is_alive():
            logger.warning("the card monitor thread did not stop in %.1f s", timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def cards(self) -> dict[str, bytes]:
        """Reader -> ATR of the cards the monitor has seen inserted (a snapshot)."""
        with self._lock:
            return dict(self._cards)

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        states: dict[str, int] = {}
        try:
            while not self._stopping.is_set():
                if self._context is None and not self._establish():
                    self.ready.set()
                    self._stopping.wait(self._retry_interval)
                    continue
                if not self._watch(states):
                    self._lose_service(states)
        finally:
            self._release()

    def _establish(self) -> bool:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            self._service(False)
            return False
        with self._lock:
            if self._stopping.is_set():
                scard.SCardReleaseContext(context)
                return False
            self._context = context
        self._service(True)
        return True

    def _watch(self, states: dict[str, int]) -> bool:
        """One round: list readers, wait for a change, report it. False: pcscd is gone."""
        hresult, readers = scard.SCardListReaders(self._context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            readers = []
        elif hresult != scard.SCARD_S_SUCCESS:
            return not _service_lost(hresult)
        for reader in [name for name in states if name not in readers]:
            del states[reader]
            self._card_gone(reader)
            self._emit(CardEvent(kind=CardEventKind.READER_REMOVED, reader=reader))
        for reader in readers:
            if reader not in states:
                states[reader] = scard.SCARD_STATE_UNAWARE
                self._emit(CardEvent(kind=CardEventKind.READER_ADDED, reader=reader))

        request = list(states.items())
        request.append((PNP_NOTIFICATION, _pnp_state(len(readers))))
        timeout = 0 if not self.ready.is_set() else _WAIT_MS
        if self._stopping.is_set():
            return True
        hresult, new_states = scard.SCardGetStatusChange(self._context, timeout, request)
        if hresult in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
            self.ready.set()
            return True
        if hresult == scard.SCARD_E_UNKNOWN_READER:
            return True  # a reader left between listing and waiting: list again
        if hresult != scard.SCARD_S_SUCCESS:
            if _service_lost(hresult):
                return False
            logger.warning("card monitor: %s", scard.SCardGetErrorMessage(hresult))
            self._stopping.wait(self._retry_interval)
            return True
        for reader, event_state, atr in new_states:
            if reader == PNP_NOTIFICATION or reader not in states:
                continue
            self._update(reader, states[reader], event_state, bytes(atr))
            states[reader] = event_state & ~scard.SCARD_STATE_CHANGED
        self.ready.set()
        return True

    def _update(self, reader: str, old_state: int, new_state: int, atr: bytes) -> None:
        present = bool(new_state & scard.SCARD_STATE_PRESENT)
        with self._lock:
            known = reader in self._cards
        # pcsc-lite counts card events in the upper 16 bits: a card pulled and pushed
        # back between two looks shows as a changed count while still present.
        swapped = (
            known
            and present
            and old_state != scard.SCARD_STATE_UNAWARE
            and (old_state >> 16) != (new_state >> 16)
        )
        if known and (not present or swapped):
            self._card_gone(reader)
        if present and (not known or swapped):
            with self._lock:
                self._cards[reader] = atr
            self._emit(CardEvent(kind=CardEventKind.CARD_INSERTED, reader=reader, atr=atr))

    def _card_gone(self, reader: str) -> None:
        with self._lock:
            atr = self._cards.pop(reader, None)
        if atr is not None:
            self._emit(CardEvent(kind=CardEventKind.CARD_REMOVED, reader=reader, atr=atr))

    def _lose_service(self, states: dict[str, int]) -> None:
        for reader in list(states):
            self._card_gone(reader)
        states.clear()
        self._release()
        self._service(False)

    def _service(self, available: bool) -> None:
        previous, self._service_up = self._service_up, available
        if available and previous is False:
            self._emit(CardEvent(kind=CardEventKind.SERVICE_AVAILABLE))
        elif not available and previous is not False:
            self._emit(CardEvent(kind=CardEventKind.SERVICE_UNAVAILABLE))

    def _release(self) -> None:
        with self._lock:
            context, self._context = self._context, None
        if context is not None:
            scard.SCardReleaseContext(context)

    def _emit(self, event: CardEvent) -> None:
        if self._stopping.is_set():
            return
        try:
            self._callback(event)
        except Exception:  # a failing receiver must not end the watching
            logger.exception("card monitor: the event callback failed for %s", event.kind)


def _service_lost(hresult: int) -> bool:
    return hresult & 0xFFFFFFFF in (
        scard.SCARD_E_NO_SERVICE,
        scard.SCARD_E_SERVICE_STOPPED,
        scard.SCARD_E_INVALID_HANDLE,
        scard.SCARD_F_COMM_ERROR,
    )


def _pnp_state(reader_count: int) -> int:
    # pcsc-lite keeps the reader count in the upper bits of the PnP reader's state, so
    # passing the count we know makes the wait return when a reader comes or goes.
    return (reader_count << 16) & 0xFFFF0000
