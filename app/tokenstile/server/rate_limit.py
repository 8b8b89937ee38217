"""Shared rate limits on the unauthenticated login endpoints, as one ASGI middleware.

Counted per client address (IPv6 per /64) in the database, so every replica sees the
same counts (``store/rate_limit.py``); a peer without an IP address (a Unix socket with
no trusted proxy in front) is not counted. Two limits:

- ``challenges``: every call of an endpoint that writes a row for a stranger
  (``/login/webauthn/options``, ``/login/piv/challenge``, the taps'
  ``/login/tap/options`` and ``/login/tap/piv/challenge``, the sign-in page's
  ``/authorize/webauthn/options`` and its kiosk single sign-on hand-off
  ``/authorize/sso``);
- ``login-failures``: attempts at the login endpoints (``/login/totp``, ``/login/tac``,
  ``/login/webauthn``, ``/login/piv``, the key, card and fob taps ``/login/tap/webauthn``,
  ``/login/tap/piv`` and ``/login/tap/totp``, the browser sign-in forms ``/authorize/login`` and
  ``/authorize/webauthn``),
  counted before the attempt runs, so attempts sent at once are counted too, and taken
  back when the login succeeds (a 2xx, or the sign-in form's redirect to its app). This
  bounds a brute force spread over usernames and replicas; the per-person OTP lockout
  still bounds one spread over addresses.

Over the limit: a ``RateLimited`` error (429 with ``Retry-After`` and an OAuth-style error
JSON), rendered by the application's one exception handler, before the endpoint runs.
When the database cannot count, the request goes on: the endpoint then answers for itself
(503 when the database is down).
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenstile.clock import Clock
from tokenstile.config import Settings
from tokenstile.deployment import Deployment
from tokenstile.errors import RateLimited, StoreError
from tokenstile.store.rate_limit import Count, RateLimitStore

log = logging.getLogger(__name__)

CHALLENGE_PATHS = (
    "/login/webauthn/options",
    "/login/piv/challenge",
    "/login/tap/piv/challenge",
    "/login/tap/options",
    "/authorize/webauthn/options",
    "/authorize/sso",
)
LOGIN_PATHS = (
    "/login/totp",
    "/login/tac",
    "/login/webauthn",
    "/login/piv",
    "/login/tap/piv",
    "/login/tap/totp",
    "/login/tap/webauthn",
    "/authorize/login",
    "/authorize/webauthn",
)


@dataclass(frozen=True, kw_only=True)
class Limit:
    """At most ``limit`` hits per ``window`` seconds per client address."""

    name: str
    limit: int
    window: float
    refund_success: bool = False


def limits_from(settings: Settings) -> dict[str, Limit]:
    """The limit of each limited path (a limit of 0 is off)."""
    challenges = Limit(
        name="challenges",
        limit=settings.rate_limit_challenges,
        window=settings.rate_limit_challenges_window,
    )
    failures = Limit(
        name="login-failures",
        limit=settings.rate_limit_login_failures,
        window=settings.rate_limit_login_failures_window,
        refund_success=True,
    )
    paths = dict.fromkeys(CHALLENGE_PATHS, challenges)
    paths.update(dict.fromkeys(LOGIN_PATHS, failures))
    return {path: rule for path, rule in paths.items() if rule.limit > 0}


def client_key(scope: Scope) -> str | None:
    """The address a limit counts for: the peer (after trusted proxy headers), IPv6 per
    /64; None when the peer has no IP address (a Unix socket, an in-process client)."""
    client = scope.get("client")
    try:
        address = ipaddress.ip_address(str(client[0])) if client else None
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return None if address is None else str(address)


class RateLimiter:
    """Counts hits against the limits; answers whether a request may go on."""

    def __init__(self, store: RateLimitStore, clock: Clock, limits: Mapping[str, Limit]) -> None:
        self._store = store
        self._clock = clock
        self.limits = dict(limits)
        # Told the name of the limit each refusal was over (metrics); must not block.
        self.on_refusal: Callable[[str], None] | None = None

    def hit(self, rule: Limit, key: str) -> Count:
        now = self._clock.now()
        count = self._store.hit(f"{rule.name} {key}", now=now, window=rule.window)
        if count.hits == rule.limit + 1:  # once per window: no log line per refused request
            log.warning("rate limit %s reached for %s", rule.name, key)
        return count

    def refund(self, rule: Limit, key: str, count: Count) -> None:
        self._store.refund(f"{rule.name} {key}", count)

    def retry_after(self, rule: Limit, count: Count) -> int:
        return max(1, math.ceil(count.window_start + rule.window - self._clock.now()))


ErrorRenderer = Callable[[Request, Exception], Awaitable[Response]]
"""The application's one exception handler (``server.app``'s ``render_error``)."""


class RateLimitMiddleware:
    """Pure ASGI: other paths pass straight through. It runs outside the app's exception
    middleware, so a refusal is handed to the one exception handler (``render``) here."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, render: ErrorRenderer) -> None:
        self._app = app
        self._limiter = limiter
        self._render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self._limiter.limits.get(scope["path"]) if scope["type"] == "http" else None
        key = client_key(scope) if rule is not None and scope["method"] == "POST" else None
        if rule is None or key is None:
            await self._app(scope, receive, send)
            return
        try:
            count = await run_in_threadpool(self._limiter.hit, rule, key)
        except StoreError as exc:
            log.warning("cannot count %s for %s: %s", rule.name, key, exc.message)
            await self._app(scope, receive, send)
            return
        if count.hits > rule.limit:
            if self._limiter.on_refusal is not None:
                self._limiter.on_refusal(rule.name)
            refused = RateLimited(self._limiter.retry_after(rule, count))
            response = await self._render(Request(scope, receive), refused)
            await response(scope, receive, send)
            return
        if not rule.refund_success:
            await self._app(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            # The hit is given back before the answer leaves: a client that saw its login
            # succeed never finds it counted.
            # A success is a 2xx, or the browser sign-in form's redirect back to its app.
            if message["type"] == "http.response.start" and 200 <= message["status"] < 400:
                try:
                    await run_in_threadpool(self._limiter.refund, rule, key, count)
                except StoreError as exc:
                    log.warning("cannot take back a %s hit: %s", rule.name, exc.message)
            await send(message)

        await self._app(scope, receive, watch)


TOO_MANY_REQUESTS: dict[str, Any] = {
    "description": "Rate limited: too many requests from this address; see Retry-After",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthErrorBody"}}},
}


def install_rate_limits(app: FastAPI, deployment: Deployment, *, render: ErrorRenderer) -> None:
    """Add the middleware, refusing through ``render``, and document the 429 on every
    limited operation."""
    limits = limits_from(deployment.settings)
    limiter = RateLimiter(RateLimitStore(deployment.store), deployment.clock, limits)
    app.add_middleware(RateLimitMiddleware, limiter=limiter, render=render)
    app.state.rate_limiter = limiter
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = original()
        for path in limiter.limits:
            operation = document.get("paths", {}).get(path, {}).get("post")
            if operation is not None:
                operation.setdefault("responses", {})["429"] = TOO_MANY_REQUESTS
        return document

    app.openapi = openapi  # type: ignore[method-assign]
