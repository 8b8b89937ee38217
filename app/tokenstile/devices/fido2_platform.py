"""Windows: security keys through the platform WebAuthn API.

Since Windows 10 1903 only elevated processes may talk CTAP to a key directly; everyone
else goes through ``webauthn.dll``, which draws its own "touch your key" and PIN dialogs.
So on Windows, when the kiosk is not elevated and the API is there, ceremonies go
through python-fido2's ``WindowsClient`` instead of :class:`SecurityKeyClient`.

Not exercised on this project's Linux machines: the selection rule is unit-tested, the
Windows calls themselves are python-fido2's.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from fido2.client import DefaultClientDataCollector
from fido2.webauthn import PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions

from tokenstile.devices.fido2_errors import KeyCancelled, SecurityKeyError


def _is_elevated() -> bool:
    shell32 = getattr(getattr(ctypes, "windll", None), "shell32", None)
    if shell32 is None:
        return False
    return bool(shell32.IsUserAnAdmin())


def _api_available() -> bool:
    current: str = sys.platform  # a plain str: mypy would otherwise drop the rest on Linux
    if current != "win32":
        return False
    from fido2.client.windows import WindowsClient

    return bool(WindowsClient.is_available())


def use_platform_api(
    *,
    platform: str = sys.platform,
    elevated: Callable[[], bool] = _is_elevated,
    available: Callable[[], bool] = _api_available,
) -> bool:
    """True where keys must go through the Windows WebAuthn API (Windows, not elevated)."""
    return platform == "win32" and not elevated() and available()


class PlatformKeyClient:
    """register/authenticate with the same shapes as :class:`SecurityKeyClient`."""

    def __init__(self, *, origin: str, cancel: threading.Event | None = None) -> None:
        from fido2.client.windows import WindowsClient

        self.origin = origin
        self.cancel = cancel or threading.Event()
        self._client = WindowsClient(DefaultClientDataCollector(origin))

    def register(self, options: Mapping[str, Any]) -> dict[str, Any]:
        public_key = PublicKeyCredentialCreationOptions.from_dict(dict(options))
        response = self._call(
            lambda: self._client.make_credential(public_key, self.cancel)  # type: ignore[no-untyped-call]
        )
        return dict(response)

    def authenticate(self, options: Mapping[str, Any]) -> dict[str, Any]:
        public_key = PublicKeyCredentialRequestOptions.from_dict(dict(options))
        selection = self._call(
            lambda: self._client.get_assertion(public_key, self.cancel)  # type: ignore[no-untyped-call]
        )
        return dict(selection.get_response(0))

    def _call(self, call: Callable[[], Any]) -> Any:
        if self.cancel.is_set():
            raise KeyCancelled()
        try:
            return call()
        except OSError as exc:  # what webauthn.dll failures surface as
            if self.cancel.is_set():
                raise KeyCancelled() from exc
            raise SecurityKeyError(f"Windows could not use the security key: {exc}") from exc
