"""Temporary access codes over HTTP: ``POST /login/tac`` and ``POST /admin/access-codes``.

``POST /login/tac`` takes ``{"username", "code"[, "client_id"]}`` like ``/login/totp`` and
answers the same way: 200 with a token response whose access token says ``acr "tac"``,
``amr ["tac"]``; 400 ``invalid_grant`` with one description for every refusal about the
person or the code (unknown, disabled, wrong, expired, used up, another person's); 400
``invalid_target`` when the client's audience asks for more than a code gives (checked
before the code, so it spends no use). The session ends when the code would have, at the
latest, and never holds a privileged scope (``tokens.sessions``). It is counted by the
``login-failures`` rate limit (``server.rate_limit``). The use is spent in the
transaction that opens the session, so a code with one use left opens one session.

``POST /admin/access-codes`` (the role ``admin`` or ``helpdesk``; for an administrator,
``admin`` only: ``admin_permissions``) issues one: ``{"username", "hours" (default 8),
"uses" (default 1)}``; the answer holds the code, the only time it is shown.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from tokenstile.composition import Lazy, Services
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID
from tokenstile.errors import InvalidGrant, InvalidRequest, NotFound
from tokenstile.factors.access_code import MAX_HOURS, MAX_USES
from tokenstile.server import schemas
from tokenstile.server.admin_auth import AdminPrincipal, AdminWork, admin_router
from tokenstile.server.admin_post import admin_post
from tokenstile.server.dpop import dpop_login
from tokenstile.server.otp_routes import parse_login
from tokenstile.server.wire import no_store_json, request_origin
from tokenstile.store.access_codes import AccessCodeRepository, spend
from tokenstile.store.token_tx import SqlTx
from tokenstile.tokens.model import TAC_ACR, TokenTx
from tokenstile.tokens.service import TokenResponse

TAC_AMR = ("tac",)
REFUSED = "The username or the code is not valid."

_LOGIN_BODY = schemas.json_body(
    {
        "username": {"type": "string", "examples": ["alice"]},
        "code": {
            "type": "string",
            "description": "the temporary access code (spaces, hyphens and case are ignored)",
            "examples": ["K7QD-3MXP-W9TR"],
        },
        "client_id": {
            "type": "string",
            "description": "a kiosk or app client; default " + DEFAULT_KIOSK_CLIENT_ID,
        },
    },
    ["username", "code"],
)


class IssueBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, Field(min_length=1, max_length=128)]
    hours: float = Field(default=8.0, gt=0, le=MAX_HOURS)
    uses: int = Field(default=1, ge=1, le=MAX_USES)


class IssuedBody(BaseModel):
    username: str
    code: str = Field(description="shown this once; only its hash is kept")
    expires_at: float
    uses: int
    replaced: int = Field(description="earlier live codes of this person, now ended")


def access_code_router(services: Services) -> APIRouter:
    deployment = services.deployment
    service = services.token_service()
    directory = services.clients()
    codes = Lazy(lambda: AccessCodeRepository(deployment.store, clock=deployment.clock))

    def login(
        username: str, code: str, client_id: str | None, origin: str, jkt: str | None
    ) -> TokenResponse:
        client = directory.session_client(
            client_id or DEFAULT_KIOSK_CLIENT_ID,
            service,
            acr=TAC_ACR,
            factor="A temporary access code",
            dpop=jkt is not None,
        )
        found = codes().find(username, code, client_id=client.client_id, origin=origin)
        if found is None:
            raise InvalidGrant(REFUSED)
        user, code_id, code_ends = found

        def spend_one(tx: TokenTx) -> None:
            assert isinstance(tx, SqlTx)  # noqa: S101 - the store's only transaction
            if spend(tx.connection, code_id, now=deployment.clock.now()) is None:
                raise InvalidGrant(REFUSED)  # used up by a sign-in racing this one

        try:
            return service.sessions.open_session(
                user=user,
                client=client,
                factor="tac",
                amr=TAC_AMR,
                acr=TAC_ACR,
                origin=origin,
                device={"access_code": code_id},
                dpop_jkt=jkt,
                not_after=code_ends,
                precondition=spend_one,
            )
        except InvalidGrant as exc:  # disabled, or the use was gone, since the check
            codes().refused(
                username, "code_spent_or_disabled", client_id=client.client_id, origin=origin
            )
            raise InvalidGrant(REFUSED) from exc

    router = APIRouter()

    @router.post(
        "/login/tac",
        tags=["login"],
        summary="Sign in with a temporary access code a helpdesk person issued",
        response_model=schemas.TokenResponseBody,
        responses=schemas.ERRORS,
        openapi_extra=_LOGIN_BODY,
    )
    async def login_tac(request: Request) -> Response:
        return await dpop_login(request, service, parse_login, login)

    admin = admin_router(
        services,
        prefix="/admin/access-codes",
        tags=["admin: access codes"],
        responses=schemas.admin_errors(
            bad_input="bad input (hours or uses out of bounds)",
            not_found="no person of this name",
            conflict="not used",
        ),
    )
    call = AdminWork((NotFound, 404, "not_found"), (InvalidRequest, 400, "invalid_request"))

    @admin_post(
        admin,
        "",
        IssueBody,
        status_code=201,
        summary="Issue a person a temporary access code (shown in this answer only)",
        response_model=IssuedBody,
    )
    async def issue(request: Request, who: AdminPrincipal, body: IssueBody) -> Response:
        issued = await call(
            lambda: codes().issue(
                body.username,
                hours=body.hours,
                uses=body.uses,
                by=who.actor,
                origin=request_origin(request),
            )
        )
        return no_store_json(issued.to_json(), 201)

    router.include_router(admin)
    return router
