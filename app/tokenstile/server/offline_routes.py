"""Offline sign-in's two routes (issue 17; the checks are in ``factors.offline_lease``,
the formats in ``protocol.offline_lease``).

``POST /kiosk/offline-lease``: the request carries the kiosk's signed-in session's own
access token under the Bearer or DPoP scheme (with its proof), exactly as ``/userinfo``
takes it; the answer is the lease and its expiry, never cached. A POST, not a GET: each
lease is an audit row.

``POST /kiosk/offline-session``: a login route like the others (JSON in, a token response
out, bound to the DPoP proof's key when one comes): a kiosk brings an offline sign-in's
evidence (the key's whole answer, or the card's challenge, signature and certificate)
and, once the service has checked it as it checks a login and spent it, gets a real
session for that person, dated when the key or card signed. Up to ``MAX_EVENTS`` of the
kiosk's own audit rows from its time offline may come along; they are kept (as
``offline_kiosk_event``, marked as the kiosk's report) only with an exchange that
succeeded, so a stranger cannot write into the audit log.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenstile.composition import Services
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID
from tokenstile.errors import InvalidRequest, InvalidToken
from tokenstile.factors.offline_lease import Reconciled
from tokenstile.server import schemas
from tokenstile.server.dpop import dpop_login, presented_token, proof_jkt
from tokenstile.server.wire import NO_STORE, json_object, json_response
from tokenstile.store.rows import is_plain_text
from tokenstile.tokens.dpop import DpopProofError
from tokenstile.tokens.model import AuditEvent
from tokenstile.tokens.service import TokenResponse

MAX_SESSION_BODY = 64 * 1024
MAX_EVENTS = 50
_EVENT_TEXT = 128


@dataclass(frozen=True, slots=True)
class Brought:
    """What a kiosk brings back from offline: one sign-in's evidence and its events."""

    client_id: str
    factor: str
    evidence: Mapping[str, Any]
    events: list[dict[str, Any]]


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

    service = services.token_service()
    directory = services.clients()

    def parse(body: bytes) -> tuple[Brought]:
        data = json_object(body, MAX_SESSION_BODY)
        client_id = data.get("client_id", DEFAULT_KIOSK_CLIENT_ID)
        factor = data.get("factor")
        evidence = data.get("evidence")
        if not isinstance(client_id, str) or not client_id:
            raise InvalidRequest("The client_id member must be a non-empty string.")
        if factor not in ("fido2", "piv"):
            raise InvalidRequest('The factor member must be "fido2" or "piv".')
        if not isinstance(evidence, dict):
            raise InvalidRequest("The evidence member must be an object.")
        return (Brought(client_id, factor, evidence, _events(data.get("events", []))),)

    def exchange(brought: Brought, origin: str, jkt: str | None) -> TokenResponse:
        client = directory.session_client(
            brought.client_id,
            service,
            acr="phr",
            factor="An offline sign-in",
            dpop=jkt is not None,
            kiosk_only="Only a kiosk brings offline sign-ins.",
        )
        exchanges = services.offline_exchange()
        done: Reconciled = (
            exchanges.key(brought.evidence, client_id=client.client_id)
            if brought.factor == "fido2"
            else exchanges.card(brought.evidence, client_id=client.client_id)
        )
        opened = service.sessions.open_session(
            user=done.user,
            client=client,
            factor=done.factor,
            amr=done.amr,
            acr=done.acr,
            origin=origin,
            auth_time=done.signed_at,
            device={**done.device, "offline": True},
            dpop_jkt=jkt,
            credential=done.credential,
        )
        store = services.deployment.store
        now = services.deployment.clock.now()
        for event in brought.events:
            store.audit(
                AuditEvent(
                    "offline_kiosk_event",
                    "info",
                    username=done.user.username,
                    client_id=client.client_id,
                    origin=origin,
                    detail={"reported": event},
                ),
                at=now,
            )
        return opened

    async def offline_session(request: Request) -> Response:
        return await dpop_login(request, service, parse, exchange)

    router.add_api_route(
        "/kiosk/offline-session",
        offline_session,
        methods=["POST"],
        tags=["kiosk"],
        summary="Exchange an offline sign-in's evidence for a real session",
        response_model=schemas.TokenResponseBody,
        responses=schemas.ERRORS,
        operation_id="kiosk_offline_session",
    )
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


def _events(value: Any) -> list[dict[str, Any]]:
    """The kiosk's own audit rows from offline: each a small flat object of text and
    numbers (``event``, ``outcome``, ``at``, ``username``), at most ``MAX_EVENTS``."""
    if not isinstance(value, list) or len(value) > MAX_EVENTS:
        raise InvalidRequest(f"The events member must be a list of at most {MAX_EVENTS}.")
    events: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("event"), str):
            raise InvalidRequest("Each offline event needs an event name.")
        kept: dict[str, Any] = {}
        for name in ("event", "outcome", "username", "at"):
            field = item.get(name)
            if field is None:
                continue
            if isinstance(field, str) and len(field) <= _EVENT_TEXT and is_plain_text(field):
                kept[name] = field
            elif (
                name == "at"
                and isinstance(field, int | float)
                and not isinstance(field, bool)
                and math.isfinite(field)
            ):
                kept[name] = float(field)
            else:
                raise InvalidRequest(f"The offline event's {name} is not short plain text.")
        events.append(kept)
    return events
