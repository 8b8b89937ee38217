"""HTTP routes of the FIDO2 factor: usernameless login and the admin API under ``/admin/fido2``.

Login is two lean routes (JSON parsed by hand, no pydantic; one trip to the thread pool):

- ``POST /login/webauthn/options`` answers ``{"handle", "publicKey"}``: a
  PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3, base64url) whose challenge
  is kept in the database under the opaque handle, single use, for two minutes;
- ``POST /login/webauthn`` with ``{"handle", "credential": AuthenticationResponseJSON,
  "client_id"?}`` answers an RFC 6749 token response: ``amr`` ``["hwk", "mfa"]`` (with
  ``"pin"`` when the key can only verify by PIN, see ``factors.webauthn.login_amr``),
  ``acr`` ``"phrh"`` for a credential whose hardware was verified at enrollment (its
  attestation chained to a configured root) or vouched for by an admin; ``["swk", ...]``
  and ``acr`` ``"phr"`` for any other, which an audience asking for ``phrh`` refuses.

With a ``confirm`` member (``{"session_token", "reason", "app", "audience"?,
"min_acr"?}``) the same ceremony confirms one action of the person signed in at the kiosk
whose session token it carries: the answer is a single-use confirm token
(``{"access_token", "token_type", "expires_in"}``, no refresh token, no session opened;
see :mod:`tokenstile.tokens.confirm`).

Refusals: 400 ``invalid_request`` for a body that does not parse (bad JSON, base64url,
CBOR, layout: nothing changes, the handle stays usable); 401 ``invalid_client`` / 400
``unauthorized_client`` / ``invalid_target`` for the client, checked before the handle
is spent; 400 ``invalid_grant`` with a sentence naming the reason for every refused
assertion (the handle is then spent; counter regression also suspends the credential).

The admin endpoints need an admin's access token (``admin_auth``) and answer JSON;
their errors are ``{"error", "error_description"}`` with 400, 404 or 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenstile.composition import Lazy, Services
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID
from tokenstile.errors import InvalidGrant, InvalidRequest, NotFound
from tokenstile.factors.webauthn import (
    HARDWARE_ACR,
    CeremonyRejected,
    ChallengeRefused,
    MalformedResponse,
    b64url,
    parse_assertion,
)
from tokenstile.factors.webauthn_login import check_handle
from tokenstile.factors.webauthn_registration import parse_registration
from tokenstile.factors.webauthn_service import (
    FIDO2_FACTOR,
    WebAuthnConflict,
    WebAuthnCredentialInfo,
    WebAuthnService,
    parse_credential_id,
)
from tokenstile.server import schemas
from tokenstile.server.admin_auth import (
    AdminPrincipal,
    AdminWork,
    admin_router,
    check_plain_text,
)
from tokenstile.server.admin_post import admin_post, fields_of
from tokenstile.server.dpop import dpop_login
from tokenstile.server.wire import is_json, json_object, no_store_json, request_origin
from tokenstile.tokens.confirm import Ceremony, ConfirmRequest, ConfirmResponse
from tokenstile.tokens.model import credential_ref
from tokenstile.tokens.service import TokenResponse

# The best a security key reaches (phishing-resistant, hardware-protected): the client is
# checked against it before the handle is spent, and again against what the key earned.
FIDO2_ACR = HARDWARE_ACR
MAX_LOGIN_BYTES = 16 * 1024

_LOGIN_BODY = schemas.json_body(
    {
        "handle": {"type": "string", "description": "from POST /login/webauthn/options"},
        "credential": {
            "type": "object",
            "description": "AuthenticationResponseJSON (WebAuthn Level 3, section 5.1): id, "
            "rawId, type, response{clientDataJSON, authenticatorData, signature, userHandle}, "
            "base64url",
        },
        "client_id": {
            "type": "string",
            "description": "a kiosk or app client; default " + DEFAULT_KIOSK_CLIENT_ID,
        },
        "confirm": {
            "type": "object",
            "description": "confirm with your key: {session_token, reason, app, audience?, "
            "min_acr?}; the answer is then a single-use confirm token, no session",
        },
    },
    ["handle", "credential"],
)


class LoginOptionsBody(BaseModel):
    handle: str
    publicKey: dict[str, Any] = Field(  # noqa: N815 - the WebAuthn JSON member name
        description="PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3), base64url"
    )


@dataclass(frozen=True, slots=True)
class LoginPurpose:
    """Who asks (``client_id``; None: the default kiosk) and what for: a session, or
    with ``confirm`` a confirm token (``tokens.confirm``)."""

    client_id: str | None
    confirm: ConfirmRequest | None


def parse_login(body: bytes) -> tuple[str, Any, LoginPurpose]:
    """``handle``, the decoded assertion and what the login is for, or ``InvalidRequest``."""
    data = json_object(body, MAX_LOGIN_BYTES)
    confirm = data.get("confirm")
    request = None if confirm is None else ConfirmRequest.from_json(confirm)
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not client_id):
        raise InvalidRequest("The client_id member must be a non-empty string.")
    try:
        handle = check_handle(data.get("handle"))
        assertion = parse_assertion(data.get("credential"))
    except MalformedResponse as exc:
        raise InvalidRequest(exc.message) from exc
    return handle, assertion, LoginPurpose(client_id, request)


def webauthn_router(services: Services) -> APIRouter:
    """The FIDO2 login routes and admin API, for ``app.include_router``."""
    service = services.token_service()
    # Built on first use: a WebAuthn setting that is wrong fails the FIDO2 routes
    # (logged, 500) rather than the whole service's start.
    repository = services.webauthn_service
    directory = services.clients()

    def login(
        handle: str, assertion: Any, purpose: LoginPurpose, origin: str, jkt: str | None
    ) -> TokenResponse | ConfirmResponse:
        client_id, confirm = purpose.client_id, purpose.confirm
        client = directory.session_client(
            client_id or DEFAULT_KIOSK_CLIENT_ID,
            service,
            acr=FIDO2_ACR,
            factor="A security key",
            dpop=jkt is not None,
        )
        outcome = repository().login(handle, assertion, client_id=client.client_id, origin=origin)
        credential = outcome.credential
        if not outcome.accepted or credential is None:
            raise InvalidGrant(outcome.describe())
        if outcome.acr != FIDO2_ACR:
            directory.session_client(
                client.client_id,
                service,
                acr=outcome.acr,
                factor="A security key not verified as hardware",
                dpop=jkt is not None,
            )
        ref = credential_ref("fido2", b64url(credential.credential_id))
        device = {"aaguid": credential.aaguid, "credential_id": b64url(credential.credential_id)}
        if confirm is not None:  # the same ceremony, for one action: no session opens
            return service.confirm_grant.confirm(
                confirm,
                Ceremony(
                    user=credential.user,
                    factor=FIDO2_FACTOR,
                    amr=outcome.amr,
                    acr=outcome.acr,
                    credential=ref,
                    device=device,
                    origin=origin,
                ),
                dpop_jkt=jkt,
            )
        try:
            return service.sessions.open_session(
                user=credential.user,
                client=client,
                factor=FIDO2_FACTOR,
                amr=outcome.amr,
                acr=outcome.acr,
                origin=origin,
                device=device,
                dpop_jkt=jkt,
                credential=ref,
            )
        except InvalidGrant as exc:  # disabled between the check and the session
            raise InvalidGrant("This account is disabled.") from exc

    router = APIRouter()

    @router.post(
        "/login/webauthn/options",
        tags=["login"],
        summary="Start a security-key login: a challenge under a single-use handle",
        response_model=LoginOptionsBody,
        responses=schemas.ERRORS,
    )
    async def login_options(request: Request) -> Response:
        body = await request.body()
        if body.strip() and (not is_json(request) or json_object(body, MAX_LOGIN_BYTES) != {}):
            raise InvalidRequest("Send no body, or an empty JSON object.")
        options = await run_in_threadpool(lambda: repository().login_options())
        return no_store_json(options.to_json())

    @router.post(
        "/login/webauthn",
        tags=["login"],
        summary="Sign in with a security key's assertion (usernameless)",
        response_model=schemas.TokenResponseBody,
        responses=schemas.ERRORS,
        openapi_extra=_LOGIN_BODY,
    )
    async def login_webauthn(request: Request) -> Response:
        return await dpop_login(request, service, parse_login, login)

    router.include_router(_admin_router(services))
    return router


# -- the admin API -------------------------------------------------------------------------------


class RegisterBeginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128)
    label: str = Field(default="Security key", min_length=1, max_length=256)


class RegisterCompleteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handle: str = Field(min_length=1, max_length=128)
    credential: dict[str, Any] = Field(description="RegistrationResponseJSON (WebAuthn Level 3)")
    user_verification: Literal["pin", "builtin", "unknown"] = Field(
        default="unknown",
        description="how the key verifies its user, from its getInfo: pin (clientPin and no "
        "built-in UV: amr gets 'pin'), builtin (a fingerprint reader), unknown",
    )


class CredentialIdBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credential_id: str = Field(min_length=1, max_length=1400, description="base64url")


class RegisterOptionsBody(BaseModel):
    handle: str
    username: str
    publicKey: dict[str, Any] = Field(  # noqa: N815 - the WebAuthn JSON member name
        description="PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3)"
    )


@fields_of(WebAuthnCredentialInfo)
class CredentialBody(BaseModel):
    pass


class RevokedCredentialBody(CredentialBody):
    sessions_ended: int = Field(
        description="how many sessions the revoked credential had opened that this ended"
    )


class CredentialListBody(BaseModel):
    credentials: list[CredentialBody]


_ADMIN_ERRORS = schemas.admin_errors(
    bad_input="bad input, or the key's answer is refused",
    not_found="unknown user or credential",
    conflict="the credential's state does not allow it",
)
_call = AdminWork(
    (NotFound, 404, "not_found"),
    (WebAuthnConflict, 409, "conflict"),
    (MalformedResponse, 400, "invalid_request"),
    ((CeremonyRejected, ChallengeRefused), 400, "registration_refused"),
)


def _admin_router(services: Services) -> APIRouter:
    repository = services.webauthn_service
    router = admin_router(
        services, prefix="/admin/fido2", tags=["admin: fido2"], responses=_ADMIN_ERRORS
    )

    @admin_post(
        router,
        "/register/begin",
        RegisterBeginBody,
        summary="Start enrolling a security key for a person: creation options",
        response_model=RegisterOptionsBody,
    )
    async def register_begin(
        request: Request, who: AdminPrincipal, body: RegisterBeginBody
    ) -> Response:
        options = await _call(
            lambda: repository().begin_registration(
                body.username, label=body.label, by=who.actor, origin=request_origin(request)
            )
        )
        return no_store_json(options.to_json())

    @admin_post(
        router,
        "/register/complete",
        RegisterCompleteBody,
        status_code=201,
        summary="Finish enrolling: verify the key's answer and store the credential",
        response_model=CredentialBody,
    )
    async def register_complete(
        request: Request, who: AdminPrincipal, body: RegisterCompleteBody
    ) -> Response:

        def work() -> WebAuthnCredentialInfo:
            return repository().complete_registration(
                check_handle(body.handle),
                parse_registration(body.credential),
                by=who.actor,
                origin=request_origin(request),
                uv_method=body.user_verification,
            )

        return no_store_json((await _call(work)).to_json(), 201)

    @router.get(
        "/credentials",
        summary="List security-key credentials, all or one person's",
        response_model=CredentialListBody,
    )
    async def credentials(request: Request, username: str | None = None) -> Response:
        check_plain_text("username", username)
        infos = await _call(lambda: repository().credentials(username))
        return no_store_json({"credentials": [info.to_json() for info in infos]})

    for verb in ("revoke", "unsuspend"):
        _add_state_route(router, repository, verb)
    return router


def _add_state_route(router: APIRouter, repository: Lazy[WebAuthnService], verb: str) -> None:
    @admin_post(
        router,
        f"/{verb}",
        CredentialIdBody,
        summary="Revoke a credential for good and end the sessions it opened"
        if verb == "revoke"
        else "Make a suspended credential usable again",
        response_model=RevokedCredentialBody if verb == "revoke" else CredentialBody,
        name=f"fido2_{verb}",
    )
    async def change(request: Request, who: AdminPrincipal, body: CredentialIdBody) -> Response:
        def work() -> dict[str, Any]:
            repo = repository()
            credential_id = parse_credential_id(body.credential_id)
            origin = request_origin(request)
            if verb == "revoke":
                done = repo.revoke(credential_id, by=who.actor, origin=origin)
                return {**done.info.to_json(), "sessions_ended": done.sessions_ended}
            return repo.unsuspend(credential_id, by=who.actor, origin=origin).to_json()

        return no_store_json(await _call(work))
