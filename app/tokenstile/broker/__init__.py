"""The local side: the HTTP client of the token service, the session in the OS keychain,
refresh under a cross-process lock, and the SDK for desktop apps (``docs/broker.md``).

::

    from tokenstile.broker import Broker, TokenstileAuth
    token = Broker().access_token(audience="https://payroll.example")
    httpx.get("https://payroll.example/api", auth=TokenstileAuth(audience="https://payroll.example"))

The names are imported on first use (PEP 562), so that ``tokenstile token`` loads neither
httpx nor the device stack when a cached token will do.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenstile.broker.auth import TokenstileAuth
    from tokenstile.broker.client import TokenServiceClient
    from tokenstile.broker.confirm import ConfirmToken
    from tokenstile.broker.dpop import DpopKey
    from tokenstile.broker.errors import (
        BrokerError,
        ConfirmFailed,
        KeychainUnavailable,
        LoginRefused,
        NotLoggedIn,
        Parked,
        ParkingFull,
        ServerUnreachable,
        ServiceError,
        TokenRefused,
    )
    from tokenstile.broker.model import AccessToken, SessionInfo, TokenGrant
    from tokenstile.broker.session import Broker
    from tokenstile.broker.state_file import BrokerState
    from tokenstile.broker.store import KeyringStore, SessionStore

__all__ = [
    "AccessToken",
    "Broker",
    "BrokerError",
    "BrokerState",
    "ConfirmFailed",
    "ConfirmToken",
    "DpopKey",
    "KeychainUnavailable",
    "KeyringStore",
    "LoginRefused",
    "NotLoggedIn",
    "Parked",
    "ParkingFull",
    "ServerUnreachable",
    "ServiceError",
    "SessionInfo",
    "SessionStore",
    "TokenGrant",
    "TokenRefused",
    "TokenServiceClient",
    "TokenstileAuth",
]

_HOME = {
    "AccessToken": "model",
    "Broker": "session",
    "BrokerError": "errors",
    "ConfirmFailed": "errors",
    "ConfirmToken": "confirm",
    "BrokerState": "state_file",
    "DpopKey": "dpop",
    "KeychainUnavailable": "errors",
    "KeyringStore": "store",
    "LoginRefused": "errors",
    "NotLoggedIn": "errors",
    "Parked": "errors",
    "ParkingFull": "errors",
    "ServerUnreachable": "errors",
    "ServiceError": "errors",
    "SessionInfo": "model",
    "SessionStore": "store",
    "TokenGrant": "model",
    "TokenRefused": "errors",
    "TokenServiceClient": "client",
    "TokenstileAuth": "auth",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
