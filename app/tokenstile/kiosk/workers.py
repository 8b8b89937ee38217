"""Work off the GUI thread: one worker for the service and the devices, a key watcher,
and the bridge that turns a device's "touch" and "PIN?" into Qt signals.

Everything that can block (HTTP, the keychain, a key waiting for a touch, a card) runs
on :class:`Worker`'s single thread, one call at a time, so a sign-out and the next
sign-in reach the keychain in the order they were asked for. Results come back as a
queued signal, on the GUI thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from tokenstile.devices.errors import DeviceError
from tokenstile.devices.security_keys import KeyTransport, SecurityKey
from tokenstile.kiosk.devices import KeyLookup
from tokenstile.kiosk.messages import Factor

logger = logging.getLogger(__name__)

_ANSWER_POLL = 0.05  # seconds between looks at the cancel event while a PIN is awaited


class Worker(QObject):
    """Runs blocking calls one at a time; ``on_done``/``on_error`` run on the GUI thread."""

    _finished = Signal(int, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._pool.setExpiryTimeout(-1)
        self._next = 0
        self._callbacks: dict[
            int, tuple[Callable[[Any], None], Callable[[BaseException], None]]
        ] = {}
        self._finished.connect(self._deliver)

    def submit(
        self,
        call: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._next += 1
        token = self._next
        self._callbacks[token] = (on_done, on_error)

        def run() -> None:
            try:
                value = call()
            except BaseException as exc:  # noqa: BLE001 - handed to the GUI, which says it
                self._finished.emit(token, None, exc)
            else:
                self._finished.emit(token, value, None)

        self._pool.start(run)

    @property
    def busy(self) -> bool:
        return bool(self._callbacks)

    def wait(self, msecs: int = 10_000) -> bool:
        """Wait for the calls already submitted (shutdown and tests)."""
        return self._pool.waitForDone(msecs)

    def _deliver(self, token: int, value: object, error: object) -> None:
        on_done, on_error = self._callbacks.pop(token)
        if isinstance(error, BaseException):
            on_error(error)
        else:
            on_done(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class PinQuestion:
    """What the PIN pad shows."""

    factor: Factor
    retries_left: int | None
    wrong: bool = False

    @property
    def min_length(self) -> int:
        return 6 if self.factor is Factor.CARD else 4

    @property
    def max_length(self) -> int:
        return 8 if self.factor is Factor.CARD else 63


class InteractionBridge(QObject):
    """A device's prompts, from the worker thread to the GUI and back.

    :meth:`ask` blocks the worker until the GUI calls :meth:`answer` (or the flow is
    cancelled); it is what python-fido2's ``request_pin`` and the PIV login's
    ``ask_pin`` end up calling.
    """

    touch_needed = Signal()
    pin_needed = Signal(object)  # PinQuestion

    def __init__(self, cancel: threading.Event, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cancel = cancel
        self._answers: queue.Queue[str | None] = queue.Queue(maxsize=1)

    def touch(self) -> None:
        self.touch_needed.emit()

    def ask(self, question: PinQuestion) -> str | None:
        while not self._answers.empty():  # nothing stale from an earlier question
            self._answers.get_nowait()
        self.pin_needed.emit(question)
        while not self.cancel.is_set():
            try:
                return self._answers.get(timeout=_ANSWER_POLL)
            except queue.Empty:
                continue
        return None

    def answer(self, pin: str | None) -> None:
        """From the GUI: the PIN typed, or None when the person cancelled."""
        try:
            self._answers.put_nowait(pin)
        except queue.Full:
            logger.debug("a PIN answer nobody asked for was dropped")


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
    """Polls a key source on its own thread and reports each key as it appears."""

    def __init__(
        self, keys: KeyLookup, on_key: Callable[[SecurityKey], None], *, interval: float
    ) -> None:
        self._keys = keys
        self._on_key = on_key
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
                logger.info("looking for security keys: %s", exc.message)
                keys = []
            except Exception:  # a broken transport must not end the watching
                logger.exception("looking for security keys failed")
                keys = []
            now = {key_identity(key): key for key in keys}
            new = [key for identity, key in now.items() if identity not in seen]
            seen = set(now)
            for key in keys:
                if key is not (new[0] if new else None):
                    key.close()
            if new and not self._stop.is_set():
                self._on_key(new[0])
            self._stop.wait(self._interval)
