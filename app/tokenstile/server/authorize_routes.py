"""The OpenID Provider's browser face: ``GET/POST /authorize`` and its sign-in form.

``/authorize`` (RFC 6749 section 4.1.1, OpenID Connect Core section 3.1.2) checks the
request in this order, so that nothing is ever sent to a URI the client did not register:

1. every parameter within its size limit, none repeated; ``client_id`` names an enabled
   web or native client, and ``redirect_uri`` is one it registered
   (``tokens.redirect_uris``). Any failure here is an HTML error page, never a redirect.
2. the rest (``response_type=code`` only, PKCE S256, scope, prompt, max_age...): a
   failure goes back to the redirect URI as ``error``, ``error_description``, ``state``
   and ``iss`` (RFC 6749 section 4.1.2.1, RFC 9207).

Then: a live provider session (the browser's cookie) that meets ``prompt`` and
``max_age`` gets a code at once; ``prompt=none`` without one gets ``login_required``;
otherwise the sign-in page. ``acr_values`` is voluntary (OpenID Connect Core section
5.5.1.1): a sign-in that cannot reach the values asked for is not refused for it, its
``acr`` says what it reached and the app decides. An audience's minimum assurance
(``manage audience set --min-acr``) is enforced: below it, ``access_denied``.
``ui_locales`` chooses the pages' language when they have it (``page_locale``).

``POST /authorize/login`` is the sign-in form: its CSRF token must be the one made for
this browser's pre-session cookie; the username and one-time code go through the OTP
service exactly as ``POST /login/totp`` (the same lockout, the same audit rows, the same
one refusal for every wrong answer), under the same shared rate limit. A success opens
the provider session (``acr``/``amr`` ``otp``), sets its cookie and redirects with a code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from tokenstile.composition import Services
from tokenstile.errors import InvalidRequest
from tokenstile.server import page_locale, schemas, wire
from tokenstile.server.browser import (
    BrowserCookies,
    error_page,
    page_headers,
    render,
    security_key_context,
    signin_script,
    stylesheet,
)
from tokenstile.server.otp_routes import OTP_ACR, OTP_AMR, REFUSED
from tokenstile.server.wire import MAX_FORM_BYTES, read_form, request_origin
from tokenstile.store.rows import is_plain_text
from tokenstile.tokens.authorization_code import (
    CHALLENGE_PATTERN,
    AuthorizationCodeFlow,
    AuthorizeError,
    ProviderSession,
    authorize_scope,
)
from tokenstile.tokens.model import BROWSER_CLIENT_KINDS, Client, acr_satisfies, credential_ref
from tokenstile.tokens.redirect_uris import MAX_REDIRECT_URI, redirect_uri_matches

MAX_QUERY_CHARS = 8 * 1024
# The longest value each parameter may have (characters); a longer one is refused.
LIMITS: Mapping[str, int] = {
    "client_id": 128,
    "redirect_uri": MAX_REDIRECT_URI,
    "response_type": 64,
    "response_mode": 32,
    "scope": 1024,
    "state": 1024,
    "nonce": 512,
    "code_challenge": 128,
    "code_challenge_method": 16,
    "prompt": 64,
    "max_age": wire.MAX_AGE_DIGITS,
    "login_hint": 128,
    "acr_values": wire.MAX_ACR_VALUES_CHARS,
    "ui_locales": 128,
    "display": 16,
    "claims_locales": 128,
    "id_token_hint": 4096,
}
# What the sign-in form carries from the authorization request to its POST.
CARRIED = (
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "acr_values",
    "ui_locales",
)
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
MAX_CODE_INPUT = 64
_VISIBLE = re.compile(r"[\x20-\x7e]*")  # RFC 6749 appendix A: state is VSCHAR (and space)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str
    state: str | None
    scope: tuple[str, ...]
    nonce: str | None
    code_challenge: str
    prompt: frozenset[str]
    max_age: int | None
    login_hint: str
    acr_values: tuple[str, ...]
    carried: tuple[tuple[str, str], ...]


def unique_query(raw: str) -> dict[str, str]:
    """The query string's parameters, each given once (RFC 6749 section 3.1)."""
    if len(raw) > MAX_QUERY_CHARS:
        raise AuthorizeError(
            "invalid_request", "The authorization request is too long.", redirectable=False
        )
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise AuthorizeError(
            "invalid_request", "The authorization request is malformed.", redirectable=False
        ) from exc
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise AuthorizeError(
                "invalid_request", f"The parameter {name[:40]} is repeated.", redirectable=False
            )
        params[name] = value
    return params


class AuthorizeChecks:
    """Turns parameters into an ``AuthorizationRequest``, or an ``AuthorizeError``."""

    def __init__(self, services: Services) -> None:
        self._clients = services.clients()
        self._flow = services.authorization

    def client_and_redirect(self, params: Mapping[str, str]) -> tuple[Client, str]:
        """Step 1: the client and its redirect URI, or a refusal that no app sees."""
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")

        def page(message: str) -> AuthorizeError:
            return AuthorizeError("invalid_request", message, redirectable=False)

        if not client_id:
            raise page("The request does not say which app it is for (client_id is missing).")
        if len(client_id) > LIMITS["client_id"] or not is_plain_text(client_id):
            raise page("The request names an app this service does not know.")
        client = self._clients.find(client_id)
        if client is None or not client.enabled or client.kind not in BROWSER_CLIENT_KINDS:
            raise page("The request names an app this service does not know.")
        if not redirect_uri:
            raise page("The request does not say where to return (redirect_uri is missing).")
        if not redirect_uri_matches(client.kind, client.redirect_uris, redirect_uri):
            raise page("The request asks to return to an address this app has not registered.")
        return client, redirect_uri

    def check(self, params: Mapping[str, str]) -> AuthorizationRequest:
        client, redirect_uri = self.client_and_redirect(params)
        # From here an error goes back to the (registered) redirect URI, with the state if
        # the state itself is acceptable.
        state = params.get("state")
        if state is not None and (len(state) > LIMITS["state"] or not _VISIBLE.fullmatch(state)):
            raise AuthorizeError(
                "invalid_request", "The state parameter is too long or not text."
            ).towards(redirect_uri, None)
        try:
            return self._request(params, client, redirect_uri, state)
        except AuthorizeError as exc:
            raise exc.towards(redirect_uri, state) from None

    def _request(
        self, params: Mapping[str, str], client: Client, redirect_uri: str, state: str | None
    ) -> AuthorizationRequest:
        _check_sizes(params)
        _check_response(params)
        page_locale.prefer(params.get("ui_locales"))
        challenge = _pkce_challenge(params)
        scope = authorize_scope(client, params.get("scope", ""), self._flow().privileged_scopes)
        return AuthorizationRequest(
            client=client,
            redirect_uri=redirect_uri,
            state=state,
            scope=scope,
            nonce=params.get("nonce"),
            code_challenge=challenge,
            prompt=_prompt(params),
            max_age=_max_age(params),
            login_hint=params.get("login_hint", ""),
            acr_values=wire.acr_value_list(params.get("acr_values")),
            carried=tuple((name, params[name]) for name in CARRIED if name in params),
        )


def _check_sizes(params: Mapping[str, str]) -> None:
    for name, limit in LIMITS.items():
        value = params.get(name)
        if value is not None and (len(value) > limit or not is_plain_text(value)):
            raise AuthorizeError("invalid_request", f"The {name} parameter is too long.")


def _check_response(params: Mapping[str, str]) -> None:
    """No request objects or registration; ``response_type=code`` in the query only."""
    for name, error in (
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
        ("registration", "registration_not_supported"),
    ):
        if name in params:
            raise AuthorizeError(error, f"The {name} parameter is not supported.")
    response_type = params.get("response_type", "")
    if not response_type:
        raise AuthorizeError("invalid_request", "The response_type parameter is missing.")
    if response_type != "code":
        raise AuthorizeError("unsupported_response_type", "Only response_type=code is supported.")
    if params.get("response_mode", "query") != "query":
        raise AuthorizeError("invalid_request", "Only response_mode=query is supported.")


def _pkce_challenge(params: Mapping[str, str]) -> str:
    """RFC 7636 with S256, required of every client; plain (or no method) is refused."""
    challenge = params.get("code_challenge", "")
    if not challenge:
        raise AuthorizeError("invalid_request", "PKCE is required: send code_challenge (S256).")
    if params.get("code_challenge_method", "") != "S256":
        raise AuthorizeError(
            "invalid_request", "PKCE code_challenge_method must be S256 (plain is refused)."
        )
    if CHALLENGE_PATTERN.fullmatch(challenge) is None:
        raise AuthorizeError(
            "invalid_request", "The code_challenge is not a base64url SHA-256 (43 characters)."
        )
    return challenge


def _prompt(params: Mapping[str, str]) -> frozenset[str]:
    prompt = frozenset(params.get("prompt", "").split())
    if prompt - PROMPTS:
        raise AuthorizeError("invalid_request", "The prompt parameter has an unknown value.")
    if "none" in prompt and len(prompt) > 1:
        raise AuthorizeError("invalid_request", "prompt=none cannot come with other values.")
    return prompt


def _max_age(params: Mapping[str, str]) -> int | None:
    try:
        return wire.max_age_seconds(params.get("max_age"))
    except InvalidRequest as exc:
        raise AuthorizeError("invalid_request", exc.message) from None


def kiosk_sso_offer(port: int, prompt: frozenset[str]) -> tuple[str, ...]:
    """The kiosk broker's loopback origin when the sign-in page offers kiosk single
    sign-on (``kiosk_sso_port`` set, and no ``prompt=login``/``select_account``, which
    ask for a sign-in here); else nothing (``server.sso_routes``)."""
    if port == 0 or "login" in prompt or "select_account" in prompt:
        return ()
    return (f"http://127.0.0.1:{port}",)


def redirect_with(
    redirect_uri: str, values: Mapping[str, str | None], *, status: int, issuer: str
) -> RedirectResponse:
    """A redirect to the (checked) ``redirect_uri`` with ``values`` added to its query."""
    query = urlencode([(k, v) for k, v in values.items() if v is not None])
    joiner = "&" if "?" in redirect_uri else "?"
    response = RedirectResponse(f"{redirect_uri}{joiner}{query}", status_code=status)
    for name, value in page_headers(issuer).items():
        if name != "Content-Security-Policy":
            response.headers[name] = value
    return response


class AuthorizeEndpoint:
    """The work behind ``/authorize`` and the sign-in form, run in the thread pool."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._clock = services.deployment.clock
        self._service = services.token_service()
        self.issuer = self._service.issuer
        self._checks = AuthorizeChecks(services)
        self._cookies: BrowserCookies | None = None

    def flow(self) -> AuthorizationCodeFlow:
        return self._services.authorization()

    def cookies(self) -> BrowserCookies:
        if self._cookies is None:  # the key is read from the database on first use
            self._cookies = BrowserCookies(self.issuer, self._services.browser_key())
        return self._cookies

    def refused(
        self, error: AuthorizeError, ask: AuthorizationRequest | None, status: int
    ) -> Response:
        if ask is not None and error.redirect_uri is None:
            error.towards(ask.redirect_uri, ask.state)
        if error.redirect_uri is None or not error.redirectable:
            return error_page(self.issuer, error.message)
        values = {
            "error": error.code,
            "error_description": error.message,
            "state": error.state,
            "iss": self.issuer,
        }
        return redirect_with(error.redirect_uri, values, status=status, issuer=self.issuer)

    def needs_sign_in(self, ask: AuthorizationRequest, provider: ProviderSession | None) -> bool:
        if provider is None or "login" in ask.prompt or "select_account" in ask.prompt:
            return True
        if ask.max_age is not None:
            return self._clock.now() - provider.session.auth_time > ask.max_age
        return False

    def answer_with_code(
        self, ask: AuthorizationRequest, provider: ProviderSession, *, status: int
    ) -> RedirectResponse:
        """A code for the app from the provider session, unless the app's audience
        requires more assurance than the sign-in has (``access_denied``)."""
        policy = self._service.audience_policy(ask.client.default_audience)
        if policy is not None and not acr_satisfies(provider.session.acr, policy.min_acr):
            raise AuthorizeError(
                "access_denied",
                f"This app needs a stronger sign-in ({policy.min_acr}) than "
                f"{provider.session.acr}.",
            )
        code = self.flow().issue_code(
            provider,
            client=ask.client,
            redirect_uri=ask.redirect_uri,
            code_challenge=ask.code_challenge,
            scope=ask.scope,
            nonce=ask.nonce,
        )
        values = {"code": code, "state": ask.state, "iss": self.issuer}
        return redirect_with(ask.redirect_uri, values, status=status, issuer=self.issuer)

    def sign_in_page(
        self,
        request: Request,
        ask: AuthorizationRequest,
        *,
        error: str | None = None,
        username: str | None = None,
        note: str | None = None,
    ) -> Response:
        jar = self.cookies()
        pre, new = jar.ensure_pre_session(request)
        sso = kiosk_sso_offer(self._services.deployment.settings.kiosk_sso_port, ask.prompt)
        page = render(
            self.issuer,
            "signin.html",
            {
                "client_name": ask.client.name,
                "action": f"{self.issuer}/authorize/login",
                "csrf_token": jar.csrf_token(pre),
                "carried": ask.carried,
                "username": ask.login_hint if username is None else username,
                "error": error,
                "sso_action": f"{self.issuer}/authorize/sso" if sso else None,
                "note": note,
                **security_key_context(self.issuer),
            },
            status=400 if error else 200,
            form_target=ask.redirect_uri,
            also=sso,
            script=True,
        )
        if new:
            jar.set_pre_session(page, pre)
        return page

    def authorize(self, request: Request, params: dict[str, str], status: int) -> Response:
        """``/authorize``: a code, the sign-in page, or a refusal."""
        ask: AuthorizationRequest | None = None
        try:
            ask = self._checks.check(params)
            provider = self.flow().browser_session(self.cookies().session(request))
            if not self.needs_sign_in(ask, provider):
                assert provider is not None  # noqa: S101 - needs_sign_in said so
                return self.answer_with_code(ask, provider, status=status)
            if "none" not in ask.prompt:
                return self.sign_in_page(request, ask)
            error = AuthorizeError("login_required", "The person is not signed in.")
        except AuthorizeError as exc:
            error = exc
        return self.refused(error, ask, status)

    def sign_in(self, request: Request, form: dict[str, str]) -> Response:
        """``/authorize/login``: CSRF, the authorization request again, the code check."""
        jar = self.cookies()
        if not jar.csrf_ok(request, form.get("csrf_token")):
            return error_page(
                self.issuer,
                "This sign-in form has expired or did not come from this browser's page. "
                "Go back to the app and start again.",
                status=403,
            )
        ask: AuthorizationRequest | None = None
        try:
            ask = self._checks.check({k: v for k, v in form.items() if k in CARRIED})
            return self._sign_in_with_code(request, ask, form)
        except AuthorizeError as exc:
            return self.refused(exc, ask, 303)

    def _sign_in_with_code(
        self, request: Request, ask: AuthorizationRequest, form: dict[str, str]
    ) -> Response:
        username = form.get("username", "")
        code = form.get("code", "")
        origin = request_origin(request)
        if not username or len(username) > LIMITS["login_hint"] or len(code) > MAX_CODE_INPUT:
            return self.sign_in_page(request, ask, error=REFUSED, username=username[:128])
        result = self._services.otp_service().login(
            username, code, client_id=ask.client.client_id, origin=origin
        )
        if result.user is None or not result.accepted:
            return self.sign_in_page(request, ask, error=REFUSED, username=username)
        credential = result.outcome.credential
        jar = self.cookies()
        cookie, provider = self.flow().sign_in(
            user=result.user,
            client=ask.client,
            factor="otp",
            amr=OTP_AMR,
            acr=OTP_ACR,
            origin=origin,
            device={"serial": credential.serial} if credential is not None else None,
            credential=credential_ref("otp", credential.serial) if credential else None,
            replaces=self.flow().browser_session(jar.session(request)),
        )
        response: Response
        try:
            response = self.answer_with_code(ask, provider, status=303)
        except AuthorizeError as exc:  # signed in, but this app needs more: still signed in
            response = self.refused(exc, ask, 303)
        jar.set_session(response, cookie)
        return response


HTML: dict[str, Any] = {"content": {"text/html": {"schema": {"type": "string"}}}}
_FORM_FIELDS = {name: {"type": "string", "maxLength": LIMITS[name]} for name in CARRIED}
_QUERY_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": schema}
    for name, schema in _FORM_FIELDS.items()
]


def page_responses(redirect: int) -> dict[int | str, dict[str, Any]]:
    """What ``/authorize`` answers: a page, a redirect to the app, or the store's 503."""
    return {
        200: {"description": "the sign-in page", **HTML},
        redirect: {
            "description": "to the client's registered redirect URI: a code or an error",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        400: {"description": "a request that cannot go back to any app: an error page", **HTML},
        503: {"model": schemas.OAuthErrorBody, "description": "The store is unavailable; retry"},
    }


def authorize_router(services: Services) -> APIRouter:
    """``/authorize``, its sign-in form and the pages' style sheet."""
    endpoint = AuthorizeEndpoint(services)
    issuer = endpoint.issuer

    async def authorize_get(request: Request) -> Response:
        try:
            params = unique_query(request.url.query)
        except AuthorizeError as exc:
            return error_page(issuer, exc.message)
        return await run_in_threadpool(endpoint.authorize, request, params, 302)

    async def authorize_post(request: Request) -> Response:
        try:
            params = await read_form(request, MAX_QUERY_CHARS)
        except InvalidRequest as exc:
            return error_page(issuer, exc.message)
        return await run_in_threadpool(endpoint.authorize, request, params, 303)

    async def sign_in(request: Request) -> Response:
        try:
            form = await read_form(request, MAX_FORM_BYTES)
        except InvalidRequest as exc:
            return error_page(issuer, exc.message)
        return await run_in_threadpool(endpoint.sign_in, request, form)

    css = stylesheet()

    async def signin_css() -> Response:
        return Response(
            css,
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    script = signin_script()

    async def signin_js() -> Response:
        return Response(
            script,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    router = APIRouter()
    router.add_api_route(
        "/authorize",
        authorize_get,
        methods=["GET"],
        tags=["oidc"],
        summary="OpenID Connect authorization request (code flow with PKCE S256)",
        response_class=Response,
        responses=page_responses(302),
        openapi_extra={"parameters": _QUERY_PARAMETERS},
        name="authorize_get",
        operation_id="authorize_get",
    )
    router.add_api_route(
        "/authorize",
        authorize_post,
        methods=["POST"],
        tags=["oidc"],
        summary="OpenID Connect authorization request sent as a form",
        response_class=Response,
        responses=page_responses(303),
        openapi_extra=schemas.form_body(_FORM_FIELDS, []),
        name="authorize_post",
        operation_id="authorize_post",
    )
    router.add_api_route(
        "/authorize/login",
        sign_in,
        methods=["POST"],
        tags=["oidc"],
        summary="The browser sign-in form (username and one-time code)",
        response_class=Response,
        responses={
            **page_responses(303),
            400: {"description": "the page again with the refusal, or an error page", **HTML},
            403: {"description": "the form's CSRF token is missing or not this browser's", **HTML},
        },
        openapi_extra=schemas.form_body(
            {
                **_FORM_FIELDS,
                "csrf_token": {"type": "string"},
                "username": {"type": "string"},
                "code": {"type": "string"},
            },
            ["csrf_token", "username", "code"],
        ),
        name="authorize_login",
        operation_id="authorize_login",
    )
    router.add_api_route(
        "/authorize/static/signin.css",
        signin_css,
        methods=["GET"],
        include_in_schema=False,
    )
    router.add_api_route(
        "/authorize/static/signin.js",
        signin_js,
        methods=["GET"],
        include_in_schema=False,
    )
    return router
