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
- ``POST /login/tap/piv/challenge`` with ``{"certificate", "client_id"}`` (the card's
  card authentication certificate, slot 9E, DER base64url) answers ``{"handle",
  "challenge", "expires_in"}`` for every certificate that parses, as the PIV login does;
  ``POST /login/tap/piv`` with ``{"handle", "signature", "client_id"}`` (the 9E key's
  signature, made without the PIN, over the login message) answers a token response with
  ``acr`` ``tap`` and ``amr`` ``["sc"]`` (no ``pin``), inside the holder's shift grant
  opened with that card (``factors.piv_tap``). The challenge is single use and bound to
  the kiosk client that asked for it. Refused: 400 ``invalid_grant`` with one sentence
  for everything about the card (audit ``piv_tap``, ``detail.reason``), or the shift's
  sentence (audit ``tap_refused``).
- ``POST /login/tap/totp`` with ``{"code", "client_id"}``: the fob tap, a TOTP code
  without the username (``factors.otp_tap``), checked only against the fobs of the
  people on shift at the kiosk's group; exactly one match answers a token response with
  ``acr`` ``tap`` and ``amr`` ``["otp"]``. The group's bound on wrong codes
  (``tap_fob_max_failures`` per ``tap_fob_window``) is counted before the code is
  checked and given back on success. Refusals: 400 ``invalid_grant`` with the
  sentence of ``tokens.shifts.TAP_REFUSALS`` (``fob_*``), audited ``tap_refused``.
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
from tokenstile.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    NotFound,
    StoreUnavailable,
)
from tokenstile.factors.otp_tap import FobCandidate, FobTapOutcome, match_fob_tap
from tokenstile.factors.webauthn import MalformedResponse, b64url, parse_assertion
from tokenstile.factors.webauthn_login import check_handle
from tokenstile.factors.webauthn_service import FIDO2_FACTOR
from tokenstile.protocol.jose import b64url_encode
from tokenstile.server import schemas
from tokenstile.server.admin_auth import AdminPrincipal, AdminWork, admin_router
from tokenstile.server.admin_post import admin_post
from tokenstile.server.dpop import dpop_jkt
from tokenstile.server.piv_routes import decode_b64url
from tokenstile.server.wire import json_object, no_store_json, request_origin, require_json
from tokenstile.store import schema as t
from tokenstile.store.otp_repository import SqlOtpTx
from tokenstile.store.rate_limit import RateLimitStore
from tokenstile.store.shift_repository import (
    MAX_GROUP_NAME,
    MAX_SHIFT_HOURS,
    KioskGroups,
    live_grants_of_group,
)
from tokenstile.store.token_tx import SESSION_ROWS
from tokenstile.tokens.minting import token_hash
from tokenstile.tokens.model import TAP_ACR, Client, TokenTx, credential_ref
from tokenstile.tokens.shifts import (
    TAP_REFUSALS,
    TapAccepted,
    TapRefusal,
    audit_refusal,
    check_tap,
    shift_of,
)

MAX_TAP_BYTES = 16 * 1024
SHIFT_END_REASON = "shift_end"
PIV_FACTOR = "piv"
OTP_FACTOR = "otp"
FOB_TAP_AMR = ("otp",)
MAX_CODE_CHARS = 32
_FOB_REFUSALS: dict[str, TapRefusal] = {
    "malformed": "fob_malformed",
    "no_match": "fob_no_match",
    "ambiguous": "fob_ambiguous",
    "replayed": "fob_replayed",
}
CARD_TAP_AMR = ("sc",)  # RFC 8176: a smart card, and nothing else (no PIN)
# The one sentence for every refusal about the card itself (the audit row says which).
CARD_TAP_REFUSED = (
    "The card tap was not accepted: sign in with your card and its PIN, or ask an administrator."
)


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
        self.piv = services.piv_service
        self.otp = services.otp_service
        self.limits = RateLimitStore(services.deployment.store)

    def kiosk(self, data: dict[str, Any], *, dpop: bool | None) -> Client:
        """The kiosk client the tap names, checked before the challenge is spent: a kiosk
        that may open a session at ``tap`` assurance. Kiosk clients are public: anyone
        may name one (docs/kiosk.md says what that means); the person's key is still
        needed, with a touch, inside that person's open shift."""
        return self.directory.session_client(
            _client_id(data),
            self.service,
            acr=TAP_ACR,
            factor="A tap",
            dpop=dpop,
            kiosk_only="Only a kiosk accepts a tap.",
        )

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

    def card_challenge(self, data: dict[str, Any], origin: str) -> dict[str, Any]:
        certificate = decode_b64url(data.get("certificate"), "certificate")
        client = self.kiosk(data, dpop=None)
        taps = self.piv().card_taps()
        begun = taps.begin(certificate, client_id=client.client_id, origin=origin)
        if begun.status == "malformed":
            raise InvalidRequest("The certificate member is not a DER X.509 certificate.")
        if begun.status == "busy" or begun.handle is None or begun.challenge is None:
            raise StoreUnavailable("Too many PIV login challenges are pending.", reason="busy")
        return {
            "handle": begun.handle,
            "challenge": b64url_encode(begun.challenge),
            "expires_in": int(taps.settings.challenge_lifetime),
        }

    def card_tap(self, data: dict[str, Any], origin: str, jkt: str | None) -> Any:
        handle = data.get("handle")
        if not isinstance(handle, str) or not handle:
            raise InvalidRequest("The handle member is missing or not a string.")
        signature = decode_b64url(data.get("signature"), "signature")
        client = self.kiosk(data, dpop=jkt is not None)
        done = (
            self.piv()
            .card_taps()
            .complete(handle, signature, client_id=client.client_id, origin=origin)
        )
        card, user = done.card, done.user
        if not done.accepted or card is None or user is None:
            raise InvalidGrant(CARD_TAP_REFUSED)
        # The shift was opened with the card's 9A certificate (its PIN sign-in).
        ref = credential_ref("piv", card.fingerprint)
        now = self.deployment.clock.now()
        with self.deployment.store.write() as tx:
            verdict = check_tap(tx, client, user_id=user.id, credential=ref, now=now)
            if not isinstance(verdict, TapAccepted):
                audit_refusal(
                    tx,
                    verdict,
                    username=user.username,
                    client=client,
                    factor=PIV_FACTOR,
                    origin=origin,
                    now=now,
                    detail={"card_auth_fingerprint": done.fingerprint},
                )
        if not isinstance(verdict, TapAccepted):
            raise InvalidGrant(TAP_REFUSALS[verdict])

        def still_open(tx: TokenTx) -> None:
            again = check_tap(tx, client, user_id=user.id, credential=ref, now=now)
            if not isinstance(again, TapAccepted):  # ended since the check above
                raise InvalidGrant(TAP_REFUSALS[again])

        device: dict[str, Any] = {
            "fingerprint": card.fingerprint,
            "card_auth_fingerprint": done.fingerprint,
            "tap": verdict.shift.group,
        }
        if card.card_guid:
            device["card_guid"] = card.card_guid
        return self.service.sessions.open_session(
            user=user,
            client=client,
            factor=PIV_FACTOR,
            amr=CARD_TAP_AMR,
            acr=TAP_ACR,
            origin=origin,
            device=device,
            dpop_jkt=jkt,
            credential=ref,
            not_after=verdict.not_after,
            precondition=still_open,
        ).to_json()

    def fob_tap(self, data: dict[str, Any], origin: str, jkt: str | None) -> Any:
        code = data.get("code")
        if not isinstance(code, str) or not code or len(code) > MAX_CODE_CHARS:
            raise InvalidRequest("The code member must be the code your fob shows.")
        client = self.kiosk(data, dpop=jkt is not None)
        settings = self.deployment.settings
        now = self.deployment.clock.now()

        def refuse(reason: TapRefusal, **detail: object) -> InvalidGrant:
            with self.deployment.store.write() as tx:
                audit_refusal(
                    tx,
                    reason,
                    username=None,
                    client=client,
                    factor=OTP_FACTOR,
                    origin=origin,
                    now=now,
                    detail=detail or None,
                )
            return InvalidGrant(TAP_REFUSALS[reason])

        with self.deployment.store.read() as tx:
            shift = shift_of(tx, client)
        if shift is None:
            raise refuse("tap_off")
        if settings.tap_fob_max_failures == 0:
            raise refuse("fob_off")
        # Counted before the code is checked (attempts sent at once all count), given
        # back on success: the group's bound on wrong codes, across replicas and kiosks.
        bucket = f"fob-tap {shift.group}"
        count = self.limits.hit(bucket, now=now, window=settings.tap_fob_window)
        if count.hits > settings.tap_fob_max_failures:
            raise refuse("fob_limit", group=shift.group)
        found = self._match_fob(client, shift.group, code, now)
        if isinstance(found, str):
            raise refuse(found, group=shift.group)
        outcome, verdict = found
        self.limits.refund(bucket, count)
        credential, user_id = outcome.credential, outcome.user_id
        assert credential is not None  # noqa: S101 - accepted
        assert user_id is not None  # noqa: S101
        ref = credential_ref("otp", credential.serial)

        def still_open(tx: TokenTx) -> None:
            again = check_tap(tx, client, user_id=user_id, credential=ref, now=now)
            if not isinstance(again, TapAccepted):
                raise InvalidGrant(TAP_REFUSALS[again])

        with self.deployment.store.read() as tx:
            person = tx.get_user(user_id)
        if person is None:  # pragma: no cover - a grant's holder is a person
            raise InvalidGrant(TAP_REFUSALS["no_grant"])
        return self.service.sessions.open_session(
            user=person,
            client=client,
            factor=OTP_FACTOR,
            amr=FOB_TAP_AMR,
            acr=TAP_ACR,
            origin=origin,
            device={"serial": credential.serial, "tap": verdict.shift.group},
            dpop_jkt=jkt,
            credential=ref,
            not_after=verdict.not_after,
            precondition=still_open,
        ).to_json()

    def _match_fob(
        self, client: Client, group: str, code: str, now: float
    ) -> tuple[FobTapOutcome, TapAccepted] | TapRefusal:
        """The code against the fobs of the people on shift at ``group``, in one
        transaction with the use of the matched step; the grant of the one match."""
        limit = self.deployment.settings.tap_fob_max_holders
        authenticator = self.otp().authenticator
        with self.deployment.store.write() as tx:
            grants = live_grants_of_group(
                tx.connection, group, prefix="otp:", at=now, limit=limit + 1
            )
            if len(grants) > limit:
                return "fob_crowded"
            candidates = [FobCandidate(g.user_id, g.credential[len("otp:") :]) for g in grants]
            outcome = match_fob_tap(SqlOtpTx(tx), authenticator, candidates, code, now=now)
            if outcome.status != "accepted" or outcome.credential is None:
                return _FOB_REFUSALS.get(outcome.status, "fob_no_match")
            assert outcome.user_id is not None  # noqa: S101 - accepted
            verdict = check_tap(
                tx,
                client,
                user_id=outcome.user_id,
                credential=credential_ref("otp", outcome.credential.serial),
                now=now,
            )
        if not isinstance(verdict, TapAccepted):
            return verdict
        return outcome, verdict

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
        "/login/tap/piv/challenge",
        tags=["login"],
        summary="Start a card tap: the card authentication (9E) certificate in, a challenge out",
        responses=schemas.ERRORS,
    )
    async def tap_piv_challenge(request: Request) -> Response:
        require_json(request)
        data = json_object(await request.body(), MAX_TAP_BYTES)
        answer = await run_in_threadpool(taps.card_challenge, data, request_origin(request))
        return no_store_json(answer)

    @router.post(
        "/login/tap/piv",
        tags=["login"],
        summary="Re-enter with a card's 9E signature (no PIN) inside an open shift (acr tap)",
        response_model=schemas.TokenResponseBody,
        responses=schemas.ERRORS,
    )
    async def tap_piv(request: Request) -> Response:
        require_json(request)
        data = json_object(await request.body(), MAX_TAP_BYTES)
        jkt = await dpop_jkt(request, service)
        answer = await run_in_threadpool(taps.card_tap, data, request_origin(request), jkt)
        return no_store_json(answer)

    @router.post(
        "/login/tap/totp",
        tags=["login"],
        summary="Re-enter with a fob's code alone (no username) inside an open shift (acr tap)",
        response_model=schemas.TokenResponseBody,
        responses=schemas.ERRORS,
    )
    async def tap_totp(request: Request) -> Response:
        require_json(request)
        data = json_object(await request.body(), MAX_TAP_BYTES)
        jkt = await dpop_jkt(request, service)
        answer = await run_in_threadpool(taps.fob_tap, data, request_origin(request), jkt)
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
