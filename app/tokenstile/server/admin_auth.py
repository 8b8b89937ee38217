"""The admin HTTP API of every factor: bearer-token authorisation (RFC 6750), bodies, errors.

A router that serves admin endpoints is built by ``admin_router``: each of its routes
has the dependency of a ``BearerAuth`` (``ADMIN_SCOPE``, enabled admins only)::

    router = admin_router(services, prefix="/admin/otp", tags=["admin: otp"])
    call = AdminWork((NotFound, 404, "not_found"), (Conflict, 409, "conflict"))

    @router.post("/revoke")
    async def revoke(request: Request) -> Response:
        who = admin_principal(request)                 # set by the dependency
        body = await read_admin_body(request, SerialBody)
        info = await call(lambda: repository.revoke(body.serial, by=who.actor))
        ...
        raise AdminApiError(409, "conflict", "Already revoked.")   # rendered as JSON

The dependency runs before the endpoint reads its body, so an unauthorised caller learns
nothing from how a body is judged.

What is refused, and how (RFC 6750 section 3; RFC 9449 section 7.1 for DPoP):

- no ``Authorization: Bearer`` or ``DPoP`` header: 401, ``WWW-Authenticate: Bearer
  realm=...`` without an error code (section 3.1 asks for none when no credentials were
  sent);
- a token that is not ours, expired, of an ended session or a disabled person, or for
  another audience: 401 ``invalid_token``;
- a token bound to a DPoP key (``cnf.jkt``) sent as ``Bearer``, or under ``DPoP`` without
  a proof of its key for this request, or an unbound token sent as ``DPoP``: 401
  ``invalid_dpop_proof`` — so a stolen bound admin token is useless without its key;
- a good token without the scope, or of a person who holds no built-in role any more:
  403 ``insufficient_scope``;
- a person whose roles do not allow the operation (``server.admin_permissions``): 403
  ``insufficient_role`` with a sentence naming the roles that may, and an audit row
  ``admin_refused``.

``BearerError`` and ``AdminApiError`` are ``OAuthError`` subclasses: the application's one
exception handler renders them like every other error. ``read_admin_body`` refuses a body
that is not the endpoint's model with 400 ``invalid_request``; ``AdminWork`` runs the
repository call in the thread pool and turns the repository's refusals into admin errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from tokenstile.clock import Clock, SystemClock
from tokenstile.composition import Services
from tokenstile.errors import OAuthError, TokenstileError
from tokenstile.protocol.roles import (
    GUARDS_ADMINS,
    Permission,
    Role,
    permissions_of,
    roles_allowed,
)
from tokenstile.protocol.scopes import ADMIN_SCOPE
from tokenstile.server.admin_permissions import permission_for
from tokenstile.server.dpop import check_binding, presented_token
from tokenstile.server.wire import JSON, is_json, request_origin
from tokenstile.store.repository import Store
from tokenstile.store.roles import roles_of
from tokenstile.store.rows import is_plain_text
from tokenstile.tokens.dpop import DPOP_ALGORITHMS, DpopProofError
from tokenstile.tokens.model import LOCAL_AUDIENCE, AuditEvent
from tokenstile.tokens.service import TokenService

REALM = "tokenstile"
MAX_ADMIN_BYTES = 64 * 1024

_Body = TypeVar("_Body", bound=BaseModel)
_T = TypeVar("_T")

# Declares the scheme in the OpenAPI document; the check itself is ``BearerAuth``.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="adminBearer",
    description=f"An access token with the scope {ADMIN_SCOPE}, issued to an admin; a "
    "DPoP-bound one goes as Authorization: DPoP with a DPoP proof (RFC 9449).",
)
NO_TOKEN = "Send an access token: Authorization: Bearer <token> (or DPoP <token>)."  # noqa: S105


class BearerError(OAuthError):
    """A refused access token: RFC 6750 JSON plus its ``WWW-Authenticate`` challenge.

    ``invalid_dpop_proof`` is challenged under the DPoP scheme (RFC 9449 section 7.1),
    everything else under Bearer; with no ``error`` (no token was sent, section 3.1) the
    challenge names none and the body says ``invalid_request``.
    """

    code = "invalid_bearer_token"
    status = 401

    def __init__(
        self, status: int, error: str | None, description: str, *, scope: str | None = None
    ) -> None:
        super().__init__(description, status=status)
        self.error = error
        self.code = error or "invalid_request"
        self.scope = scope

    def challenge(self) -> dict[str, str]:
        dpop_algs = " ".join(DPOP_ALGORITHMS)
        scheme = "DPoP" if self.error == "invalid_dpop_proof" else "Bearer"
        challenge = f'{scheme} realm="{REALM}"'
        if scheme == "DPoP":
            challenge += f', algs="{dpop_algs}"'
        if self.error is not None:
            challenge += f', error="{self.error}"'
        if self.scope is not None:
            challenge += f', scope="{self.scope}"'
        return {"WWW-Authenticate": challenge}


class AdminApiError(OAuthError):
    """A refused admin request (bad input, unknown serial, wrong state): JSON, no trace.
    ``error`` is the answer's ``error`` value; ``extra`` members join the body."""

    code = "admin_request_refused"

    def __init__(
        self, status: int, error: str, description: str, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description, status=status, extra=extra)
        self.code = error


def check_plain_text(name: str, value: str | None) -> None:
    """``AdminApiError`` for text the database would not take (a NUL, a lone surrogate)."""
    if value is not None and not is_plain_text(value):
        raise AdminApiError(400, "invalid_request", f"{name} holds a character not allowed.")


async def read_admin_body(
    request: Request, model: type[_Body], limit: int = MAX_ADMIN_BYTES
) -> _Body:
    """The body as ``model``, read after the caller was authorised."""
    if not is_json(request):
        raise AdminApiError(400, "invalid_request", f"Send the body as {JSON}.")
    body = await request.body()
    if len(body) > limit:
        raise AdminApiError(400, "invalid_request", "The request body is too large.")
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise AdminApiError(
            400, "invalid_request", f"The request is malformed ({where}: {first['msg']})."
        ) from exc
    for name, value in parsed:
        if isinstance(value, str):
            check_plain_text(name, value)
    return parsed


Refusal = tuple[type[TokenstileError] | tuple[type[TokenstileError], ...], int, str]


class AdminWork:
    """Runs repository work in the thread pool; the errors of its refusals, each given as
    ``(error type, status, error code)`` and tried in order, become ``AdminApiError``."""

    def __init__(self, *refusals: Refusal) -> None:
        self._refusals = refusals

    async def __call__(self, work: Callable[[], _T]) -> _T:
        try:
            return await run_in_threadpool(work)
        except TokenstileError as exc:
            for kinds, status, error in self._refusals:
                if isinstance(exc, kinds):
                    raise AdminApiError(status, error, exc.message) from exc
            raise


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    """Who is calling: the person behind the token, and the token's session and client."""

    username: str
    user_id: int
    sid: str
    client_id: str
    scope: tuple[str, ...]
    roles: frozenset[Role] = frozenset()

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_of(self.roles)

    @property
    def actor(self) -> str:
        """How audit rows name this caller (``by``)."""
        return f"admin:{self.username}"


def admin_principal(request: Request) -> AdminPrincipal:
    """The caller a ``BearerAuth`` dependency of this route admitted."""
    principal = getattr(request.state, "admin_principal", None)
    if not isinstance(principal, AdminPrincipal):
        raise BearerError(401, None, NO_TOKEN)
    return principal


class BearerAuth:
    """A FastAPI dependency: the ``AdminPrincipal`` of a valid token with ``scope``.

    The token is read by ``TokenIntrospection.read_access_token`` (our signature or opaque
    record, expiry, a live session of an enabled person); its DPoP binding must hold
    (``server.dpop.check_binding``); its audience must include ``audience``; with
    ``require_admin`` the person must still hold a built-in role now, not only when the
    token was issued, and that role must allow the operation (``admin_permissions``).
    """

    def __init__(
        self,
        service: TokenService,
        store: Store,
        *,
        scope: str = ADMIN_SCOPE,
        audience: str = LOCAL_AUDIENCE,
        require_admin: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self._service = service
        self._store = store
        self._clock = clock or SystemClock()
        self.scope = scope
        self.audience = audience
        self.require_admin = require_admin

    async def __call__(self, request: Request) -> AdminPrincipal:
        presented = presented_token(request)
        if presented is None:
            raise BearerError(401, None, NO_TOKEN)
        scheme, token = presented
        principal = await run_in_threadpool(self.check, request, scheme, token)
        if self.require_admin:
            permission = await self._permitted(request, principal)
            if not principal.is_admin and permission in GUARDS_ADMINS:
                await self._not_for_admins(request, principal, permission)
        request.state.admin_principal = principal
        return principal

    async def _permitted(self, request: Request, who: AdminPrincipal) -> Permission | None:
        """The operation's permission if ``who`` holds it; ``BearerError`` (audited) if not.
        An operation without a rule is an admin's alone."""
        path = request.url.path.removeprefix(request.scope.get("root_path", "") or "")
        permission = permission_for(request.method, path)
        allowed = who.is_admin or (permission is not None and permission in who.permissions)
        if not allowed:
            needed = roles_allowed(permission) if permission is not None else (Role.ADMIN,)
            names = " or ".join(role.value for role in needed)
            await self._refuse(
                request,
                who,
                f"This needs the role {names}; you have {_role_list(who.roles)}.",
                {"needs": [role.value for role in needed]},
            )
        return permission

    async def _not_for_admins(
        self, request: Request, who: AdminPrincipal, permission: Permission
    ) -> None:
        """Refuse an operation about an administrator (the body's ``username``) to anyone
        who is not an admin: it could make them that admin."""
        target = _body_username(await request.body())
        if target is None:
            return
        person = await run_in_threadpool(self._store.find_user, target)
        if person is None:
            return  # the endpoint says there is no such person
        roles = await run_in_threadpool(self._roles_of, person.id, person.is_admin)
        if Role.ADMIN in roles:
            await self._refuse(
                request,
                who,
                f"Only an admin may do this for an administrator ({target}): "
                "this needs the role admin.",
                {"needs": [Role.ADMIN.value], "target": target, "permission": permission.value},
            )

    async def _refuse(
        self, request: Request, who: AdminPrincipal, sentence: str, detail: dict[str, Any]
    ) -> NoReturn:
        """An audit row ``admin_refused``, then the 403."""
        event = AuditEvent(
            "admin_refused",
            "failure",
            username=who.username,
            client_id=who.client_id or None,
            sid=who.sid or None,
            origin=request_origin(request),
            detail={
                "by": who.actor,
                "operation": f"{request.method} {request.url.path}",
                "roles": sorted(role.value for role in who.roles),
                **detail,
            },
        )
        await run_in_threadpool(self._store.audit, event, at=self._clock.now())
        raise BearerError(403, "insufficient_role", sentence)

    def _roles_of(self, user_id: int, is_admin: bool) -> frozenset[Role]:
        """The person's built-in roles (``users.is_admin``, the old flag the store keeps
        equal to the ``admin`` role, counts as that role too)."""
        with self._store.read() as tx:
            roles = roles_of(tx.connection, user_id)
        return roles | {Role.ADMIN} if is_admin else roles

    def check(self, request: Request, scheme: str, token: str) -> AdminPrincipal:
        """The principal of ``token`` sent under ``scheme`` (``bearer`` or ``dpop``), or
        ``BearerError`` (sync: it reads the database and records the proof's ``jti``)."""
        claims = self._service.introspection.read_access_token(token)
        if claims is None:
            raise BearerError(401, "invalid_token", "The access token is not valid.")
        try:
            check_binding(request, self._service, scheme=scheme, token=token, claims=claims)
        except DpopProofError as exc:
            raise BearerError(401, "invalid_dpop_proof", exc.message) from exc
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
        roles = self._roles_of(user.id, user.is_admin)
        if self.require_admin and not roles:
            raise BearerError(
                403,
                "insufficient_scope",
                "Only administrators and staff (the role admin, helpdesk or enroller) may do this.",
                scope=self.scope,
            )
        return AdminPrincipal(
            username=user.username,
            user_id=user.id,
            sid=str(claims.get("sid", "")),
            client_id=str(claims.get("client_id", "")),
            scope=scope,
            roles=roles,
        )


def _role_list(roles: frozenset[Role]) -> str:
    return ", ".join(sorted(role.value for role in roles)) or "none"


def _body_username(body: bytes) -> str | None:
    """The ``username`` member of a JSON object body, if it has one (the endpoint judges
    the body itself afterwards)."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    value = parsed.get("username") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else None


def admin_router(
    services: Services,
    *,
    prefix: str,
    tags: list[str],
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> APIRouter:
    """A router of admin endpoints: each needs an admin's access token (``BearerAuth``)
    and raises ``BearerError`` and ``AdminApiError`` for the application's handler."""
    deployment = services.deployment
    bearer = BearerAuth(services.token_service(), deployment.store, clock=deployment.clock)
    return APIRouter(
        prefix=prefix,
        tags=list(tags),
        dependencies=[Depends(bearer_scheme), Depends(bearer)],
        responses=responses,
    )
