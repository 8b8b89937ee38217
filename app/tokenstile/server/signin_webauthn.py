"""Security keys on the browser sign-in page: the browser's own WebAuthn, usernameless.

The page's script (``templates/signin.js``, no inline script) asks
``POST /authorize/webauthn/options`` for a challenge, with the page's CSRF token and the
authorization request; it hands the options to ``navigator.credentials.get`` (discoverable
credentials, user verification required, the deployment's RP ID) and posts the answer
as a form to ``POST /authorize/webauthn``, which continues exactly as the one-time-code
form does: a provider session, a code to the app's redirect URI.

What makes this path phishing-resistant is that the browser, not the page, writes the
origin into the signed client data: the answer is accepted only when that origin is
the issuer's own (``for_origins``), never one of the kiosks' ``webauthn_origins`` and
never a page served under any other name, even by a proxy in front of this server.

The challenge is bound (``WebAuthnLogin.begin(binding=...)``) to SHA-256 of this
browser's pre-session cookie and of the authorization request: a handle carried to
another browser, or to another app's request, is refused and spent. Everything else is
the FIDO2 login service's: single-use handles, the counter rule and suspension, the
``fido2_login`` audit rows, ``amr``/``acr`` from what enrollment verified (``hwk`` and
``phrh`` for a verified or vouched key, ``swk`` and ``phr`` otherwise), and the shared
rate limits (``server/rate_limit.py``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from tokenstile.composition import Services
from tokenstile.errors import NO_STORE, InvalidGrant, InvalidRequest
from tokenstile.factors.webauthn import MalformedResponse, b64url, parse_assertion
from tokenstile.factors.webauthn_login import check_handle
from tokenstile.factors.webauthn_service import FIDO2_FACTOR, WebAuthnService
from tokenstile.server import schemas
from tokenstile.server.authorize_routes import (
    CARRIED,
    HTML,
    LIMITS,
    MAX_QUERY_CHARS,
    AuthorizationRequest,
    AuthorizeChecks,
    AuthorizeEndpoint,
    page_responses,
)
from tokenstile.server.browser import error_page
from tokenstile.server.webauthn_routes import LoginOptionsBody
from tokenstile.server.wire import read_form, request_origin
from tokenstile.tokens.authorization_code import AuthorizeError
from tokenstile.tokens.model import credential_ref

MAX_KEY_FORM_BYTES = 24 * 1024
EXPIRED_FORM = (
    "This sign-in form has expired or did not come from this browser's page. "
    "Go back to the app and start again."
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def web_origin(url: str) -> str:
    """The origin a browser writes for a page at ``url`` (RFC 6454 serialization:
    lower-case scheme and host, no default port)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def binding_of(pre_session: str, ask: AuthorizationRequest) -> dict[str, str]:
    """What a challenge is bound to: this browser and this authorization request."""
    request = json.dumps(ask.carried, separators=(",", ":")).encode("utf-8")
    return {
        "browser": hashlib.sha256(pre_session.encode("utf-8")).hexdigest(),
        "request": hashlib.sha256(request).hexdigest(),
    }


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(NO_STORE))


def _json_error(code: str, message: str, status: int) -> JSONResponse:
    return _json({"error": code, "error_description": message}, status)


class SecurityKeySignIn:
    """The two steps of a security-key sign-in, run in the thread pool."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self.endpoint = AuthorizeEndpoint(services)
        self._checks = AuthorizeChecks(services)
        self.issuer = self.endpoint.issuer
        self.origin = web_origin(self.issuer)
        self._keys: WebAuthnService | None = None

    def keys(self) -> WebAuthnService:
        """The FIDO2 service accepting the issuer's origin only (built on first use)."""
        if self._keys is None:
            self._keys = self._services.webauthn_service().for_origins({self.origin})
        return self._keys

    def _browser(self, request: Request, form: dict[str, str]) -> str | None:
        """This browser's pre-session value, when the form's CSRF token is its own."""
        jar = self.endpoint.cookies()
        if not jar.csrf_ok(request, form.get("csrf_token")):
            return None
        return jar.pre_session(request)

    def _ask(self, form: dict[str, str]) -> AuthorizationRequest:
        return self._checks.check({k: v for k, v in form.items() if k in CARRIED})

    def options(self, request: Request, form: dict[str, str]) -> Response:
        """``/authorize/webauthn/options``: request options under a bound handle."""
        pre = self._browser(request, form)
        if pre is None:
            return _json_error("invalid_request", EXPIRED_FORM, 403)
        try:
            ask = self._ask(form)
        except AuthorizeError as exc:
            return _json_error(exc.code, exc.message, 400)
        options = self.keys().login_options(binding=binding_of(pre, ask))
        return _json(options.to_json())

    def sign_in(self, request: Request, form: dict[str, str]) -> Response:
        """``/authorize/webauthn``: the key's answer, then a code as after a code sign-in."""
        pre = self._browser(request, form)
        if pre is None:
            return error_page(self.issuer, EXPIRED_FORM, status=403)
        ask: AuthorizationRequest | None = None
        try:
            ask = self._ask(form)
            return self._sign_in(request, ask, form, pre)
        except AuthorizeError as exc:
            return self.endpoint.refused(exc, ask, 303)

    def _sign_in(
        self, request: Request, ask: AuthorizationRequest, form: dict[str, str], pre: str
    ) -> Response:
        page = self.endpoint.sign_in_page
        try:
            handle = check_handle(form.get("handle"))
            assertion = parse_assertion(json.loads(form.get("credential") or "null"))
        except (MalformedResponse, ValueError, RecursionError) as exc:
            message = exc.message if isinstance(exc, MalformedResponse) else "not JSON"
            return page(request, ask, error=f"The security key's answer is unusable: {message}")
        origin = request_origin(request)
        outcome = self.keys().login(
            handle,
            assertion,
            client_id=ask.client.client_id,
            origin=origin,
            binding=binding_of(pre, ask),
        )
        credential = outcome.credential
        if not outcome.accepted or credential is None:
            return page(request, ask, error=outcome.describe())
        endpoint = self.endpoint
        jar = endpoint.cookies()
        key_id = b64url(credential.credential_id)
        try:
            cookie, provider = endpoint.flow().sign_in(
                user=credential.user,
                client=ask.client,
                factor=FIDO2_FACTOR,
                amr=outcome.amr,
                acr=outcome.acr,
                origin=origin,
                device={"aaguid": credential.aaguid, "credential_id": key_id},
                credential=credential_ref("fido2", key_id),
                replaces=endpoint.flow().browser_session(jar.session(request)),
            )
        except InvalidGrant:  # disabled between the key's check and the session
            return page(request, ask, error="This account is disabled.")
        response: Response
        try:
            response = endpoint.answer_with_code(ask, provider, status=303)
        except AuthorizeError as exc:  # signed in, but this app needs more: still signed in
            response = endpoint.refused(exc, ask, 303)
        jar.set_session(response, cookie)
        return response


def security_key_router(services: Services) -> APIRouter:
    """``/authorize/webauthn/options`` and ``/authorize/webauthn``."""
    steps = SecurityKeySignIn(services)
    issuer = steps.issuer

    async def options(request: Request) -> Response:
        try:
            form = await read_form(request, MAX_QUERY_CHARS)
        except InvalidRequest as exc:
            return _json_error("invalid_request", exc.message, 400)
        return await run_in_threadpool(steps.options, request, form)

    async def sign_in(request: Request) -> Response:
        try:
            form = await read_form(request, MAX_KEY_FORM_BYTES)
        except InvalidRequest as exc:
            return error_page(issuer, exc.message)
        return await run_in_threadpool(steps.sign_in, request, form)

    form_fields = {name: {"type": "string", "maxLength": LIMITS[name]} for name in CARRIED}
    refusal = {"model": schemas.OAuthErrorBody}
    router = APIRouter()
    router.add_api_route(
        "/authorize/webauthn/options",
        options,
        methods=["POST"],
        tags=["oidc"],
        summary="The sign-in page's security-key challenge (bound to this browser)",
        response_model=LoginOptionsBody,
        responses={
            400: {**refusal, "description": "the form or the authorization request is refused"},
            403: {**refusal, "description": "the CSRF token is missing or not this browser's"},
            503: {**refusal, "description": "The store is unavailable; retry"},
        },
        openapi_extra=schemas.form_body(
            {**form_fields, "csrf_token": {"type": "string"}}, ["csrf_token"]
        ),
        name="authorize_webauthn_options",
        operation_id="authorize_webauthn_options",
    )
    router.add_api_route(
        "/authorize/webauthn",
        sign_in,
        methods=["POST"],
        tags=["oidc"],
        summary="The sign-in page's security-key answer (form: handle, credential JSON)",
        response_class=Response,
        responses={
            **page_responses(303),
            403: {"description": "the CSRF token is missing or not this browser's", **HTML},
        },
        openapi_extra=schemas.form_body(
            {
                **form_fields,
                "csrf_token": {"type": "string"},
                "handle": {"type": "string"},
                "credential": {
                    "type": "string",
                    "description": "AuthenticationResponseJSON (WebAuthn Level 3), as JSON",
                },
            },
            ["csrf_token", "handle", "credential"],
        ),
        name="authorize_webauthn",
        operation_id="authorize_webauthn",
    )
    return router
