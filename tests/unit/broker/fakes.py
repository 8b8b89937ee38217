"""Fakes for the broker's unit tests: an in-memory keychain and a token service behind
``httpx.MockTransport``. Both have real-stack twins in ``tests/integration/broker``
(gnome-keyring's Secret Service, a real ``tokenstile server`` process)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from tokenstile.clock import FrozenClock

SERVER = "https://auth.example"


class MemoryKeyring(KeyringBackend):
    """A keychain that forgets everything when the process ends."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}
        self.writes = 0

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.writes += 1
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError("no such item")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(**claims: Any) -> str:
    """An unsigned token with the claims the broker reads (the broker never verifies)."""
    header = b64(json.dumps({"alg": "ES256", "typ": "at+jwt"}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}.{b64(secrets.token_bytes(8))}"


Step = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeTokenService:
    """Refresh rotation (a used refresh token is refused), exchange, revocation, logins.

    ``script``: what the next requests to ``/token`` get instead (an exception to raise,
    or a function of the request), in order.
    """

    clock: FrozenClock
    lifetime: int = 60
    audience: str = "urn:tokenstile:local"
    token_type: str = "Bearer"
    live_refresh: str | None = None
    revoked: bool = False
    requests: list[httpx.Request] = field(default_factory=list)
    script: list[Exception | Step] = field(default_factory=list)
    issued: int = 0

    display_name: str = "Alice Example"
    session_lifetime: int | None = 8 * 3600  # refresh_token_expires_in (None: not sent)

    def grant(
        self, *, audience: str | None = None, scope: str = "openid profile"
    ) -> dict[str, Any]:
        self.issued += 1
        access = fake_jwt(
            sub="alice",
            aud=audience or self.audience,
            sid="sid-1",
            acr="phrh",
            amr=["hwk", "pin", "mfa"],
            auth_time=int(self.clock.now()),
            exp=int(self.clock.now()) + self.lifetime,
            n=self.issued,
        )
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": self.token_type,
            "expires_in": self.lifetime,
            "scope": scope,
        }
        if audience is None:
            self.live_refresh = secrets.token_urlsafe(32)
            body["refresh_token"] = self.live_refresh
            if self.session_lifetime is not None:
                body["refresh_token_expires_in"] = self.session_lifetime
        return body

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def token_requests(self) -> list[dict[str, str]]:
        return [
            dict(parse_qsl(r.content.decode())) for r in self.requests if r.url.path == "/token"
        ]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/token" and self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step(request)
        if path == "/login/totp":
            body = json.loads(request.content)
            if body["code"] != "123456":
                return oauth_error("invalid_grant", "The code is not right.", retry_after=30)
            return httpx.Response(200, json=self.grant())
        if path == "/userinfo":
            if self.revoked or not request.headers.get("authorization"):
                return oauth_error("invalid_token", "The access token is not valid.", status=401)
            return httpx.Response(200, json={"sub": "alice", "name": self.display_name})
        if path == "/revoke":
            self.revoked = True
            self.live_refresh = None
            return httpx.Response(200)
        if path != "/token":
            return httpx.Response(404, json={"error": "not_found"})
        form = dict(parse_qsl(request.content.decode()))
        if form["grant_type"] == "refresh_token":
            if self.revoked or form.get("refresh_token") != self.live_refresh:
                return oauth_error("invalid_grant", "This session has ended; sign in again.")
            return httpx.Response(200, json=self.grant())
        if self.revoked:
            return oauth_error("invalid_grant", "The subject token is not valid.")
        if form["audience"] == "https://forbidden.example":
            return oauth_error("invalid_target", "This client may not obtain tokens for it.")
        return httpx.Response(
            200,
            json={
                **self.grant(audience=form["audience"], scope=form.get("scope", "openid")),
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            },
        )


def oauth_error(
    error: str, description: str, *, retry_after: int | None = None, status: int = 400
) -> httpx.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return httpx.Response(
        status, json={"error": error, "error_description": description}, headers=headers
    )
