"""``POST /login/confirm/cancelled``: the kiosk's word that a confirm prompt was closed.

A confirm itself goes through a factor's own login route (``/login/webauthn`` or
``/login/piv`` with a ``confirm`` member, see :mod:`tokenstile.tokens.confirm`). When the
person closes the prompt instead, there is no ceremony to check; the kiosk reports it
here with its session's own token (and a DPoP proof of the session's key when bound) so
the audit log holds a ``confirm`` failure row, ``refused: cancelled``, naming the reason
and the app. Body ``{"confirm": {"session_token", "reason", "app", ...}}``; answers 204.
A token that is not a live session's own: 400 ``invalid_grant``, nothing written.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenstile.composition import Services
from tokenstile.errors import NO_STORE
from tokenstile.server import schemas
from tokenstile.server.dpop import dpop_jkt
from tokenstile.server.wire import json_object, request_origin, require_json
from tokenstile.tokens.confirm import ConfirmRequest

MAX_BODY = 4 * 1024

_BODY = schemas.json_body(
    {
        "confirm": {
            "type": "object",
            "description": "{session_token, reason, app}: the kiosk's session token and the "
            "request whose prompt was closed",
        }
    },
    ["confirm"],
)


def confirm_router(services: Services) -> APIRouter:
    """The confirm prompt's cancel report, for ``app.include_router``."""
    service = services.token_service()
    router = APIRouter()

    @router.post(
        "/login/confirm/cancelled",
        tags=["login"],
        summary="Report a confirm prompt the person closed (audited)",
        status_code=204,
        responses=schemas.ERRORS,
        openapi_extra=_BODY,
    )
    async def confirm_cancelled(request: Request) -> Response:
        require_json(request)
        confirm = ConfirmRequest.from_json(
            json_object(await request.body(), MAX_BODY).get("confirm")
        )
        jkt = await dpop_jkt(request, service)
        origin = request_origin(request)
        await run_in_threadpool(
            lambda: service.confirm_grant.cancelled(confirm, origin=origin, dpop_jkt=jkt)
        )
        return Response(status_code=204, headers=dict(NO_STORE))

    return router
