"""The software key as an in-process ``fido2.ctap.CtapDevice``.

python-fido2's ``Ctap2`` and ``Fido2Client`` drive it exactly as they drive a USB key:
CTAPHID_CBOR carries CTAP2 requests to the processor, CTAPHID_PING echoes, CTAPHID_WINK
blinks (it counts), and CTAPHID_MSG is refused as a CTAP2-only key without U2F refuses it.
The platform's cancel event reaches a pending user-presence check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fido2.ctap import STATUS, CtapDevice, CtapError
from fido2.hid import CAPABILITY, CTAPHID

from tokenstile.virtual.ctap2_authenticator import Ctap2Authenticator
from tokenstile.virtual.key_file import KeyFile


class VirtualAuthenticator(CtapDevice):
    """A FIDO2 security key that lives in this process."""

    def __init__(self, authenticator: Ctap2Authenticator | None = None) -> None:
        self.authenticator = authenticator if authenticator is not None else Ctap2Authenticator()
        self.winks = 0

    @classmethod
    def from_file(
        cls, path: Path | str, *, kek: bytes | None = None, **options: Any
    ) -> VirtualAuthenticator:
        """The key kept in ``path`` (created there on first use).

        ``options`` are those of :class:`~tokenstile.virtual.Ctap2Authenticator`.
        """
        return cls(Ctap2Authenticator(KeyFile(path, kek=kek), **options))

    @property
    def capabilities(self) -> int:
        return CAPABILITY.CBOR | CAPABILITY.WINK

    def call(
        self,
        cmd: int,
        data: bytes = b"",
        event: threading.Event | None = None,
        on_keepalive: Callable[[STATUS], None] | None = None,
    ) -> bytes:
        if cmd == CTAPHID.CBOR:
            return self.authenticator.process(data, cancel=event, on_keepalive=on_keepalive)
        if cmd == CTAPHID.PING:
            return data
        if cmd == CTAPHID.WINK:
            self.winks += 1
            return b""
        # CTAPHID_MSG (no U2F here), LOCK, INIT, CANCEL and vendor commands: on USB the
        # key answers CTAPHID_ERROR with ERR_INVALID_CMD, which python-fido2 raises as this.
        raise CtapError(CtapError.ERR.INVALID_COMMAND)

    def power_cycle(self) -> None:
        """Pull the key out and plug it in again."""
        self.authenticator.power_cycle()

    @classmethod
    def list_devices(cls) -> Iterator[CtapDevice]:
        # An in-process key is handed over, never discovered.
        return iter(())
