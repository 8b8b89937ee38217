"""HTTP routes of tap-and-go (issue 17, ``tokens.shifts``): a person whose shift is open at
a kiosk group re-enters at a kiosk of that group with a key touch alone.

- ``POST /login/tap/options`` with ``{"client_id"}`` answers ``{"tap_and_go": false}`` for
  a kiosk in no group or in a group whose shift length is 0, else ``{"tap_and_go": true,
  "group", "shift_hours", "handle", "publicKey"}``: a challenge asking for user presence
  only (``userVerification: discouraged``), bound to taps (a full login refuses its handle).
- ``POST /login/tap/webauthn`` with ``{"handle", "credential", "client_id"}`` answers an
  RFC 6749 token response
  whose access token carries ``acr`` ``tap`` and ``amr`` ``["hwk", "user"]`` (``swk`` for a
  key whose hardware was not verified), ending with the shift at the latest; or 400
  ``invalid_grant`` with a sentence naming the reason (no grant, another group, expired,
  ended, another key), each audited as ``tap_refused``.
- ``POST /logout/shift`` with ``{"refresh_token", "client_id"}``: sign-out at the end of
  the shift. Ends the session and the person's grant at the kiosk's group.
- the admin API under ``/admin/kiosk-groups`` (an admin's access token): ``GET`` lists the
  groups, ``POST /set`` ``{"name", "shift_hours"}`` creates or changes one, ``POST
  /assign`` ``{"client_id", "group"}`` puts a kiosk in a group (``null``: in none).

The signature, challenge, user presence and counter of a tap are checked exactly as a
full login's; only user verification is neither required nor counted.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenstile.composition import Services
from tokenstile.errors import InvalidClient, InvalidGrant, InvalidRequest, NotFound
from tokenstile.factors.webauthn import MalformedResponse, b64url, parse_assertion
from tokenstile.factors.webauthn_login import check_handle
from tokenstile.factors.webauthn_service import FIDO2_FACTOR
from tokenstile.server import schemas
from tokenstile.server.admin_auth import AdminPrincipal, AdminWork, admin_router
from tokenstile.server.admin_post import admin_post
from tokenstile.server.dpop import dpop_jkt
from tokenstile.server.wire import json_object, no_store_json, request_origin, require_json
from tokenstile.store import schema as t
from tokenstile.store.shift_repository import MAX_GROUP_NAME, MAX_SHIFT_HOURS, KioskGroups
from tokenstile.store.token_tx import SESSION_ROWS
from tokenstile.tokens.minting import token_hash
from tokenstile.tokens.model import TAP_ACR, Client, TokenTx, credential_ref
from tokenstile.tokens.shifts import TAP_REFUSALS, TapAccepted, audit_refusal, check_tap, shift_of

MAX_TAP_BYTES = 16 * 1024
SHIFT_END_REASON = "shift_end"


def _client_id(data: dict[str, Any]) -> str:
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise InvalidRequest("The client_id member must name the kiosk client.")
    return client_id


class _Taps:
    """The work behind the routes, run in a worker thread."""

    def __init__(self, services: Services) -> None:
        self.deployment = services.deployment
        self.service = services.token_service()
        self.directory = services.clients()
        self.webauthn = services.webauthn_service

    def kiosk(self, data: dict[str, Any], *, dpop: bool) -> Client:
        """The kiosk client the tap names, checked before the challenge is spent: a kiosk
        that may open a session at ``tap`` assurance. Kiosk clients are public: anyone
        may name one (docs/kiosk.md says what that means); the person's key is still
        needed, with a touch, inside that person's open shift."""
        client = self.directory.session_client(
            _client_id(data), self.service, acr=TAP_ACR, factor="A tap", dpop=dpop
        )
        if client.kind != "kiosk":
            raise InvalidGrant("Only a kiosk accepts a tap.")
        return client

    def options(self, data: dict[str, Any]) -> dict[str, Any]:
        client = (
            self.directory.find(_client_id(data))
            if isinstance(data.get("client_id"), str)
            else None
        )
        if client is None or not client.enabled:
            raise InvalidClient("Unknown client.")
        with self.deployment.store.read() as tx:
            shift = shift_of(tx, client)
        if shift is None:
            return {"tap_and_go": False}
        answer = self.webauthn().tap_options().to_json()
        return {
            "tap_and_go": True,
            "group": shift.group,
            "shift_hours": shift.shift_hours,
            **answer,
        }

    def tap(self, data: dict[str, Any], origin: str, jkt: str | None) -> Any:
        try:
            handle = check_handle(data.get("handle"))
            assertion = parse_assertion(data.get("credential"))
        except MalformedResponse as exc:
            raise InvalidRequest(exc.message) from exc
        client = self.kiosk(data, dpop=jkt is not None)
        outcome = self.webauthn().tap(handle, assertion, client_id=client.client_id, origin=origin)
        credential = outcome.credential
        if not outcome.accepted or credential is None:
            raise InvalidGrant(outcome.describe())
        ref = credential_ref("fido2", b64url(credential.credential_id))
        now = self.deployment.clock.now()
        with self.deployment.store.write() as tx:
            verdict = check_tap(tx, client, user_id=credential.user.id, credential=ref, now=now)
            if not isinstance(verdict, TapAccepted):
                audit_refusal(
                    tx,
                    verdict,
                    username=credential.user.username,
                    client=client,
                    factor=FIDO2_FACTOR,
                    origin=origin,
                    now=now,
                )
        if not isinstance(verdict, TapAccepted):
            raise InvalidGrant(TAP_REFUSALS[verdict])

        def still_open(tx: TokenTx) -> None:
            again = check_tap(tx, client, user_id=credential.user.id, credential=ref, now=now)
            if not isinstance(again, TapAccepted):  # ended since the check above
                raise InvalidGrant(TAP_REFUSALS[again])

        return self.service.sessions.open_session(
            user=credential.user,
            client=client,
            factor=FIDO2_FACTOR,
            amr=("hwk" if credential.hardware else "swk", "user"),
            acr=TAP_ACR,
            origin=origin,
            device={
                "aaguid": credential.aaguid,
                "credential_id": b64url(credential.credential_id),
                "tap": verdict.shift.group,
            },
            dpop_jkt=jkt,
            credential=ref,
            not_after=verdict.not_after,
            precondition=still_open,
        ).to_json()

    def end_shift(self, data: dict[str, Any], origin: str) -> dict[str, Any]:
        client_id = _client_id(data)
        refresh = data.get("refresh_token")
        if not isinstance(refresh, str) or not refresh or len(refresh) > 512:
            raise InvalidRequest("The refresh_token member must be the session's refresh token.")
        now = self.deployment.clock.now()
        with self.deployment.store.write() as tx:
            found = tx.find_refresh(token_hash(refresh))
            if (
                found is None
                or found.token.used_at is not None
                or found.session.client_id != client_id
            ):
                raise InvalidGrant("This refresh token is unknown, used or another client's.")
            session = found.session
            ended = 0
            shift = tx.kiosk_shift(client_id)
            if shift is not None:
                ended = tx.end_shift_grants(
                    reason=SHIFT_END_REASON, at=now, user_id=session.user_id, group=shift.group
                )
            row = tx.connection.execute(SESSION_ROWS.where(t.sessions.c.sid == session.sid)).first()
            if row is not None:
                tx.end_session(
                    row, reason=SHIFT_END_REASON, by=found.user.username, origin=origin, at=now
                )
        return {"shift_ended": ended > 0}


def tap_router(services: Services) -> APIRouter:
    """The tap-and-go routes, for ``app.include_router``."""
    taps = _Taps(services)
    service = taps.service
    router = APIRouter()

    @router.post(
        "/login/tap/options",
        tags=["login"],
        summary="Whether this kiosk takes taps, and a tap's challenge (presence only)",
        responses=schemas.ERRORS,
    )
    async def tap_options(request: Request) -> Response:
        require_json(request)
        data = json_object(await request.body(), MAX_TAP_BYTES)
        return no_store_json(await run_in_threadpool(taps.options, data))

    @router.post(
        "/login/tap/webauthn",
        tags=["login"],
        summary="Re-enter with a key touch inside an open shift (acr tap)",
        response_model=schemas.TokenResponseBody,
        responses=schemas.ERRORS,
    )
    async def tap_webauthn(request: Request) -> Response:
        require_json(request)
        data = json_object(await request.body(), MAX_TAP_BYTES)
        jkt = await dpop_jkt(request, service)
        answer = await run_in_threadpool(taps.tap, data, request_origin(request), jkt)
        return no_store_json(answer)

    @router.post(
        "/logout/shift",
        tags=["login"],
        summary="Sign out at the end of the shift: the session and the shift grant end",
        responses=schemas.ERRORS,
    )
    async def logout_shift(request: Request) -> Response:
        require_json(request)
        data = json_object(await request.body(), MAX_TAP_BYTES)
        return no_store_json(await run_in_threadpool(taps.end_shift, data, request_origin(request)))

    router.include_router(_admin_router(services))
    return router


# -- the admin API -------------------------------------------------------------------------------


class SetGroupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_GROUP_NAME)
    shift_hours: float = Field(
        ge=0, le=MAX_SHIFT_HOURS, description="0: tap-and-go off (and open shifts end)"
    )


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, max_length=64)
    group: str | None = Field(max_length=MAX_GROUP_NAME, description="null: in no group")


class GroupBody(BaseModel):
    name: str
    shift_hours: float
    kiosks: list[str]
    live_grants: int


class GroupListBody(BaseModel):
    groups: list[GroupBody]


_call = AdminWork((NotFound, 404, "not_found"), (InvalidRequest, 400, "invalid_request"))


def _admin_router(services: Services) -> APIRouter:
    deployment = services.deployment
    groups = KioskGroups(deployment.store, clock=deployment.clock)
    router = admin_router(
        services,
        prefix="/admin/kiosk-groups",
        tags=["admin: kiosk groups"],
        responses=schemas.admin_errors(
            bad_input="bad input (a name, a shift length, a client that is no kiosk)",
            not_found="no such group or client",
            conflict="not used",
        ),
    )

    @router.get(
        "", summary="List kiosk groups and their shift length", response_model=GroupListBody
    )
    async def list_groups(request: Request) -> Response:
        found = await _call(groups.groups)
        return no_store_json({"groups": [g.to_json() for g in found]})

    @admin_post(
        router,
        "/set",
        SetGroupBody,
        summary="Create a kiosk group or set its shift length (0 turns tap-and-go off)",
        response_model=GroupBody,
    )
    async def set_group(request: Request, who: AdminPrincipal, body: SetGroupBody) -> Response:
        info = await _call(
            lambda: groups.set_shift_hours(body.name, body.shift_hours, by=who.actor)
        )
        return no_store_json(info.to_json())

    @admin_post(
        router,
        "/assign",
        AssignBody,
        summary="Put a kiosk client in a kiosk group, or in none",
        response_model=GroupListBody,
    )
    async def assign(request: Request, who: AdminPrincipal, body: AssignBody) -> Response:
        await _call(lambda: groups.assign(body.client_id, body.group, by=who.actor))
        return no_store_json({"groups": [g.to_json() for g in await _call(groups.groups)]})

    return router
