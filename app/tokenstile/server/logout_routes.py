"""``GET/POST /logout``: OpenID Connect RP-Initiated Logout 1.0, and its confirmation form.

Parameters: ``id_token_hint``, ``client_id``, ``post_logout_redirect_uri``, ``state``
(``ui_locales`` and ``logout_hint`` are accepted and ignored), each at most once and
within its size limit.

What is checked, in this order:

1. A hint that is present must be an ID token this service signed
   (``tokens.logout.verify_id_token_hint``: our key, our issuer; its expiry may have
   passed), and a ``client_id`` sent with it must be its ``aud``. Otherwise an error
   page: nothing ends, nothing is redirected (section 2: the OP must not act on a hint
   it cannot verify).
2. The client (the hint's ``aud`` or ``client_id``) must be a web or native client this
   service knows; ``post_logout_redirect_uri`` is used only if it is, exactly, one that
   client registered (section 3). Otherwise the person gets a page, never a redirect:
   ``/logout`` is no open redirector.

Who may end what, without asking (section 2: the OP "MUST ask the End-User" whether to
log out when no valid hint proves the request comes from the app for the current
session):

* a valid hint whose ``sid`` is this browser's provider session, or when the browser has
  no session: the hint's provider session ends at once (the app that holds an ID token
  for it is asking), and with it the app sessions under it, each app with a
  back-channel URI told (``server.backchannel``);
* anything else (no hint, or a hint for another session than the browser's): a
  confirmation page. Its form is bound to this browser's pre-session cookie by a CSRF
  token (as the sign-in form), so a cross-site page can show the question but cannot
  answer it: a cross-site ``GET /logout`` or a forged ``POST /logout/confirm`` never
  signs anyone out. The page carries no script and the strict CSP of the sign-in page.

``POST /logout/confirm`` checks the CSRF token and the request again, then ends the
browser's provider session and the hint's (when valid), clears the session cookie, and
redirects to the registered post-logout URI with ``state``, or shows the signed-out page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from tokenstile.composition import Services
from tokenstile.errors import InvalidRequest
from tokenstile.server import schemas
from tokenstile.server.authorize_routes import HTML, AuthorizeEndpoint, unique_query
from tokenstile.server.browser import error_page, page_headers, render
from tokenstile.server.wire import MAX_FORM_BYTES, read_form, request_origin
from tokenstile.store import schema as t
from tokenstile.store.rows import is_plain_text
from tokenstile.store.token_tx import SESSION_ROWS
from tokenstile.tokens.authorization_code import AuthorizeError
from tokenstile.tokens.logout import MAX_HINT_CHARS, IdTokenHint, verify_id_token_hint
from tokenstile.tokens.model import BROWSER_CLIENT_KINDS, Client
from tokenstile.tokens.redirect_uris import MAX_REDIRECT_URI

LIMITS: Mapping[str, int] = {
    "id_token_hint": MAX_HINT_CHARS,
    "client_id": 128,
    "post_logout_redirect_uri": MAX_REDIRECT_URI,
    "state": 1024,
    "ui_locales": 128,
    "logout_hint": 256,
}
CARRIED = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")
LOGOUT_REASON = "logout"


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    hint: IdTokenHint | None
    client: Client | None
    # The post-logout redirect URI when, and only when, the client registered it.
    redirect_uri: str | None
    state: str | None
    carried: tuple[tuple[str, str], ...]


class LogoutEndpoint:
    """The work behind ``/logout`` and its confirmation, run in the thread pool."""

    def __init__(self, services: Services, authorize: AuthorizeEndpoint) -> None:
        self._services = services
        self._deployment = services.deployment
        self._clients = services.clients()
        self._authorize = authorize
        self.issuer = authorize.issuer

    def check(self, params: Mapping[str, str]) -> LogoutRequest:
        for name, limit in LIMITS.items():
            value = params.get(name)
            if value is not None and (len(value) > limit or not is_plain_text(value)):
                raise InvalidRequest(f"The {name} parameter is too long or not text.")
        hint: IdTokenHint | None = None
        raw_hint = params.get("id_token_hint")
        if raw_hint:
            d = self._deployment
            hint = verify_id_token_hint(
                raw_hint,
                keyring=d.keyring(fresh=True),
                issuer=self.issuer,
                now=d.clock.now(),
                max_lifetime=float(d.max_token_lifetime()),
            )
            if hint is None:
                raise InvalidRequest(
                    "The sign-out request carries an ID token this service did not issue or "
                    "that was altered. Nobody was signed out."
                )
        client_id = params.get("client_id") or None
        if hint is not None and client_id is not None and client_id != hint.client_id:
            raise InvalidRequest(
                "The sign-out request names one app but carries another app's ID token. "
                "Nobody was signed out."
            )
        client_id = hint.client_id if hint is not None else client_id
        client: Client | None = None
        if client_id is not None:
            client = self._clients.find(client_id)
            if client is None or not client.enabled or client.kind not in BROWSER_CLIENT_KINDS:
                raise InvalidRequest(
                    "The sign-out request names an app this service does not know."
                )
        wanted = params.get("post_logout_redirect_uri")
        redirect_uri = (
            wanted
            if wanted and client is not None and wanted in client.post_logout_redirect_uris
            else None
        )
        return LogoutRequest(
            hint=hint,
            client=client,
            redirect_uri=redirect_uri,
            state=params.get("state"),
            carried=tuple((n, params[n]) for n in CARRIED if params.get(n)),
        )

    def _end(self, sid: str, *, subject: str | None, origin: str) -> bool:
        """End the session ``sid`` (of ``subject``, when given) with its audit row."""
        store = self._deployment.store
        with store.write() as tx:
            row = tx.connection.execute(SESSION_ROWS.where(t.sessions.c.sid == sid)).first()
            if row is None or (subject is not None and row.username != subject):
                return False
            return tx.end_session(
                row,
                reason=LOGOUT_REASON,
                by=row.username,
                origin=origin,
                at=self._deployment.clock.now(),
            )

    def _browser_sid(self, request: Request) -> str | None:
        cookies = self._authorize.cookies()
        provider = self._authorize.flow().browser_session(cookies.session(request))
        return provider.session.sid if provider is not None else None

    def _done(self, ask: LogoutRequest) -> Response:
        response: Response
        if ask.redirect_uri is not None:
            query = urlencode({"state": ask.state} if ask.state else {})
            joiner = "&" if "?" in ask.redirect_uri else "?"
            target = f"{ask.redirect_uri}{joiner}{query}" if query else ask.redirect_uri
            response = RedirectResponse(target, status_code=303)
            for name, value in page_headers(self.issuer).items():
                if name != "Content-Security-Policy":
                    response.headers[name] = value
        else:
            response = render(
                self.issuer,
                "signed_out.html",
                {"client_name": ask.client.name if ask.client is not None else None},
            )
        cookies = self._authorize.cookies()
        response.delete_cookie(
            cookies.session_name, path="/", secure=cookies.secure, httponly=True, samesite="lax"
        )
        return response

    def _confirm_page(self, request: Request, ask: LogoutRequest) -> Response:
        cookies = self._authorize.cookies()
        pre, new = cookies.ensure_pre_session(request)
        page = render(
            self.issuer,
            "logout.html",
            {
                "client_name": ask.client.name if ask.client is not None else None,
                "action": f"{self.issuer}/logout/confirm",
                "csrf_token": cookies.csrf_token(pre),
                "carried": ask.carried,
            },
            form_target=ask.redirect_uri,
        )
        if new:
            cookies.set_pre_session(page, pre)
        return page

    def logout(self, request: Request, params: Mapping[str, str]) -> Response:
        """``/logout``: sign out at once, ask first, or refuse (see the module docstring)."""
        try:
            ask = self.check(params)
        except InvalidRequest as exc:
            return error_page(self.issuer, exc.message)
        browser_sid = self._browser_sid(request)
        hint = ask.hint
        if hint is not None and (browser_sid is None or browser_sid == hint.sid):
            if hint.sid is not None:
                self._end(hint.sid, subject=hint.subject, origin=request_origin(request))
            return self._done(ask)
        if browser_sid is None:
            # Nobody is signed in here: nothing to ask, nothing ends.
            return self._done(ask)
        return self._confirm_page(request, ask)

    def confirm(self, request: Request, form: Mapping[str, str]) -> Response:
        """``/logout/confirm``: the person said yes on this service's own page."""
        if not self._authorize.cookies().csrf_ok(request, form.get("csrf_token")):
            return error_page(
                self.issuer,
                "This sign-out form has expired or did not come from this browser's page. "
                "Nobody was signed out.",
                status=403,
            )
        try:
            ask = self.check({k: v for k, v in form.items() if k in CARRIED})
        except InvalidRequest as exc:
            return error_page(self.issuer, exc.message)
        origin = request_origin(request)
        browser_sid = self._browser_sid(request)
        if browser_sid is not None:
            self._end(browser_sid, subject=None, origin=origin)
        if ask.hint is not None and ask.hint.sid is not None and ask.hint.sid != browser_sid:
            self._end(ask.hint.sid, subject=ask.hint.subject, origin=origin)
        return self._done(ask)


_FIELDS = {name: {"type": "string", "maxLength": LIMITS[name]} for name in LIMITS}


def logout_router(services: Services) -> APIRouter:
    """``/logout`` (GET and POST) and ``/logout/confirm``."""
    endpoint = LogoutEndpoint(services, AuthorizeEndpoint(services))
    issuer = endpoint.issuer

    async def logout_get(request: Request) -> Response:
        try:
            params = unique_query(request.url.query)
        except AuthorizeError as exc:
            return error_page(issuer, exc.message)
        return await run_in_threadpool(endpoint.logout, request, params)

    async def logout_post(request: Request) -> Response:
        try:
            params = await read_form(request, MAX_FORM_BYTES)
        except InvalidRequest as exc:
            return error_page(issuer, exc.message)
        return await run_in_threadpool(endpoint.logout, request, params)

    async def confirm(request: Request) -> Response:
        try:
            form = await read_form(request, MAX_FORM_BYTES)
        except InvalidRequest as exc:
            return error_page(issuer, exc.message)
        return await run_in_threadpool(endpoint.confirm, request, form)

    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "the confirmation page or the signed-out page", **HTML},
        303: {
            "description": "to the client's registered post_logout_redirect_uri",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        400: {"description": "a request this service cannot act on: an error page", **HTML},
        503: {"model": schemas.OAuthErrorBody, "description": "The store is unavailable; retry"},
    }
    router = APIRouter()
    router.add_api_route(
        "/logout",
        logout_get,
        methods=["GET"],
        tags=["oidc"],
        summary="OpenID Connect RP-initiated logout",
        response_class=Response,
        responses=responses,
        openapi_extra={
            "parameters": [
                {"name": name, "in": "query", "required": False, "schema": schema}
                for name, schema in _FIELDS.items()
            ]
        },
        name="logout_get",
        operation_id="logout_get",
    )
    router.add_api_route(
        "/logout",
        logout_post,
        methods=["POST"],
        tags=["oidc"],
        summary="OpenID Connect RP-initiated logout sent as a form",
        response_class=Response,
        responses=responses,
        openapi_extra=schemas.form_body(_FIELDS, []),
        name="logout_post",
        operation_id="logout_post",
    )
    router.add_api_route(
        "/logout/confirm",
        confirm,
        methods=["POST"],
        tags=["oidc"],
        summary="The sign-out confirmation form",
        response_class=Response,
        responses={
            **responses,
            403: {"description": "the form's CSRF token is missing or not this browser's", **HTML},
        },
        openapi_extra=schemas.form_body(
            {**{n: _FIELDS[n] for n in CARRIED}, "csrf_token": {"type": "string"}},
            ["csrf_token"],
        ),
        name="logout_confirm",
        operation_id="logout_confirm",
    )
    return router
