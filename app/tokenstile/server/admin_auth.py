"""Bearer-token authorisation for the admin HTTP API (RFC 6750), for every factor's routes.

A router that serves admin endpoints is built with ``route_class=AdminRoute`` and gives
each endpoint the dependency of a ``BearerAuth``::

    admin = BearerAuth(service, store)                 # ADMIN_SCOPE, enabled admins only
    router = APIRouter(
        prefix="/admin/otp",
        route_class=AdminRoute,
        dependencies=[Depends(bearer_scheme), Depends(admin)],
    )

    @router.post("/revoke")
    async def revoke(request: Request) -> Response:
        who = admin_principal(request)                 # set by the dependency
        ...
        raise AdminApiError(409, "conflict", "Already revoked.")   # rendered as JSON

The dependency runs before the endpoint reads its body, so an unauthorised caller learns
nothing from how a body is judged.

What is refused, and how (RFC 6750 section 3):

- no ``Authorization: Bearer`` header: 401, ``WWW-Authenticate: Bearer realm=...``
  without an error code (section 3.1 asks for none when no credentials were sent);
- a token that is not ours, expired, of an ended session or a disabled person, or for
  another audience: 401 ``invalid_token``;
- a good token without the scope, or of a person who is no longer an admin: 403
  ``insufficient_scope``.

The route class turns ``BearerError`` and ``AdminApiError`` into JSON responses itself,
so the application needs no extra exception handler.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenstile.store.repository import Store
from tokenstile.tokens.model import ADMIN_SCOPE, LOCAL_AUDIENCE
from tokenstile.tokens.service import TokenService

REALM = "tokenstile"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# Declares the scheme in the OpenAPI document; the check itself is ``BearerAuth``.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="adminBearer",
    description=f"An access token with the scope {ADMIN_SCOPE}, issued to an admin.",
)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers={**_NO_STORE, **(headers or {})},
    )


class BearerError(Exception):
    """A refused bearer token; renders itself as RFC 6750 JSON plus its challenge."""

    def __init__(
        self, status: int, error: str | None, description: str, *, scope: str | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope

    def response(self) -> Response:
        challenge = f'Bearer realm="{REALM}"'
        if self.error is not None:
            challenge += f', error="{self.error}"'
        if self.scope is not None:
            challenge += f', scope="{self.scope}"'
        body = {"error": self.error or "invalid_request", "error_description": self.description}
        return json_response(body, self.status, {"WWW-Authenticate": challenge})


class AdminApiError(Exception):
    """A refused admin request (bad input, unknown serial, wrong state): JSON, no trace."""

    def __init__(
        self, status: int, error: str, description: str, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.extra = extra or {}

    def response(self) -> Response:
        body = {"error": self.error, "error_description": self.description, **self.extra}
        return json_response(body, self.status)


class AdminRoute(APIRoute):
    """An ``APIRoute`` that renders ``BearerError`` and ``AdminApiError`` raised by its
    dependencies or its endpoint; other errors reach the application's handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (BearerError, AdminApiError) as exc:
                return exc.response()

        return guarded


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    """Who is calling: the person behind the token, and the token's session and client."""

    username: str
    user_id: int
    sid: str
    client_id: str
    scope: tuple[str, ...]

    @property
    def actor(self) -> str:
        """How audit rows name this caller (``by``)."""
        return f"admin:{self.username}"


def admin_principal(request: Request) -> AdminPrincipal:
    """The caller a ``BearerAuth`` dependency of this route admitted."""
    principal = getattr(request.state, "admin_principal", None)
    if not isinstance(principal, AdminPrincipal):
        raise BearerError(401, None, "Send an access token: Authorization: Bearer <token>.")
    return principal


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class BearerAuth:
    """A FastAPI dependency: the ``AdminPrincipal`` of a valid token with ``scope``.

    The token is read by ``TokenService.read_access_token`` (our signature or opaque
    record, expiry, a live session of an enabled person); its audience must include
    ``audience``; with ``require_admin`` the person must still be an admin now, not only
    when the token was issued.
    """

    def __init__(
        self,
        service: TokenService,
        store: Store,
        *,
        scope: str = ADMIN_SCOPE,
        audience: str = LOCAL_AUDIENCE,
        require_admin: bool = True,
    ) -> None:
        self._service = service
        self._store = store
        self.scope = scope
        self.audience = audience
        self.require_admin = require_admin

    async def __call__(self, request: Request) -> AdminPrincipal:
        token = bearer_token(request)
        if token is None:
            raise BearerError(401, None, "Send an access token: Authorization: Bearer <token>.")
        principal = await run_in_threadpool(self.check, token)
        request.state.admin_principal = principal
        return principal

    def check(self, token: str) -> AdminPrincipal:
        """The principal of ``token``, or ``BearerError`` (sync: it reads the database)."""
        claims = self._service.read_access_token(token)
        if claims is None:
            raise BearerError(401, "invalid_token", "The access token is not valid.")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise BearerError(401, "invalid_token", "The access token is not meant for this API.")
        scope = tuple(str(claims.get("scope", "")).split())
        if self.scope not in scope:
            raise BearerError(
                403,
                "insufficient_scope",
                f"This needs an access token with the scope {self.scope}.",
                scope=self.scope,
            )
        user = self._store.find_user(str(claims.get("sub", "")))
        if user is None or not user.enabled:
            raise BearerError(401, "invalid_token", "The access token is not valid.")
        if self.require_admin and not user.is_admin:
            raise BearerError(
                403, "insufficient_scope", "Only administrators may do this.", scope=self.scope
            )
        return AdminPrincipal(
            username=user.username,
            user_id=user.id,
            sid=str(claims.get("sid", "")),
            client_id=str(claims.get("client_id", "")),
            scope=scope,
        )
