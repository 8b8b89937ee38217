"""The token service's HTTP face: discovery, JWKS, token, revocation, introspection, userinfo
(and, from ``authorize_routes``, the OpenID Provider's ``/authorize`` and sign-in page).

The token endpoint serves the ``authorization_code`` grant of web and native clients
(client_secret_basic, client_secret_post, private_key_jwt (``client_auth``), or none
with PKCE for a public client), the
refresh grant and token exchange.

The token endpoint is the hot path: it reads the form body itself (no multipart parser,
no pydantic model) and serialises its JSON by hand; the OpenAPI document still
describes it through ``openapi_extra`` and ``responses``.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from tokenstile import __version__
from tokenstile.composition import Services
from tokenstile.deployment import Deployment
from tokenstile.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidToken,
    OAuthError,
    ServerError,
    StoreUnavailable,
    TemporarilyUnavailable,
    TokenstileError,
    UnsupportedGrantType,
)
from tokenstile.server import page_locale, schemas, wire
from tokenstile.server.access_code_routes import access_code_router
from tokenstile.server.admin_routes import admin_api_router
from tokenstile.server.audit_stream import AuditStreams, audit_streams
from tokenstile.server.authorize_routes import authorize_router
from tokenstile.server.backchannel import backchannel_delivery
from tokenstile.server.client_auth import ASSERTION_AUTH_METHOD, assertion_client
from tokenstile.server.confirm_routes import confirm_router
from tokenstile.server.directory_sync import directory_sync_loop
from tokenstile.server.dpop import presented_token, proof_jkt
from tokenstile.server.logout_routes import logout_router
from tokenstile.server.metrics import (
    METRICS_PATH,
    MetricsMiddleware,
    ServiceMetrics,
    metrics_endpoint,
)
from tokenstile.server.offline_routes import offline_router
from tokenstile.server.otp_routes import otp_router
from tokenstile.server.page_locale import PageLocaleMiddleware
from tokenstile.server.piv_routes import piv_router
from tokenstile.server.rate_limit import install_rate_limits
from tokenstile.server.roles_routes import roles_router
from tokenstile.server.scim_routes import scim_router
from tokenstile.server.signin_webauthn import security_key_router
from tokenstile.server.sso_routes import sso_router
from tokenstile.server.tap_routes import tap_router
from tokenstile.server.webauthn_routes import webauthn_router
from tokenstile.server.wire import (
    NO_STORE,
    error_response,
    json_response,
    read_form,
    request_origin,
)
from tokenstile.tokens.authorization_code import CodeTokenResponse
from tokenstile.tokens.client_assertion import ASSERTION_ALGORITHMS
from tokenstile.tokens.dpop import DpopProofError
from tokenstile.tokens.model import Client
from tokenstile.tokens.service import (
    ACCESS_TOKEN_TYPE,
    GRANT_TOKEN_EXCHANGE,
    ExchangeResponse,
    TokenResponse,
    TokenService,
    check_client_secret,
)

log = logging.getLogger(__name__)


class JwkSetResponse(JSONResponse):
    """Documents the JWKS media type (RFC 7517 section 8.5) in the OpenAPI document."""

    media_type = "application/jwk-set+json"


GRANT_REFRESH = "refresh_token"
GRANT_CODE = "authorization_code"

# The 503 answer per StoreUnavailable.reason: (error_description, Retry-After seconds).
UNAVAILABLE: dict[str, tuple[str, str]] = {
    "unreachable": ("The token service cannot reach its database; retry shortly.", "2"),
    "busy": ("The token service is busy; retry shortly.", "1"),
    "disk_full": ("The token service cannot store anything right now; retry later.", "30"),
    "read_only": ("The token service cannot store anything right now; retry later.", "30"),
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods some route of ``app`` (included routers too) serves at the request's
    path: each asked of the routes themselves, as the router would match it."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in app.router.routes
        )
    ]


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient("The Authorization header is not valid Basic credentials.") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("The Authorization header is not valid Basic credentials.")
    # RFC 6749 section 2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def _background_work(
    deployment: Deployment, services: Services, streams: AuditStreams
) -> Callable[[object], AbstractAsyncContextManager[None]]:
    """The server's lifespan: the periodic purge, back-channel logout delivery, audit
    streaming, the directory sync when ``directory_sync_interval`` is set, and the FIDO
    metadata refresh when ``webauthn_mds_url`` is set; each on a daemon thread while the
    app serves."""
    purge = deployment.periodic_purge()
    refresh = services.metadata_refresh()
    logouts = backchannel_delivery(deployment)
    directories = directory_sync_loop(deployment)

    @asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        async with (
            purge.lifespan(app),
            logouts.lifespan(app),
            streams.lifespan(app),
            directories.lifespan(app),
        ):
            if refresh is None:
                yield
                return
            async with refresh.lifespan(app):
                yield

    return lifespan


def create_app(deployment: Deployment, *, services: Services | None = None) -> FastAPI:
    """The token service's ASGI app; its services come from ``services`` (by default a
    ``Services`` of its own, so its caches live as long as the app)."""
    settings = deployment.settings
    services = services or Services(deployment)
    service: TokenService = services.token_service()
    issuer = service.issuer
    metrics = ServiceMetrics(deployment)
    streams = audit_streams(settings, deployment.engine, metrics.registry)

    app = FastAPI(
        title="Tokenstile token service",
        version=__version__,
        description="OAuth 2.0 token service and OpenID Provider for hardware-token logins "
        "(RFC 6749, 7009, 7636, 7662, 8414, 9068, 9207; OpenID Connect Core code flow).",
        lifespan=_background_work(deployment, services, streams),
    )

    clients = services.clients()
    find_client = clients.find

    def authenticate_client(
        request: Request, form: dict[str, str], *, require_secret: bool
    ) -> Client:
        if not require_secret and ("client_assertion" in form or "client_assertion_type" in form):
            return assertion_client(
                deployment,
                find_client,
                request,
                form,
                audiences=(issuer, f"{issuer}/token", f"{issuer}{request.url.path}"),
            )
        creds = _basic_credentials(request)
        if creds is not None:
            client_id, secret = creds
            if "client_id" in form and form["client_id"] != client_id:
                raise InvalidRequest("client_id in the body differs from the Basic credentials.")
            if "client_secret" in form:
                # RFC 6749 section 2.3: one authentication method per request.
                raise InvalidRequest("Send the client secret once: Basic or the body, not both.")
            client = find_client(client_id)
            if client is None or not client.enabled or not check_client_secret(client, secret):
                raise InvalidClient("Client authentication failed.")
            return client
        if require_secret:
            raise InvalidClient("This endpoint needs client_secret_basic authentication.")
        client_id = form.get("client_id", "")
        if not client_id:
            raise InvalidClient("Identify the client with client_id or Basic credentials.")
        client = find_client(client_id)
        if "client_secret" in form:
            # client_secret_post (RFC 6749 section 2.3.1): a public client has no secret
            # to send, so one sent for it is refused like a wrong one.
            secret = form["client_secret"]
            if client is None or not client.enabled or not check_client_secret(client, secret):
                raise InvalidClient("Client authentication failed.")
            return client
        if client is None or not client.enabled:
            raise InvalidClient("Unknown client.")
        if client.secret_hash is not None:
            raise InvalidClient("This client must authenticate with its secret.")
        if client.jwks is not None:
            raise InvalidClient("This client must authenticate with a client assertion.")
        return client

    async def token_request(
        request: Request, *, require_secret: bool
    ) -> tuple[dict[str, str], Client, str]:
        """The form of a revocation or introspection request, its client (authenticated)
        and the ``token`` it names (RFC 7009 section 2.1, RFC 7662 section 2.1)."""
        form = await read_form(request)
        client = await run_in_threadpool(
            authenticate_client, request, form, require_secret=require_secret
        )
        token_value = form.get("token", "")
        if not token_value:
            raise InvalidRequest("The token parameter is missing.")
        return form, client, token_value

    def as_oauth_error(request: Request, exc: Exception) -> OAuthError:
        """What the answer to ``exc`` says: an ``OAuthError`` as it is; the store's
        unavailability as 503 with its ``Retry-After``; a refused request as FastAPI or
        Starlette saw it; any other failure as 500 with no detail."""
        if isinstance(exc, OAuthError):
            return exc
        if isinstance(exc, StoreUnavailable):
            log.warning("store unavailable (%s): %s", exc.reason, exc.message)
            sentence, retry_after = UNAVAILABLE.get(exc.reason, UNAVAILABLE["unreachable"])
            return TemporarilyUnavailable(sentence, retry_after=retry_after)
        if isinstance(exc, RequestValidationError):
            return InvalidRequest("The request is malformed.")
        if isinstance(exc, StarletteHTTPException):
            headers = dict(exc.headers or {})
            if exc.status_code == 405:
                # Starlette names the methods of the first route matching the path only.
                headers["Allow"] = ", ".join(allowed_methods(app, request))
            return InvalidRequest(str(exc.detail), status=exc.status_code, headers=headers)
        if isinstance(exc, TokenstileError):
            log.error("request failed: %s (%s)", exc.message, exc.code)
        return ServerError("The token service failed.")

    async def render_error(request: Request, exc: Exception) -> Response:
        """The one exception handler: every error the application answers goes through it."""
        return error_response(as_oauth_error(request, exc))

    for kind in (TokenstileError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, render_error)

    def metadata() -> dict[str, Any]:
        return {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/jwks.json",
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "revocation_endpoint": f"{issuer}/revoke",
            "introspection_endpoint": f"{issuer}/introspect",
            "userinfo_endpoint": f"{issuer}/userinfo",
            # OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.
            "end_session_endpoint": f"{issuer}/logout",
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "grant_types_supported": [GRANT_CODE, GRANT_REFRESH, GRANT_TOKEN_EXCHANGE],
            "dpop_signing_alg_values_supported": list(service.dpop_algorithms),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"],
            # RFC 9207: every authorization response names the issuer.
            "authorization_response_iss_parameter_supported": True,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "claims_parameter_supported": False,
            "ui_locales_supported": list(page_locale.available()),
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid", "profile", "offline_access"],
            "token_endpoint_auth_methods_supported": [
                "none",
                "client_secret_basic",
                "client_secret_post",
                ASSERTION_AUTH_METHOD,
            ],
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            "revocation_endpoint_auth_methods_supported": [
                "none",
                "client_secret_basic",
                "client_secret_post",
                ASSERTION_AUTH_METHOD,
            ],
            "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
            "id_token_signing_alg_values_supported": ["ES256", "EdDSA"],
            "access_token_signing_alg_values_supported": ["ES256", "EdDSA"],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "nbf",
                "jti",
                "client_id",
                "scope",
                "sid",
                "auth_time",
                "amr",
                "acr",
                "cnf",
                "nonce",
                "at_hash",
            ],
            "acr_values_supported": ["otp", "mfa", "phr", "phrh"],
        }

    @app.get(
        "/.well-known/openid-configuration", response_model=schemas.MetadataBody, tags=["discovery"]
    )
    async def openid_configuration() -> Response:
        return json_response(metadata(), headers={"Cache-Control": "public, max-age=3600"})

    @app.get(
        "/.well-known/oauth-authorization-server",
        response_model=schemas.MetadataBody,
        tags=["discovery"],
    )
    async def oauth_metadata() -> Response:
        return json_response(metadata(), headers={"Cache-Control": "public, max-age=3600"})

    @app.get(
        "/jwks.json",
        response_model=schemas.JwksBody,
        response_class=JwkSetResponse,
        tags=["discovery"],
    )
    async def jwks() -> Response:
        # Checked against the store (at most every 0.1 s: a flood costs no queries), so a
        # key distrusted by `rotate-keys --compromised` is gone at once.
        ring = await run_in_threadpool(lambda: deployment.keyring(fresh=True))
        return json_response(
            ring.jwks(deployment.clock.now()),
            headers={"Cache-Control": f"public, max-age={settings.jwks_max_age}"},
            media_type="application/jwk-set+json",
        )

    @app.post(
        "/token",
        tags=["oauth"],
        response_model=schemas.TokenResponseBody,
        responses=schemas.ERRORS,
        openapi_extra=schemas.form_body(
            {
                "grant_type": {
                    "type": "string",
                    "enum": [GRANT_CODE, GRANT_REFRESH, GRANT_TOKEN_EXCHANGE],
                },
                "code": {"type": "string"},
                "redirect_uri": {"type": "string"},
                "code_verifier": {"type": "string"},
                "refresh_token": {"type": "string"},
                "client_id": {"type": "string"},
                "client_secret": {"type": "string"},
                "client_assertion_type": {"type": "string"},
                "client_assertion": {"type": "string"},
                "scope": {"type": "string"},
                "resource": {"type": "string"},
                "subject_token": {"type": "string"},
                "subject_token_type": {"type": "string", "enum": [ACCESS_TOKEN_TYPE]},
                "audience": {"type": "string"},
                "requested_token_type": {"type": "string", "enum": [ACCESS_TOKEN_TYPE]},
            },
            ["grant_type"],
        ),
    )
    async def token(request: Request) -> Response:
        received_at = deployment.clock.now()
        form = await read_form(request)
        grant = form.get("grant_type", "")
        if not grant:
            raise InvalidRequest("The grant_type parameter is missing.")
        if grant not in (GRANT_CODE, GRANT_REFRESH, GRANT_TOKEN_EXCHANGE):
            raise UnsupportedGrantType(f"The grant type {grant!r} is not supported.")
        origin = request_origin(request)

        def grant_refresh() -> TokenResponse | ExchangeResponse | CodeTokenResponse:
            # one trip to the pool
            client = authenticate_client(request, form, require_secret=False)
            jkt = proof_jkt(request, service)  # RFC 9449: None without a DPoP header
            if grant == GRANT_CODE:
                return services.authorization().exchange(
                    code=form.get("code", ""),
                    client=client,
                    redirect_uri=form.get("redirect_uri", ""),
                    code_verifier=form.get("code_verifier", ""),
                    origin=origin,
                    dpop_jkt=jkt,
                )
            if grant == GRANT_TOKEN_EXCHANGE:
                if "actor_token" in form:
                    raise InvalidRequest("Delegation (actor_token) is not supported.")
                return service.exchange_grant.exchange(
                    client=client,
                    subject_token=form.get("subject_token", ""),
                    subject_token_type=form.get("subject_token_type", ""),
                    audience=form.get("audience", ""),
                    scope=form.get("scope"),
                    requested_token_type=form.get("requested_token_type"),
                    dpop_jkt=jkt,
                    origin=origin,
                    max_age=wire.max_age_seconds(form.get("max_age")),
                    acr_values=wire.acr_value_list(form.get("acr_values")),
                )
            return service.refresh_grant.refresh(
                refresh_token=form.get("refresh_token", ""),
                client=client,
                scope=form.get("scope"),
                resource=form.get("resource"),
                received_at=received_at,
                origin=origin,
                dpop_jkt=jkt,
            )

        result = await run_in_threadpool(grant_refresh)
        return json_response(result.to_json(), headers=NO_STORE)

    @app.post(
        "/revoke",
        tags=["oauth"],
        responses=schemas.ERRORS,
        openapi_extra=schemas.form_body(
            {
                "token": {"type": "string"},
                "token_type_hint": {"type": "string"},
                "client_id": {"type": "string"},
            },
            ["token"],
        ),
    )
    async def revoke(request: Request) -> Response:
        _, client, token_value = await token_request(request, require_secret=False)
        await run_in_threadpool(
            lambda: service.introspection.revoke(
                token=token_value, client=client, origin=request_origin(request)
            )
        )
        return Response(status_code=200, headers=NO_STORE)

    async def session_form(request: Request) -> tuple[dict[str, str], Client, str | None]:
        """A park or resume request: its form, its client (as at the token endpoint) and
        its checked DPoP proof's key (None without one)."""
        form = await read_form(request)

        def work() -> tuple[Client, str | None]:
            return (
                authenticate_client(request, form, require_secret=False),
                proof_jkt(request, service),
            )

        client, jkt = await run_in_threadpool(work)
        return form, client, jkt

    @app.post(
        "/session/park",
        tags=["kiosk"],
        responses=schemas.ERRORS,
        openapi_extra=schemas.form_body(
            {"refresh_token": {"type": "string"}, "client_id": {"type": "string"}},
            ["refresh_token"],
        ),
    )
    async def park_session(request: Request) -> Response:
        """Park a kiosk session (``tokens.parking``): refresh and exchange refuse it with
        ``session_parked`` until :func:`resume_session`; revoked after its deadline."""
        form, client, jkt = await session_form(request)
        receipt = await run_in_threadpool(
            lambda: service.parking.park(
                refresh_token=form.get("refresh_token", ""),
                client=client,
                origin=request_origin(request),
                dpop_jkt=jkt,
            )
        )
        return json_response(receipt.to_json(), headers=NO_STORE)

    @app.post(
        "/session/resume",
        tags=["kiosk"],
        response_model=schemas.TokenResponseBody,
        responses=schemas.ERRORS,
        openapi_extra=schemas.form_body(
            {
                "refresh_token": {"type": "string"},
                "proof_token": {"type": "string"},
                "client_id": {"type": "string"},
            },
            ["refresh_token", "proof_token"],
        ),
    )
    async def resume_session(request: Request) -> Response:
        """Resume a parked session for a fresh sign-in of the same person at the same
        client (``proof_token``: that sign-in's refresh token, spent here)."""
        form, client, jkt = await session_form(request)
        result = await run_in_threadpool(
            lambda: service.parking.resume(
                refresh_token=form.get("refresh_token", ""),
                proof_token=form.get("proof_token", ""),
                client=client,
                origin=request_origin(request),
                dpop_jkt=jkt,
            )
        )
        return json_response(result.to_json(), headers=NO_STORE)

    @app.post(
        "/introspect",
        tags=["oauth"],
        response_model=schemas.IntrospectionBody,
        responses=schemas.ERRORS,
        openapi_extra=schemas.form_body(
            {"token": {"type": "string"}, "token_type_hint": {"type": "string"}}, ["token"]
        ),
    )
    async def introspect(request: Request) -> Response:
        form, client, token_value = await token_request(request, require_secret=True)
        body = await run_in_threadpool(
            lambda: service.introspection.introspect(
                token=token_value, hint=form.get("token_type_hint"), client=client
            )
        )
        return json_response(body, headers=NO_STORE)

    dpop_algs = " ".join(service.dpop_algorithms)

    async def userinfo(request: Request) -> Response:
        presented = presented_token(request)
        # RFC 9449 section 7.1: a DPoP-bound token comes under the DPoP scheme, with a proof.
        challenge = f'Bearer realm="tokenstile", DPoP algs="{dpop_algs}"'
        if presented is None:
            raise InvalidRequest(
                "Send a Bearer or DPoP access token.",
                status=401,
                headers={"WWW-Authenticate": challenge, **NO_STORE},
            )
        kind, token_value = presented

        def work() -> dict[str, Any]:
            jkt = None
            if kind == "dpop":
                jkt = proof_jkt(request, service, access_token=token_value)
                if jkt is None:
                    raise DpopProofError("The DPoP scheme needs a DPoP proof header.")
            return service.introspection.userinfo(token_value, dpop_jkt=jkt)

        try:
            body = await run_in_threadpool(work)
        except StoreUnavailable:
            raise
        except DpopProofError as exc:
            error = "invalid_dpop_proof" if kind == "dpop" else "invalid_token"
            refused = InvalidToken(
                exc.message,
                headers={
                    "WWW-Authenticate": f'DPoP algs="{dpop_algs}", error="{error}"',
                    **NO_STORE,
                },
            )
            refused.code = error
            raise refused from exc
        except TokenstileError as exc:
            raise InvalidToken(
                "The access token is not valid.",
                headers={"WWW-Authenticate": f'{challenge}, error="invalid_token"', **NO_STORE},
            ) from exc
        return json_response(body, headers=NO_STORE)

    for method in ("GET", "POST"):
        app.add_api_route(
            "/userinfo",
            userinfo,
            methods=[method],
            tags=["oidc"],
            response_model=schemas.UserinfoBody,
            responses={401: {"model": schemas.OAuthErrorBody}},
            name=f"userinfo_{method.lower()}",
            operation_id=f"userinfo_{method.lower()}",
        )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    app.include_router(authorize_router(services))
    app.include_router(sso_router(services))
    app.include_router(offline_router(services))
    app.include_router(logout_router(services))
    app.include_router(security_key_router(services))
    app.include_router(otp_router(services))
    app.include_router(webauthn_router(services))
    app.include_router(tap_router(services))
    app.include_router(piv_router(services))
    app.include_router(confirm_router(services))
    app.include_router(admin_api_router(services))
    if settings.metrics_token is not None:  # else /metrics is not served on this port
        app.add_api_route(
            METRICS_PATH,
            metrics_endpoint(metrics, settings.metrics_token.get_secret_value()),
            methods=["GET"],
            include_in_schema=False,
        )
    app.include_router(scim_router(services))  # issue 18: SCIM 2.0 provisioning
    app.include_router(roles_router(services))
    app.include_router(access_code_router(services))
    install_rate_limits(app, deployment, render=render_error)
    app.state.rate_limiter.on_refusal = metrics.refused
    app.add_middleware(PageLocaleMiddleware)  # a refusal's page speaks it too
    app.add_middleware(  # outermost: times everything, rate-limit refusals included
        MetricsMiddleware,
        metrics=metrics,
        known_paths=frozenset(app.state.rate_limiter.limits),
    )
    app.state.deployment = deployment
    app.state.service = service
    app.state.services = services
    app.state.metrics = metrics
    app.state.audit_streams = streams
    return app
