"""``POST /kiosk/offline-lease``: a kiosk's offline lease (issue 17; the checks are in
``factors.offline_lease``, the format in ``protocol.offline_lease``).

The request carries the kiosk's signed-in session's own access token under the Bearer
or DPoP scheme (with its proof), exactly as ``/userinfo`` takes it; the answer is the
lease and its expiry, never cached. A POST, not a GET: each lease is an audit row.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenstile.composition import Services
from tokenstile.errors import InvalidToken
from tokenstile.server import schemas
from tokenstile.server.dpop import presented_token, proof_jkt
from tokenstile.server.wire import NO_STORE, json_response
from tokenstile.tokens.dpop import DpopProofError


def offline_router(services: Services) -> APIRouter:
    router = APIRouter()

    async def offline_lease(request: Request) -> Response:
        presented = presented_token(request)
        if presented is None:
            raise InvalidToken(
                "Send the kiosk session's access token.",
                headers={"WWW-Authenticate": 'Bearer realm="tokenstile"', **NO_STORE},
            )
        kind, token = presented

        def work() -> tuple[str, float]:
            service = services.token_service()
            jkt = None
            if kind == "dpop":
                jkt = proof_jkt(request, service, access_token=token)
                if jkt is None:
                    raise DpopProofError("The DPoP scheme needs a DPoP proof header.")
            return services.offline_leases().issue(token, dpop_jkt=jkt)

        lease, expires_at = await run_in_threadpool(work)
        return json_response({"lease": lease, "expires_at": expires_at}, headers=NO_STORE)

    router.add_api_route(
        "/kiosk/offline-lease",
        offline_lease,
        methods=["POST"],
        tags=["kiosk"],
        summary="The offline lease of the kiosk whose signed-in session asks",
        response_model=schemas.OfflineLeaseBody,
        responses={
            401: {"model": schemas.OAuthErrorBody},
            400: {"model": schemas.OAuthErrorBody, "description": "not a kiosk's session"},
            404: {"model": schemas.OAuthErrorBody, "description": "offline leases are off"},
        },
        operation_id="kiosk_offline_lease",
    )
    return router
