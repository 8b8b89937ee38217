"""Kiosk single sign-on, the service's side (``docs/web-apps.md``, "Kiosk single sign-on").

The sign-in page offers "Use the sign-in at this kiosk" when ``kiosk_sso_port`` is set;
that form (with the page's CSRF token) comes to ``POST /authorize/sso``, which checks
the authorization request again, makes a hand-off bound to this browser's pre-session
cookie (``tokens.kiosk_sso``) and sends the browser to the kiosk's broker at
``http://127.0.0.1:<port>/sso?handoff=<id>`` with nothing else. The broker proves the
kiosk session at ``POST /sso/handoff`` (its own local access token, DPoP when bound),
gets a one-time ticket, and sends the browser back to ``GET /authorize/sso/continue?
handoff=<id>&ticket=<ticket>``: a satisfied hand-off, brought by the browser whose
cookie made it and with its ticket, shows "Continue as <name> (signed in at this kiosk)"; its form
(``POST /authorize/sso/continue``, CSRF again) uses the hand-off once, ties the
browser's session cookie to the kiosk session (so the kiosk's sign-out ends it) and
answers the app with a code at its registered redirect URI, whose ID token carries the
kiosk session's ``sid``, ``acr``, ``amr`` and ``auth_time``. Anything else (no one signed
in at the kiosk, locked, another browser's hand-off, used, expired, ``max_age`` passed)
shows the ordinary sign-in page or an error page; nothing goes anywhere else.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from tokenstile.composition import Services
from tokenstile.errors import NO_STORE, InvalidGrant, InvalidRequest, InvalidToken
from tokenstile.server import schemas
from tokenstile.server.authorize_routes import (
    CARRIED,
    HTML,
    LIMITS,
    MAX_QUERY_CHARS,
    AuthorizationRequest,
    AuthorizeChecks,
    AuthorizeEndpoint,
    kiosk_sso_offer,
    page_responses,
)
from tokenstile.server.browser import error_page, page_headers, render
from tokenstile.server.dpop import presented_token, proof_jkt
from tokenstile.server.wire import MAX_FORM_BYTES, json_response, read_form, request_origin
from tokenstile.tokens.authorization_code import AuthorizeError, ProviderSession
from tokenstile.tokens.dpop import DpopProofError
from tokenstile.tokens.kiosk_sso import HANDOFF_PATTERN

EXPIRED = (
    "The sign-in at this kiosk could not be used (it ended, the kiosk is locked, or this "
    "page waited too long). Sign in here, or sign in at the kiosk and try again."
)
FORM_EXPIRED = (
    "This sign-in form has expired or did not come from this browser's page. "
    "Go back to the app and start again."
)


class KioskSsoEndpoint:
    """The work behind the routes, run in the thread pool."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._authorize = AuthorizeEndpoint(services)
        self._checks = AuthorizeChecks(services)
        self._port = services.deployment.settings.kiosk_sso_port
        self._clock = services.deployment.clock
        self.issuer = self._authorize.issuer

    def start(self, request: Request, form: dict[str, str]) -> Response:
        """``POST /authorize/sso``: a hand-off for this browser, off to the broker."""
        jar = self._authorize.cookies()
        if not jar.csrf_ok(request, form.get("csrf_token")):
            return error_page(self.issuer, FORM_EXPIRED, status=403)
        ask: AuthorizationRequest | None = None
        try:
            ask = self._checks.check({k: v for k, v in form.items() if k in CARRIED})
        except AuthorizeError as exc:
            return self._authorize.refused(exc, ask, 303)
        broker = kiosk_sso_offer(self._port, ask.prompt)
        pre = jar.pre_session(request)
        if not broker or pre is None:  # prompt=login asks for a sign-in here
            return self._authorize.sign_in_page(request, ask)
        handoff = self._services.kiosk_sso().start(pre, ask.carried)
        response = RedirectResponse(
            f"{broker[0]}/sso?{urlencode({'handoff': handoff})}", status_code=303
        )
        response.headers.update(_redirect_headers(self.issuer))
        return response

    def satisfy(self, request: Request, form: dict[str, str]) -> Response:
        """``POST /sso/handoff``: the broker proves the kiosk session for a hand-off."""
        presented = presented_token(request)
        if presented is None:
            raise InvalidToken("Send the kiosk session's access token.", headers=dict(NO_STORE))
        kind, token = presented
        jkt = None
        if kind == "dpop":
            try:
                jkt = proof_jkt(request, self._services.token_service(), access_token=token)
            except DpopProofError as exc:
                raise InvalidToken(exc.message, headers=dict(NO_STORE)) from exc
            if jkt is None:
                raise InvalidToken("The DPoP scheme needs a DPoP proof.", headers=dict(NO_STORE))
        handoff = form.get("handoff", "")
        ticket = self._services.kiosk_sso().satisfy(
            handoff, token, dpop_jkt=jkt, origin=request_origin(request)
        )
        return json_response({"ticket": ticket}, headers=NO_STORE)

    def confirm_page(self, request: Request, handoff: str, ticket: str) -> Response:
        """``GET /authorize/sso/continue``: who would continue, or the sign-in page."""
        jar = self._authorize.cookies()
        pre = jar.pre_session(request)
        sso = self._services.kiosk_sso()
        try:
            found, provider = sso.peek(handoff, ticket, pre)
        except InvalidGrant:
            return self._fallback(request, handoff, pre)
        try:
            ask = self._checks.check(dict(found.request))
        except AuthorizeError as exc:
            return self._authorize.refused(exc, None, 303)
        if pre is None:  # peek refused it already; for the type checker
            return error_page(self.issuer, EXPIRED)
        user = provider.user
        return render(
            self.issuer,
            "kiosk_sso.html",
            {
                "client_name": ask.client.name,
                "name": user.display_name or user.username,
                "username": user.username,
                "action": f"{self.issuer}/authorize/sso/continue",
                "csrf_token": jar.csrf_token(pre),
                "handoff": handoff,
                "ticket": ticket,
            },
            form_target=ask.redirect_uri,
        )

    def finish(self, request: Request, form: dict[str, str]) -> Response:
        """``POST /authorize/sso/continue``: the hand-off used once, a code for the app."""
        jar = self._authorize.cookies()
        if not jar.csrf_ok(request, form.get("csrf_token")):
            return error_page(self.issuer, FORM_EXPIRED, status=403)
        pre = jar.pre_session(request)
        handoff = form.get("handoff", "")
        try:
            found, provider = self._services.kiosk_sso().claim(handoff, form.get("ticket", ""), pre)
        except InvalidGrant:
            return self._fallback(request, handoff, pre)
        ask: AuthorizationRequest | None = None
        try:
            ask = self._checks.check(dict(found.request))
            if self._authorize.needs_sign_in(ask, provider):  # max_age: the kiosk's auth_time
                return self._authorize.sign_in_page(request, ask, note=EXPIRED)
            response = self._answer(ask, provider)
        except AuthorizeError as exc:
            return self._authorize.refused(exc, ask, 303)
        return response

    # -- inside --------------------------------------------------------------------------

    def _answer(self, ask: AuthorizationRequest, provider: ProviderSession) -> Response:
        """The code, and the browser's session cookie tied to the kiosk session."""
        cookie = self._services.authorization().bind_browser(provider)
        response = self._authorize.answer_with_code(ask, provider, status=303)
        self._authorize.cookies().set_session(response, cookie)
        return response

    def _fallback(self, request: Request, handoff: str, pre: str | None) -> Response:
        """The sign-in page of this browser's hand-off's request, with a note; for any
        other hand-off (made up, another browser's, used, expired) an error page."""
        try:
            carried = self._services.kiosk_sso().request_of(handoff, pre)
            ask = self._checks.check(dict(carried))
        except (InvalidGrant, AuthorizeError):
            return error_page(self.issuer, EXPIRED)
        return self._authorize.sign_in_page(request, ask, note=EXPIRED)


def _redirect_headers(issuer: str) -> dict[str, str]:
    return {k: v for k, v in page_headers(issuer).items() if k != "Content-Security-Policy"}


def sso_router(services: Services) -> APIRouter:
    """The kiosk single sign-on routes (present always; they refuse when it is off)."""
    endpoint = KioskSsoEndpoint(services)
    issuer = endpoint.issuer

    async def start(request: Request) -> Response:
        try:
            form = await read_form(request, MAX_QUERY_CHARS)
        except InvalidRequest as exc:
            return error_page(issuer, exc.message)
        return await run_in_threadpool(endpoint.start, request, form)

    async def satisfy(request: Request) -> Response:
        form = await read_form(request, MAX_FORM_BYTES)
        return await run_in_threadpool(endpoint.satisfy, request, form)

    async def confirm(request: Request) -> Response:
        handoff = request.query_params.get("handoff", "")
        ticket = request.query_params.get("ticket", "")
        if HANDOFF_PATTERN.fullmatch(handoff) is None:
            return error_page(issuer, EXPIRED)
        return await run_in_threadpool(endpoint.confirm_page, request, handoff, ticket)

    async def finish(request: Request) -> Response:
        try:
            form = await read_form(request, MAX_FORM_BYTES)
        except InvalidRequest as exc:
            return error_page(issuer, exc.message)
        return await run_in_threadpool(endpoint.finish, request, form)

    router = APIRouter()
    page: dict[str, Any] = {"response_class": Response, "tags": ["oidc"]}
    carried = {name: {"type": "string", "maxLength": LIMITS[name]} for name in CARRIED}
    handoff_fields = {
        "csrf_token": {"type": "string"},
        "handoff": {"type": "string"},
        "ticket": {"type": "string"},
    }
    router.add_api_route(
        "/authorize/sso",
        start,
        methods=["POST"],
        summary="Kiosk single sign-on: a hand-off for this browser, sent to the kiosk's broker",
        responses={
            **page_responses(303),
            200: {"description": "the sign-in page (prompt=login, or no single sign-on)", **HTML},
            403: {"description": "the form's CSRF token is missing or not this browser's", **HTML},
        },
        openapi_extra=schemas.form_body({**carried, "csrf_token": {"type": "string"}}, []),
        operation_id="kiosk_sso_start",
        **page,
    )
    router.add_api_route(
        "/sso/handoff",
        satisfy,
        methods=["POST"],
        summary="Kiosk single sign-on: the kiosk's broker proves its session for a hand-off",
        responses={
            200: {
                "description": "the hand-off is satisfied: the browser's one-time ticket",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"ticket": {"type": "string"}},
                            "required": ["ticket"],
                        }
                    }
                },
            },
            400: {"model": schemas.OAuthErrorBody, "description": "the hand-off is refused"},
            401: {"model": schemas.OAuthErrorBody, "description": "no or a bad access token"},
            503: {"model": schemas.OAuthErrorBody, "description": "The store is unavailable"},
        },
        openapi_extra=schemas.form_body({"handoff": {"type": "string"}}, ["handoff"]),
        operation_id="kiosk_sso_handoff",
        **page,
    )
    router.add_api_route(
        "/authorize/sso/continue",
        confirm,
        methods=["GET"],
        summary="Kiosk single sign-on: who would continue",
        responses=page_responses(303),
        openapi_extra={
            "parameters": [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in ("handoff", "ticket")
            ]
        },
        operation_id="kiosk_sso_confirm",
        **page,
    )
    router.add_api_route(
        "/authorize/sso/continue",
        finish,
        methods=["POST"],
        summary="Kiosk single sign-on: continue as the person signed in at the kiosk",
        responses={
            **page_responses(303),
            403: {"description": "the form's CSRF token is missing or not this browser's", **HTML},
        },
        openapi_extra=schemas.form_body(handoff_fields, []),
        operation_id="kiosk_sso_finish",
        **page,
    )
    return router
