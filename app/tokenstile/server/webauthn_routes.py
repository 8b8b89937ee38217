"""HTTP routes of the FIDO2 factor: usernameless login and the admin API under ``/admin/fido2``.

Login is two lean routes (JSON parsed by hand, no pydantic; one trip to the thread pool):

- ``POST /login/webauthn/options`` answers ``{"handle", "publicKey"}``: a
  PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3, base64url) whose challenge
  is kept in the database under the opaque handle, single use, for two minutes;
- ``POST /login/webauthn`` with ``{"handle", "credential": AuthenticationResponseJSON,
  "client_id"?}`` answers an RFC 6749 token response: ``amr`` ``["hwk", "mfa"]`` (with
  ``"pin"`` when the key can only verify by PIN, see ``factors.webauthn.login_amr``),
  ``acr`` ``"phrh"``.

Refusals: 400 ``invalid_request`` for a body that does not parse (bad JSON, base64url,
CBOR, layout: nothing changes, the handle stays usable); 401 ``invalid_client`` / 400
``unauthorized_client`` / ``invalid_target`` for the client, checked before the handle
is spent; 400 ``invalid_grant`` with a sentence naming the reason for every refused
assertion (the handle is then spent; counter regression also suspends the credential).

The admin endpoints need an admin's access token (``admin_auth``) and answer JSON;
their errors are ``{"error", "error_description"}`` with 400, 404 or 409.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.errors import (
    InsufficientAssurance,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    NotFound,
    UnauthorizedClient,
)
from tokenstile.factors.webauthn import (
    CeremonyRejected,
    ChallengeRefused,
    MalformedResponse,
    b64url,
    parse_assertion,
    relying_party_for,
)
from tokenstile.factors.webauthn_login import check_handle
from tokenstile.factors.webauthn_registration import AttestationPolicy, parse_registration
from tokenstile.server import schemas
from tokenstile.server.admin_auth import (
    AdminApiError,
    AdminRoute,
    BearerAuth,
    admin_principal,
    bearer_scheme,
    json_response,
)
from tokenstile.server.clients import ClientDirectory
from tokenstile.store.otp_repository import is_plain_text
from tokenstile.store.webauthn_repository import (
    FIDO2_FACTOR,
    WebAuthnConflict,
    WebAuthnCredentialInfo,
    WebAuthnRepository,
    parse_credential_id,
)
from tokenstile.tokens.model import Client, acr_satisfies
from tokenstile.tokens.service import TokenResponse, TokenService

FIDO2_ACR = "phrh"  # phishing-resistant, hardware-protected (OpenID EAP ACR values)
MAX_LOGIN_BYTES = 16 * 1024
MAX_ADMIN_BYTES = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_JSON = "application/json"

_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            _JSON: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "handle": {
                            "type": "string",
                            "description": "from POST /login/webauthn/options",
                        },
                        "credential": {
                            "type": "object",
                            "description": "AuthenticationResponseJSON (WebAuthn Level 3, "
                            "section 5.1): id, rawId, type, response{clientDataJSON, "
                            "authenticatorData, signature, userHandle}, base64url",
                        },
                        "client_id": {
                            "type": "string",
                            "description": "a kiosk or app client; default "
                            + DEFAULT_KIOSK_CLIENT_ID,
                        },
                    },
                    "required": ["handle", "credential"],
                }
            }
        },
    }
}


class LoginOptionsBody(BaseModel):
    handle: str
    publicKey: dict[str, Any] = Field(  # noqa: N815 - the WebAuthn JSON member name
        description="PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3), base64url"
    )


def _origin(request: Request) -> str:
    client = request.client
    agent = request.headers.get("user-agent", "")[:120]
    return f"{client.host if client else '?'} {agent}".strip()


def _is_json(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == _JSON or (ctype.startswith("application/") and ctype.endswith("+json"))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise InvalidRequest(f"The member {name} is repeated.")
        result[name] = value
    return result


def _json_object(body: bytes, limit: int) -> dict[str, Any]:
    if len(body) > limit:
        raise InvalidRequest("The request body is too large.")
    try:
        data = json.loads(body, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidRequest("The request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return data


def parse_login(body: bytes) -> tuple[str, Any, str | None]:
    """``handle``, the decoded assertion and ``client_id``, or ``InvalidRequest``."""
    data = _json_object(body, MAX_LOGIN_BYTES)
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not client_id):
        raise InvalidRequest("The client_id member must be a non-empty string.")
    try:
        handle = check_handle(data.get("handle"))
        assertion = parse_assertion(data.get("credential"))
    except MalformedResponse as exc:
        raise InvalidRequest(exc.message) from exc
    return handle, assertion, client_id


class _Repository:
    """The repository, built on first use: a WebAuthn setting that is wrong fails the
    FIDO2 routes (logged, 500) rather than the whole service's start."""

    def __init__(self, deployment: Deployment, issuer: str) -> None:
        self._deployment = deployment
        self._issuer = issuer
        self._lock = threading.Lock()
        self._repository: WebAuthnRepository | None = None

    def __call__(self) -> WebAuthnRepository:
        repository = self._repository
        if repository is None:
            with self._lock:
                if self._repository is None:
                    s = self._deployment.settings
                    self._repository = WebAuthnRepository(
                        self._deployment.store,
                        rp=relying_party_for(
                            self._issuer, rp_id=s.rp_id, name=s.rp_name, origins=s.webauthn_origins
                        ),
                        clock=self._deployment.clock,
                        policy=AttestationPolicy.load(
                            s.webauthn_aaguids, s.webauthn_attestation_roots
                        ),
                    )
                repository = self._repository
        return repository


def webauthn_router(
    deployment: Deployment, service: TokenService, *, clients: ClientDirectory | None = None
) -> APIRouter:
    """The FIDO2 login routes and admin API, for ``app.include_router``."""
    repository = _Repository(deployment, service.issuer)
    directory = clients or ClientDirectory(deployment.store, deployment.clock)

    def session_client(client_id: str) -> Client:
        client = directory.find(client_id) if is_plain_text(client_id) else None
        if client is None or not client.enabled:
            raise InvalidClient("Unknown client.")
        if client.kind == "resource-server" or client.secret_hash is not None:
            raise UnauthorizedClient("This client may not sign people in.")
        audience = client.default_audience
        policy = service.audience_policy(audience)
        if policy is not None and not acr_satisfies(FIDO2_ACR, policy.min_acr):
            raise InsufficientAssurance(
                f"A security key does not meet the assurance {audience} requires "
                f"({policy.min_acr})."
            )
        return client

    def login(handle: str, assertion: Any, client_id: str, origin: str) -> TokenResponse:
        client = session_client(client_id)
        outcome = repository().login(handle, assertion, client_id=client.client_id, origin=origin)
        credential = outcome.credential
        if not outcome.accepted or credential is None:
            raise InvalidGrant(outcome.describe())
        try:
            return service.open_session(
                user=credential.user,
                client=client,
                factor=FIDO2_FACTOR,
                amr=outcome.amr,
                acr=FIDO2_ACR,
                origin=origin,
                device={
                    "aaguid": credential.aaguid,
                    "credential_id": b64url(credential.credential_id),
                },
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
        if body.strip() and (not _is_json(request) or _json_object(body, MAX_LOGIN_BYTES) != {}):
            raise InvalidRequest("Send no body, or an empty JSON object.")
        options = await run_in_threadpool(lambda: repository().login_options())
        return Response(
            json.dumps(options.to_json(), separators=(",", ":")),
            media_type=_JSON,
            headers=_NO_STORE,
        )

    @router.post(
        "/login/webauthn",
        tags=["login"],
        summary="Sign in with a security key's assertion (usernameless)",
        response_model=schemas.TokenResponseBody,
        responses=schemas.ERRORS,
        openapi_extra=_LOGIN_BODY,
    )
    async def login_webauthn(request: Request) -> Response:
        if not _is_json(request):
            raise InvalidRequest(f"Send the parameters as {_JSON}.")
        handle, assertion, client_id = parse_login(await request.body())
        result = await run_in_threadpool(
            login, handle, assertion, client_id or DEFAULT_KIOSK_CLIENT_ID, _origin(request)
        )
        return Response(
            json.dumps(result.to_json(), separators=(",", ":")),
            media_type=_JSON,
            headers=_NO_STORE,
        )

    router.include_router(_admin_router(repository, service, deployment))
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


class CredentialBody(BaseModel):
    credential_id: str
    username: str
    label: str
    aaguid: str
    algorithm: str
    sign_count: int
    transports: list[str]
    backup_eligible: bool
    backup_state: bool
    attestation_format: str
    uv_method: str
    state: str
    state_reason: str | None
    created_at: float
    enrolled_by: str | None
    last_used_at: float | None


class CredentialListBody(BaseModel):
    credentials: list[CredentialBody]


class AdminErrorBody(BaseModel):
    error: str
    error_description: str


_Body = TypeVar("_Body", bound=BaseModel)
_T = TypeVar("_T")

_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": AdminErrorBody, "description": "bad input, or the key's answer is refused"},
    401: {"model": AdminErrorBody, "description": "no or invalid access token"},
    403: {"model": AdminErrorBody, "description": "not an admin, or no admin scope"},
    404: {"model": AdminErrorBody, "description": "unknown user or credential"},
    409: {"model": AdminErrorBody, "description": "the credential's state does not allow it"},
}


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "content": {_JSON: {"schema": model.model_json_schema()}}}
    }


async def _read(request: Request, model: type[_Body]) -> _Body:
    """The body as ``model``, read after the caller was authorised."""
    if not _is_json(request):
        raise AdminApiError(400, "invalid_request", f"Send the body as {_JSON}.")
    body = await request.body()
    if len(body) > MAX_ADMIN_BYTES:
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
        if isinstance(value, str) and not is_plain_text(value):
            raise AdminApiError(400, "invalid_request", f"{name} holds a character not allowed.")
    return parsed


async def _call(work: Callable[[], _T]) -> _T:
    """Run repository work in the thread pool; its refusals become admin API errors."""
    try:
        return await run_in_threadpool(work)
    except NotFound as exc:
        raise AdminApiError(404, "not_found", exc.message) from exc
    except WebAuthnConflict as exc:
        raise AdminApiError(409, "conflict", exc.message) from exc
    except MalformedResponse as exc:
        raise AdminApiError(400, "invalid_request", exc.message) from exc
    except (CeremonyRejected, ChallengeRefused) as exc:
        raise AdminApiError(400, "registration_refused", exc.message) from exc


def _credential(info: WebAuthnCredentialInfo) -> dict[str, Any]:
    return info.to_json()


def _admin_router(
    repository: Callable[[], WebAuthnRepository], service: TokenService, deployment: Deployment
) -> APIRouter:
    admin = BearerAuth(service, deployment.store)
    router = APIRouter(
        prefix="/admin/fido2",
        tags=["admin: fido2"],
        route_class=AdminRoute,
        dependencies=[Depends(bearer_scheme), Depends(admin)],
        responses=_ADMIN_ERRORS,
    )

    @router.post(
        "/register/begin",
        summary="Start enrolling a security key for a person: creation options",
        response_model=RegisterOptionsBody,
        openapi_extra=_json_body(RegisterBeginBody),
    )
    async def register_begin(request: Request) -> Response:
        who = admin_principal(request)
        body = await _read(request, RegisterBeginBody)
        options = await _call(
            lambda: repository().begin_registration(
                body.username, label=body.label, by=who.actor, origin=_origin(request)
            )
        )
        return json_response(options.to_json())

    @router.post(
        "/register/complete",
        status_code=201,
        summary="Finish enrolling: verify the key's answer and store the credential",
        response_model=CredentialBody,
        openapi_extra=_json_body(RegisterCompleteBody),
    )
    async def register_complete(request: Request) -> Response:
        who = admin_principal(request)
        body = await _read(request, RegisterCompleteBody)

        def work() -> WebAuthnCredentialInfo:
            return repository().complete_registration(
                check_handle(body.handle),
                parse_registration(body.credential),
                by=who.actor,
                origin=_origin(request),
                uv_method=body.user_verification,
            )

        return json_response(_credential(await _call(work)), 201)

    @router.get(
        "/credentials",
        summary="List security-key credentials, all or one person's",
        response_model=CredentialListBody,
    )
    async def credentials(request: Request, username: str | None = None) -> Response:
        if username is not None and not is_plain_text(username):
            raise AdminApiError(400, "invalid_request", "username holds a character not allowed.")
        infos = await _call(lambda: repository().credentials(username))
        return json_response({"credentials": [_credential(info) for info in infos]})

    for verb in ("revoke", "unsuspend"):
        _add_state_route(router, repository, verb)
    return router


def _add_state_route(
    router: APIRouter, repository: Callable[[], WebAuthnRepository], verb: str
) -> None:
    async def change(request: Request) -> Response:
        who = admin_principal(request)
        body = await _read(request, CredentialIdBody)

        def work() -> WebAuthnCredentialInfo:
            repo = repository()
            action = repo.revoke if verb == "revoke" else repo.unsuspend
            return action(
                parse_credential_id(body.credential_id), by=who.actor, origin=_origin(request)
            )

        return json_response(_credential(await _call(work)))

    router.add_api_route(
        f"/{verb}",
        change,
        methods=["POST"],
        summary="Revoke a credential for good"
        if verb == "revoke"
        else "Make a suspended credential usable again",
        response_model=CredentialBody,
        openapi_extra=_json_body(CredentialIdBody),
        name=f"fido2_{verb}",
    )
