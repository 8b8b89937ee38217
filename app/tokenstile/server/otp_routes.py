"""HTTP routes of the OTP factor: ``POST /login/totp`` and the admin API under ``/admin/otp``.

``POST /login/totp`` is a hot, lean route: it reads and checks its JSON body itself
(no pydantic), then does all the synchronous work (client check, code check with its
audit row, session and tokens) in one trip to the thread pool. Its answers:

- 200: an RFC 6749 token response (``amr ["otp"]``, ``acr "otp"`` in the access token);
- 400 ``invalid_grant``, always with the same description, for every refusal that is
  about the person or the code: unknown or disabled person, no usable credential,
  delay or lock, malformed, wrong or replayed code. Refusals cost the same time too;
- 400 ``invalid_request`` for a request that is not a JSON object with string
  ``username`` and ``code`` (and optional string ``client_id``), or too large;
- 401 ``invalid_client`` for an unknown or disabled client, 400 ``unauthorized_client``
  for one that cannot start sessions (a resource server), 400 ``invalid_target`` when
  the client's audience asks for more assurance than a code gives. These are checked
  before the code, so they never spend one.

The admin endpoints need an admin's access token (``admin_auth``) and answer JSON;
their errors are ``{"error", "error_description"}`` with 400, 404 or 409.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from tokenstile.composition import Lazy, Services
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID
from tokenstile.errors import InvalidGrant, InvalidRequest, NotFound
from tokenstile.factors.otp import HashName, OtpError, OtpParameters
from tokenstile.factors.otp_enrollment import parse_base32_secret
from tokenstile.factors.otp_service import OtpService
from tokenstile.factors.otp_tx import OtpConflict, OtpCredentialInfo
from tokenstile.factors.pskc_import import MAX_CSV_BYTES, MAX_PSKC_BYTES, parse_psk_hex
from tokenstile.server import schemas
from tokenstile.server.admin_auth import (
    AdminApiError,
    AdminPrincipal,
    AdminWork,
    admin_router,
    check_plain_text,
)
from tokenstile.server.admin_post import admin_post, fields_of
from tokenstile.server.dpop import dpop_login
from tokenstile.server.wire import json_object, no_store_json, request_origin
from tokenstile.tokens.model import credential_ref
from tokenstile.tokens.service import TokenResponse

OTP_ACR = "otp"
OTP_AMR = ("otp",)
# The one description of every refusal that concerns the person or the code.
REFUSED = "The username or the code is not valid."
MAX_LOGIN_BYTES = 16 * 1024
MAX_IMPORT_BYTES = MAX_PSKC_BYTES * 4 // 3 + MAX_CSV_BYTES + 64 * 1024

_Body = TypeVar("_Body", bound=BaseModel)

_LOGIN_BODY = schemas.json_body(
    {
        "username": {"type": "string", "examples": ["alice"]},
        "code": {
            "type": "string",
            "description": "6 or 8 digits from the fob or app (spaces and hyphens are ignored)",
            "examples": ["287082"],
        },
        "client_id": {
            "type": "string",
            "description": "a kiosk or app client; default " + DEFAULT_KIOSK_CLIENT_ID,
        },
    },
    ["username", "code"],
)


def parse_login(body: bytes) -> tuple[str, str, str | None]:
    """``username``, ``code``, ``client_id`` from a login body, or ``InvalidRequest``."""
    data = json_object(body, MAX_LOGIN_BYTES)
    username, code, client_id = data.get("username"), data.get("code"), data.get("client_id")
    if not isinstance(username, str) or not username:
        raise InvalidRequest("The username member is missing or not a string.")
    if not isinstance(code, str):
        raise InvalidRequest("The code member is missing or not a string.")
    if client_id is not None and (not isinstance(client_id, str) or not client_id):
        raise InvalidRequest("The client_id member must be a non-empty string.")
    return username, code, client_id


def otp_router(services: Services) -> APIRouter:
    """The OTP login route and the OTP admin API, for ``app.include_router``."""
    service = services.token_service()
    # The OTP service is built on first use: it needs the KEK, read from the database.
    repository = services.otp_service
    directory = services.clients()

    def login(
        username: str, code: str, client_id: str | None, origin: str, jkt: str | None
    ) -> TokenResponse:
        client = directory.session_client(
            client_id or DEFAULT_KIOSK_CLIENT_ID,
            service,
            acr=OTP_ACR,
            factor="A one-time code",
            dpop=jkt is not None,
        )
        result = repository().login(username, code, client_id=client.client_id, origin=origin)
        if result.user is None or not result.accepted:
            raise InvalidGrant(REFUSED)
        try:
            credential = result.outcome.credential
            return service.sessions.open_session(
                user=result.user,
                client=client,
                factor="otp",
                amr=OTP_AMR,
                acr=OTP_ACR,
                origin=origin,
                device={"serial": credential.serial} if credential is not None else None,
                dpop_jkt=jkt,
                credential=credential_ref("otp", credential.serial) if credential else None,
            )
        except InvalidGrant as exc:  # disabled between the check and the session
            raise InvalidGrant(REFUSED) from exc

    router = APIRouter()

    @router.post(
        "/login/totp",
        tags=["login"],
        summary="Sign in with a one-time code (TOTP or HOTP)",
        response_model=schemas.TokenResponseBody,
        responses=schemas.ERRORS,
        openapi_extra=_LOGIN_BODY,
    )
    async def login_totp(request: Request) -> Response:
        return await dpop_login(request, service, parse_login, login)

    router.include_router(_admin_router(services))
    return router


# -- the admin API -------------------------------------------------------------------------------


# The constraints every body below repeats, written once.
Username = Annotated[str, Field(min_length=1, max_length=128)]
Serial = Annotated[str, Field(min_length=1, max_length=128)]
OtpDigits = Literal[6, 8]


class TotpEnrollBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username
    secret: str | None = Field(
        default=None,
        description="base32 seed the admin already has (a fob): active at once. "
        "Without it a 160-bit seed is generated and the credential stays pending "
        "until /admin/otp/confirm.",
    )
    algorithm: HashName = "SHA1"
    digits: OtpDigits = 6
    period: Literal[30, 60] = 30
    label: str = Field(default="Authenticator app", min_length=1, max_length=256)
    serial: Serial | None = None


class HotpEnrollBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username
    secret: str = Field(description="base32 seed of the fob")
    counter: int = Field(default=0, ge=0, description="the next counter the fob will use")
    algorithm: HashName = "SHA1"
    digits: OtpDigits = 6
    label: str = Field(default="HOTP fob", min_length=1, max_length=256)
    serial: Serial | None = None


class ConfirmBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serial: Serial
    code: str = Field(max_length=64)


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pskc_base64: str = Field(description="the PSKC (RFC 6030) file, base64")
    psk_hex: str | None = Field(default=None, description="pre-shared AES key, hex")
    assignments_csv: str | None = Field(
        default=None, description="'serial,username' header, then one line per fob"
    )


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serial: Serial
    username: Username


class SerialBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serial: Serial


class UnlockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username


class ResyncBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serial: Serial
    code1: str = Field(max_length=64)
    code2: str = Field(max_length=64)


@fields_of(OtpCredentialInfo)
class CredentialBody(BaseModel):
    pass


class RevokedCredentialBody(CredentialBody):
    sessions_ended: int = Field(
        description="how many sessions the revoked credential had opened that this ended"
    )


class EnrollmentResponseBody(BaseModel):
    credential: CredentialBody
    otpauth_uri: str | None = Field(description="holds the seed: shown this once")
    qr_png_base64: str | None = Field(description="the URI as a QR code (PNG, base64)")


class CredentialListBody(BaseModel):
    credentials: list[CredentialBody]


class ImportProblemBody(BaseModel):
    package: int | None
    line: int | None
    serial: str | None
    reason: str
    description: str


class ImportResponseBody(BaseModel):
    ok: bool
    packages: int
    imported: list[CredentialBody]
    problems: list[ImportProblemBody]


class UnlockResponseBody(BaseModel):
    username: str
    unlocked: list[str]


class ResyncResponseBody(BaseModel):
    serial: str
    drift: int


_ADMIN_ERRORS = schemas.admin_errors(
    bad_input="bad input",
    not_found="unknown user or serial",
    conflict="the credential's state does not allow it",
)
_call = AdminWork(
    (NotFound, 404, "not_found"),
    (OtpConflict, 409, "conflict"),
    (OtpError, 400, "invalid_request"),
)


def _admin_action(
    router: APIRouter,
    path: str,
    model: type[_Body],
    work: Callable[[_Body, str, str], dict[str, Any]],
    *,
    summary: str,
    response_model: Any = CredentialBody,
) -> None:
    """``POST path`` (named as ``work``): ``work(body, by, origin)`` in the thread pool,
    the JSON it gives the answer."""

    @admin_post(
        router, path, model, summary=summary, response_model=response_model, name=work.__name__
    )
    async def route(request: Request, who: AdminPrincipal, body: _Body) -> Response:
        return no_store_json(await _call(lambda: work(body, who.actor, request_origin(request))))


def _admin_router(services: Services) -> APIRouter:
    router = admin_router(
        services, prefix="/admin/otp", tags=["admin: otp"], responses=_ADMIN_ERRORS
    )
    _add_enrollment_routes(router, services.otp_service)
    _add_maintenance_routes(router, services.otp_service)
    return router


def _add_enrollment_routes(router: APIRouter, repository: Lazy[OtpService]) -> None:
    @admin_post(
        router,
        "/totp",
        TotpEnrollBody,
        status_code=201,
        summary="Enroll TOTP for a person (app: pending until confirmed; secret: active)",
        response_model=EnrollmentResponseBody,
    )
    async def enroll_totp(request: Request, who: AdminPrincipal, body: TotpEnrollBody) -> Response:
        def work() -> dict[str, Any]:
            seed = parse_base32_secret(body.secret) if body.secret is not None else None
            params = OtpParameters.totp(
                algorithm=body.algorithm, digits=body.digits, period=body.period
            )
            info, enrollment = repository().enroll_app(
                body.username,
                by=who.actor,
                origin=request_origin(request),
                params=params,
                seed=seed,
                label=body.label,
                serial=body.serial,
            )
            return {
                "credential": info.to_json(),
                "otpauth_uri": enrollment.uri,
                "qr_png_base64": base64.b64encode(enrollment.qr_png()).decode("ascii"),
            }

        return no_store_json(await _call(work), 201)

    @admin_post(
        router,
        "/hotp",
        HotpEnrollBody,
        status_code=201,
        summary="Enroll an HOTP fob whose seed the admin has (active at once)",
        response_model=EnrollmentResponseBody,
    )
    async def enroll_hotp(request: Request, who: AdminPrincipal, body: HotpEnrollBody) -> Response:
        def work() -> dict[str, Any]:
            info = repository().enroll_hotp(
                body.username,
                parse_base32_secret(body.secret),
                by=who.actor,
                origin=request_origin(request),
                counter=body.counter,
                params=OtpParameters.hotp(algorithm=body.algorithm, digits=body.digits),
                label=body.label,
                serial=body.serial,
            )
            return {"credential": info.to_json(), "otpauth_uri": None, "qr_png_base64": None}

        return no_store_json(await _call(work), 201)

    def confirm(body: ConfirmBody, by: str, origin: str) -> dict[str, Any]:
        return repository().confirm(body.serial, body.code, by=by, origin=origin).to_json()

    _admin_action(
        router,
        "/confirm",
        ConfirmBody,
        confirm,
        summary="Activate a pending app credential with the first code it shows",
    )

    @admin_post(
        router,
        "/import",
        ImportBody,
        summary="Import a PSKC file: every key or none",
        response_model=ImportResponseBody,
        limit=MAX_IMPORT_BYTES,
    )
    async def import_pskc(request: Request, who: AdminPrincipal, body: ImportBody) -> Response:
        try:
            data = base64.b64decode(body.pskc_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AdminApiError(400, "invalid_request", "pskc_base64 is not base64.") from exc
        result = await _call(
            lambda: repository().import_pskc(
                data,
                by=who.actor,
                origin=request_origin(request),
                psk=parse_psk_hex(body.psk_hex) if body.psk_hex is not None else None,
                assignments_csv=body.assignments_csv,
            )
        )
        if not result.ok:
            first = result.describe().splitlines()[0]
            raise AdminApiError(400, "invalid_request", first, result.to_json())
        return no_store_json(result.to_json())


def _add_maintenance_routes(router: APIRouter, repository: Lazy[OtpService]) -> None:
    @router.get(
        "/credentials",
        summary="List OTP credentials (never their seeds), all or one person's",
        response_model=CredentialListBody,
    )
    async def credentials(request: Request, username: str | None = None) -> Response:
        check_plain_text("username", username)
        infos = await _call(lambda: repository().credentials(username))
        return no_store_json({"credentials": [info.to_json() for info in infos]})

    def assign(body: AssignBody, by: str, origin: str) -> dict[str, Any]:
        return repository().assign(body.serial, body.username, by=by, origin=origin).to_json()

    _admin_action(router, "/assign", AssignBody, assign, summary="Hand a fob to a person")

    def revoke(body: SerialBody, by: str, origin: str) -> dict[str, Any]:
        done = repository().revoke(body.serial, by=by, origin=origin)
        return {**done.info.to_json(), "sessions_ended": done.sessions_ended}

    def unlock(body: UnlockBody, by: str, origin: str) -> dict[str, Any]:
        serials = repository().unlock(body.username, by=by, origin=origin)
        return {"username": body.username, "unlocked": serials}

    def resync(body: ResyncBody, by: str, origin: str) -> dict[str, Any]:
        found = repository().resync(body.serial, body.code1, body.code2, by=by, origin=origin)
        return {"serial": body.serial, "drift": found.drift}

    _admin_action(
        router,
        "/revoke",
        SerialBody,
        revoke,
        summary="Revoke a credential for good and end the sessions it opened",
        response_model=RevokedCredentialBody,
    )
    _admin_action(
        router,
        "/unlock",
        UnlockBody,
        unlock,
        summary="Clear a person's OTP failures and unlock their credentials",
        response_model=UnlockResponseBody,
    )
    _admin_action(
        router,
        "/resync",
        ResyncBody,
        resync,
        summary="Resynchronise a credential from two consecutive codes",
        response_model=ResyncResponseBody,
    )
