"""What the kiosk asks of the token service and the keychain, as one port.

:class:`SignInService` is the kiosk's view: the factor kinds to invite, a login per
factor, and the session kept in the keychain. :class:`BrokerSignIn` is the real one, over
:mod:`tokenstile.broker` (HTTP to the service, the OS keychain); nothing here reaches the
service any other way. Every call blocks: the window runs them on its worker thread.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from tokenstile.broker import (
    Broker,
    ServerUnreachable,
    SessionInfo,
    TokenGrant,
    TokenServiceClient,
)
from tokenstile.devices.fido2_client import PinPrompt as KeyPinPrompt
from tokenstile.devices.fido2_client import SecurityKeyClient
from tokenstile.devices.piv import PivCard
from tokenstile.devices.piv_login import PinPrompt as CardPinPrompt
from tokenstile.devices.security_keys import SecurityKey
from tokenstile.errors import TokenstileError

ALL_FACTORS = ("fido2", "piv", "totp")


@dataclass(frozen=True, slots=True, kw_only=True)
class FactorOffer:
    """The kinds of factor this deployment has enrolled (what the sign-in screen invites)."""

    kinds: tuple[str, ...] = ALL_FACTORS


class SignInService(Protocol):
    server: str
    client_id: str

    def factors(self) -> FactorOffer: ...

    def login_totp(self, username: str, code: str) -> TokenGrant: ...

    def login_fido2(
        self,
        key: SecurityKey,
        *,
        on_touch: Callable[[], None],
        on_pin: Callable[[KeyPinPrompt], str | None],
        cancel: threading.Event,
    ) -> TokenGrant: ...

    def login_piv(
        self, card: PivCard, ask_pin: CardPinPrompt, *, cancel: threading.Event
    ) -> TokenGrant: ...

    def save(self, grant: TokenGrant) -> SessionInfo:
        """Keep ``grant`` as the session in the keychain (revoking any earlier one)."""
        ...

    def session(self) -> SessionInfo | None: ...

    def discard(self, grant: TokenGrant) -> None:
        """Revoke a grant the kiosk does not keep (an unlock proves who; it opens nothing)."""
        ...

    def sign_out(self) -> None:
        """Revoke the session at the service, then wipe it from the keychain."""
        ...


def default_rp_id(server: str) -> str:
    """The RP ID the service uses by default: its host name, or localhost on loopback."""
    host = urlsplit(server).hostname or "localhost"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return "localhost"
    except ValueError:
        pass
    return host


def grant_subject(grant: TokenGrant) -> str:
    """Who a fresh grant signed in (``sub`` of its access token, as the service issued it).

    Read without checking the signature: the kiosk got it from its own service over
    TLS a moment ago and only compares it with the session it already holds.
    """
    try:
        payload = grant.access_token.split(".")[1]
        claims: Any = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error) as exc:
        raise TokenstileError("The sign-in service answered an unreadable token.") from exc
    subject = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(subject, str):
        raise TokenstileError("The sign-in service answered a token without a subject.")
    return subject


class BrokerSignIn:
    """The real :class:`SignInService`: a :class:`TokenServiceClient` and a :class:`Broker`."""

    def __init__(
        self,
        server: str,
        *,
        broker: Broker,
        client: TokenServiceClient | None = None,
        client_id: str = "tokenstile-kiosk",
        rp_id: str | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.client_id = client_id
        self.broker = broker
        # Lists the factors and revokes unused grants; each login gets its own client from
        # the broker (with a fresh DPoP key when the broker binds sessions to one).
        self.client = client or TokenServiceClient(self.server, client_id=client_id)
        self.rp_id = rp_id or default_rp_id(self.server)

    def factors(self) -> FactorOffer:
        kinds = tuple(kind for kind in self.client.factors() if kind in ALL_FACTORS)
        return FactorOffer(kinds=kinds)

    def login_totp(self, username: str, code: str) -> TokenGrant:
        with self._login_client() as client:
            return client.login_totp(username, code)

    def login_fido2(
        self,
        key: SecurityKey,
        *,
        on_touch: Callable[[], None],
        on_pin: Callable[[KeyPinPrompt], str | None],
        cancel: threading.Event,
    ) -> TokenGrant:
        security_key = SecurityKeyClient(
            key, origin=f"https://{self.rp_id}", on_touch=on_touch, on_pin=on_pin, cancel=cancel
        )
        with self._login_client() as client:
            return client.login_fido2(security_key, cancel=cancel)

    def login_piv(
        self, card: PivCard, ask_pin: CardPinPrompt, *, cancel: threading.Event
    ) -> TokenGrant:
        with self._login_client() as client:
            return client.login_piv(card, ask_pin, cancel=cancel)

    def _login_client(self) -> TokenServiceClient:
        return self.broker.login_client(self.server, client_id=self.client_id)

    def save(self, grant: TokenGrant) -> SessionInfo:
        return self.broker.save_login(grant, server=self.server, client_id=self.client_id)

    def session(self) -> SessionInfo | None:
        return self.broker.session()

    def discard(self, grant: TokenGrant) -> None:
        token = grant.refresh_token or grant.access_token
        hint = "refresh_token" if grant.refresh_token else "access_token"
        self.client.revoke(token, hint=hint)

    def sign_out(self) -> None:
        if not self.broker.logout():
            raise ServerUnreachable(
                "The session was wiped here, but the service could not be told to end it."
            )

    def close(self) -> None:
        self.client.close()
        close_broker = getattr(self.broker, "close", None)
        if callable(close_broker):
            close_broker()
