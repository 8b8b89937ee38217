"""Finding FIDO2 security keys: USB HID, NFC through PC/SC, or a key handed in.

Every source answers :meth:`KeySource.find` with the keys it sees now, as
:class:`SecurityKey` records wrapping a python-fido2 ``CtapDevice``, which
``Fido2Client`` drives the same whichever way the key is attached. :class:`KeyFinder`
asks several sources; a source that fails (pcscd down while a USB key is present) is
logged and skipped, so one broken transport never hides the others.

The demo hands in the in-process ``VirtualAuthenticator`` through :class:`FixedKeys`,
and tests reach the virtual key over NFC through real pcscd via :class:`NfcKeys`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from fido2.ctap import CtapDevice

from tokenstile.devices.errors import DeviceError, NoSecurityKey

logger = logging.getLogger(__name__)


class KeyTransport(Enum):
    USB = "usb"
    NFC = "nfc"
    VIRTUAL = "virtual"


@dataclass(frozen=True, kw_only=True)
class SecurityKey:
    device: CtapDevice
    transport: KeyTransport
    name: str

    def close(self) -> None:
        """Let go of the key (closes the HID handle or the PC/SC connection)."""
        close = getattr(self.device, "close", None)
        if callable(close):
            close()


class KeySource(Protocol):
    def find(self) -> list[SecurityKey]:
        """The keys this transport sees now; raises :class:`DeviceError` if it cannot look."""
        ...


class UsbKeys:
    """Keys on USB (CTAPHID over hidraw / IOKit / Windows HID)."""

    def find(self) -> list[SecurityKey]:
        from fido2.hid import CtapHidDevice

        try:
            devices = list(CtapHidDevice.list_devices())
        except OSError as exc:
            raise DeviceError("Cannot look for USB security keys.") from exc
        return [
            SecurityKey(
                device=device,
                transport=KeyTransport.USB,
                name=device.product_name or repr(device.descriptor.path),
            )
            for device in devices
        ]


class NfcKeys:
    """Keys on a contactless reader (or any PC/SC reader), found by the FIDO AID.

    ``reader`` restricts the search to readers whose name contains it.
    """

    def __init__(self, reader: str = "") -> None:
        self.reader = reader

    def find(self) -> list[SecurityKey]:
        from fido2.pcsc import CtapPcscDevice
        from smartcard.Exceptions import (
            SmartcardException,
        )
        from smartcard.pcsc.PCSCExceptions import (
            BaseSCardException,
        )

        from tokenstile.devices.pcsc import pcsc_error

        try:
            devices = list(CtapPcscDevice.list_devices(self.reader))
        except (SmartcardException, BaseSCardException) as exc:
            hresult = getattr(exc, "hresult", None)
            if isinstance(hresult, int) and hresult:
                raise pcsc_error(hresult, "looking for NFC security keys") from exc
            raise DeviceError("Cannot look for NFC security keys.") from exc
        # python-fido2 keeps the reader name only in a private field; its repr shows it.
        return [
            SecurityKey(
                device=device, transport=KeyTransport.NFC, name=getattr(device, "_name", "NFC")
            )
            for device in devices
        ]


class FixedKeys:
    """Keys that are handed over rather than discovered (the demo's virtual key)."""

    def __init__(
        self, devices: Sequence[CtapDevice], transport: KeyTransport = KeyTransport.VIRTUAL
    ) -> None:
        self._keys = [
            SecurityKey(device=device, transport=transport, name=f"{type(device).__name__}")
            for device in devices
        ]

    def find(self) -> list[SecurityKey]:
        return list(self._keys)


class KeyFinder:
    """Looks in several :class:`KeySource`\\ s; see :func:`default_key_finder`."""

    def __init__(self, sources: Iterable[KeySource]) -> None:
        self.sources = list(sources)

    def find(self) -> list[SecurityKey]:
        found: list[SecurityKey] = []
        for source in self.sources:
            try:
                found.extend(source.find())
            except DeviceError as exc:
                logger.info("%s: %s", type(source).__name__, exc.message)
        return found

    def wait_for_key(
        self,
        *,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
        poll_interval: float = 0.25,
    ) -> SecurityKey:
        """The first key found, polling until ``timeout`` or ``cancel``.

        Raises :class:`NoSecurityKey` when none shows up. Other keys found in the same
        look are closed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        stop = cancel or threading.Event()
        while True:
            keys = self.find()
            if keys:
                for extra in keys[1:]:
                    extra.close()
                return keys[0]
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise NoSecurityKey("No security key was found: insert or tap your key.")
            wait = poll_interval if remaining is None else min(poll_interval, remaining)
            if stop.wait(wait):
                raise NoSecurityKey("Looking for a security key was cancelled.")


def default_key_finder(
    *, usb: bool = True, nfc: bool = True, devices: Sequence[CtapDevice] = ()
) -> KeyFinder:
    """USB and NFC keys, plus ``devices`` (e.g. the demo's virtual key) first."""
    sources: list[KeySource] = []
    if devices:
        sources.append(FixedKeys(devices))
    if usb:
        sources.append(UsbKeys())
    if nfc:
        sources.append(NfcKeys())
    return KeyFinder(sources)
