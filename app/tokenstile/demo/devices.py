"""The demo's software devices: the security key behind a plug, and the virtual card in a reader.

:class:`DemoTouch` is the software key's button, :class:`PluggableKey` the key behind a USB
plug and :class:`DemoKeySource` the kiosk's view of it; :class:`DemoCard` is the virtual PIV
card in a vpcd reader of the machine's pcscd or in an in-process reader, and
:func:`place_card` chooses which.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenstile.demo.errors import DemoError
from tokenstile.devices.errors import DeviceError
from tokenstile.devices.security_keys import KeyTransport, SecurityKey
from tokenstile.kiosk.devices import InProcessCardReader
from tokenstile.virtual.ctap2_authenticator import Ctap2Authenticator
from tokenstile.virtual.ctap_device import VirtualAuthenticator
from tokenstile.virtual.user_presence import PresenceOutcome, PresenceRequest

if TYPE_CHECKING:
    import filelock

    from tokenstile.virtual.piv_card import PivCardApplet
    from tokenstile.virtual.vpcd import VpcdCard

VPCD_READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
IN_PROCESS_READER = "Tokenstile demo reader"
TOUCH_TIMEOUT = 30.0


# -- the software security key ---------------------------------------------------------------


class DemoTouch:
    """The software key's button: a request waits for :meth:`tap`, an unplug, or a cancel.

    A tap while nothing waits does nothing, as on a real key. With ``auto`` set every
    request is approved at once (enrollment, tests, benchmarks).
    """

    def __init__(self, *, auto: bool = False, timeout: float = TOUCH_TIMEOUT) -> None:
        self.auto = auto
        self.timeout = timeout
        self._condition = threading.Condition()
        self._waiting = 0
        self._taps = 0
        self._unplugged = False
        self.requests = 0

    @property
    def waiting(self) -> bool:
        with self._condition:
            return self._waiting > 0

    def tap(self) -> bool:
        """Touch the key; True when a request was waiting for it."""
        with self._condition:
            if not self._waiting:
                return False
            self._taps += 1
            self._condition.notify_all()
            return True

    def unplugged(self, value: bool) -> None:
        with self._condition:
            self._unplugged = value
            self._condition.notify_all()

    def __call__(self, request: PresenceRequest, cancel: threading.Event) -> PresenceOutcome:
        with self._condition:
            self.requests += 1
            if self.auto:
                return PresenceOutcome.APPROVED
            deadline = time.monotonic() + self.timeout
            self._waiting += 1
            try:
                while True:
                    if self._taps:
                        self._taps -= 1
                        return PresenceOutcome.APPROVED
                    if cancel.is_set() or self._unplugged:
                        return PresenceOutcome.DENIED
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return PresenceOutcome.TIMED_OUT
                    # Short waits: the platform's cancel event has no way to wake us.
                    self._condition.wait(min(remaining, 0.05))
            finally:
                self._waiting -= 1
                if not self._waiting:
                    self._taps = 0


class PluggableKey(VirtualAuthenticator):
    """The software key behind a USB plug: unplugged, every call fails as a pulled key's
    (hidraw's ``OSError``)."""

    def __init__(self, authenticator: Ctap2Authenticator, touch: DemoTouch) -> None:
        super().__init__(authenticator)
        self.touch = touch
        self._plugged = False

    @property
    def plugged(self) -> bool:
        return self._plugged

    def plug(self, plugged: bool) -> None:
        self._plugged = plugged
        self.touch.unplugged(not plugged)
        if not plugged:
            self.power_cycle()

    def call(self, cmd: int, *args: Any, **kwargs: Any) -> bytes:
        if not self._plugged:
            raise OSError("the demo security key is unplugged")
        response = super().call(cmd, *args, **kwargs)
        if not self._plugged:
            raise OSError("the demo security key was unplugged")
        return response


class DemoKeySource:
    """A ``KeySource``: the software key while it is plugged in, nothing otherwise."""

    def __init__(self, device: PluggableKey) -> None:
        self.device = device

    def find(self) -> list[SecurityKey]:
        if not self.device.plugged:
            return []
        return [SecurityKey(device=self.device, transport=KeyTransport.VIRTUAL, name="Demo key")]


# -- the virtual card ---------------------------------------------------------------------------


@dataclass
class DemoCard:
    """The virtual card and where it is: a vpcd reader of pcscd, or in-process."""

    applet: PivCardApplet
    reader: str
    vpcd: VpcdCard | None = None
    local: InProcessCardReader | None = None
    lock: filelock.FileLock | None = None

    @property
    def through_pcscd(self) -> bool:
        return self.vpcd is not None

    @property
    def inserted(self) -> bool:
        if self.vpcd is not None:
            return self.vpcd.inserted
        return self.local is not None and self.local.inserted

    def insert(self) -> None:
        if self.vpcd is not None:
            self.vpcd.insert(timeout=5.0)
        elif self.local is not None:
            self.local.insert(self.applet)

    def pull(self) -> None:
        if self.vpcd is not None:
            self.vpcd.remove()
        elif self.local is not None:
            self.local.pull()

    def close(self) -> None:
        if self.vpcd is not None:
            self.vpcd.close()
        if self.lock is not None:
            self.lock.release()


def _free_vpcd_reader() -> tuple[int, filelock.FileLock] | None:
    """A vpcd reader of a running pcscd that nobody uses (test runs hold a file lock per
    reader, the convention of ``tests/integration/pcsc``), or None: no pcscd, no vpcd."""
    import filelock

    from tokenstile.devices.pcsc import list_readers, readers_with_cards

    try:
        readers = list_readers()
        busy = readers_with_cards()
    except DeviceError:
        return None
    for index, name in enumerate(VPCD_READERS):
        if name not in readers or name in busy:
            continue
        lock = filelock.FileLock(Path(tempfile.gettempdir()) / f"tokenstile-vpcd-{index}.lock")
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            continue
        return index, lock
    return None


def place_card(applet: PivCardApplet, *, pcsc: bool | None) -> DemoCard:
    """Put the card in a vpcd reader (``pcsc`` None: when pcscd runs) or in-process."""
    if pcsc is not False:
        found = _free_vpcd_reader()
        if found is not None:
            from tokenstile.virtual.vpcd import VpcdCard

            index, lock = found
            return DemoCard(
                applet=applet,
                reader=VPCD_READERS[index],
                vpcd=VpcdCard(applet, reader=index),
                lock=lock,
            )
        if pcsc:
            raise DemoError("No free vpcd reader: is pcscd running with vsmartcard-vpcd?")
    local = InProcessCardReader(IN_PROCESS_READER)
    return DemoCard(applet=applet, reader=local.name, local=local)
