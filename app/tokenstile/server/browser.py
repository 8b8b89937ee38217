"""What the browser-facing pages share: templates, cookies, CSRF tokens, security headers.

The sign-in pages are server-rendered Jinja2 templates (``server/templates``), escaped
by default; their headers forbid frames, foreign form targets (a strict
Content-Security-Policy), caching and referrers, and every script but one: the sign-in
page loads ``signin.js`` (security keys through the browser's WebAuthn) from this
service, by path and with Subresource Integrity, and may ``fetch`` its own origin only.
No page has inline script; without JavaScript the sign-in page is its one-time-code form.
The pages speak the request's language (:mod:`tokenstile.server.page_locale`).

Two cookies, both ``HttpOnly``, ``SameSite=Lax``, ``Path=/``: the **pre-session** cookie,
a random value set with the sign-in page, to which each form's CSRF token is bound (an
HMAC of it under the deployment's ``browser_key``), and the **session** cookie of the
provider session. With an ``https`` issuer their names carry the ``__Host-`` prefix and
they are ``Secure``; with a loopback ``http`` issuer (development, tests) they are
neither, since browsers refuse a ``__Host-`` cookie that is not ``Secure`` and never send
a ``Secure`` one over plain http.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from tokenstile.errors import NO_STORE
from tokenstile.server import page_locale

PRE_SESSION_BYTES = 32
MAX_COOKIE_CHARS = 128
_CSRF_LABEL = b"tokenstile sign-in form\x00"


@cache
def templates(locale: str = page_locale.SOURCE) -> Environment:
    """The sign-in pages' templates in one language, loaded once, HTML-escaped (the
    arguments of a translated message too: new-style gettext)."""
    folder = str(files("tokenstile.server").joinpath("templates"))
    environment = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        page_locale.translations(locale), newstyle=True
    )
    return environment


def stylesheet() -> bytes:
    return files("tokenstile.server").joinpath("templates", "signin.css").read_bytes()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def signin_script() -> bytes:
    return files("tokenstile.server").joinpath("templates", "signin.js").read_bytes()


@cache
def script_integrity() -> str:
    """The Subresource Integrity value of ``signin.js`` (W3C SRI, sha384)."""
    digest = hashlib.sha384(signin_script()).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")


def security_key_context(issuer: str) -> dict[str, str]:
    """What the sign-in page needs for its security-key button. The URLs are paths,
    resolved against the page's own origin: the server checks that the key signed for
    the issuer's origin, and a page served under any other name fails that check."""
    base = urlsplit(issuer).path.rstrip("/")
    return {
        "key_options": f"{base}/authorize/webauthn/options",
        "key_action": f"{base}/authorize/webauthn",
        "script_url": f"{base}/authorize/static/signin.js",
        "script_integrity": script_integrity(),
    }


def page_headers(
    issuer: str,
    *,
    form_target: str | None = None,
    also: tuple[str, ...] = (),
    script: bool = False,
) -> dict[str, str]:
    """The headers of every page: no frame, forms only to this service (and, after the
    sign-in form's redirect, to the app's checked redirect URI's origin, and to the
    origins in ``also``: the kiosk broker's loopback address for single sign-on); no
    script, or with ``script`` this service's own script file and fetches to the page's
    origin."""
    form_action = "'self'" if form_target is None else f"'self' {origin_of(form_target)}"
    form_action = " ".join([form_action, *also])
    scripts = "script-src 'self'; connect-src 'self'; " if script else ""
    csp = (
        f"default-src 'none'; {scripts}style-src {origin_of(issuer)}; img-src 'self'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        **NO_STORE,
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def render(
    issuer: str,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    form_target: str | None = None,
    also: tuple[str, ...] = (),
    script: bool = False,
) -> HTMLResponse:
    locale = page_locale.current()
    page = templates(locale).get_template(template)
    html = page.render(static_url=f"{issuer}/authorize/static", lang=locale, **context)
    headers = page_headers(issuer, form_target=form_target, also=also, script=script)
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(issuer: str, message: str, *, status: int = 400) -> HTMLResponse:
    """An authorization request that cannot go back to any app: said here, sent nowhere."""
    return render(issuer, "error.html", {"message": message}, status=status)


class BrowserCookies:
    """The cookie names and attributes of one issuer, and the CSRF tokens bound to the
    pre-session cookie."""

    def __init__(self, issuer: str, key: bytes) -> None:
        secure = urlsplit(issuer).scheme == "https"
        prefix = "__Host-" if secure else ""
        self.secure = secure
        self.session_name = f"{prefix}tokenstile-session"
        self.pre_session_name = f"{prefix}tokenstile-pre"
        self._key = key

    def _set(self, response: Response, name: str, value: str) -> None:
        response.set_cookie(
            name, value, path="/", secure=self.secure, httponly=True, samesite="lax"
        )

    def session(self, request: Request) -> str | None:
        value = request.cookies.get(self.session_name)
        return value if value and len(value) <= MAX_COOKIE_CHARS else None

    def set_session(self, response: Response, value: str) -> None:
        self._set(response, self.session_name, value)

    def pre_session(self, request: Request) -> str | None:
        value = request.cookies.get(self.pre_session_name)
        return value if value and len(value) <= MAX_COOKIE_CHARS else None

    def ensure_pre_session(self, request: Request) -> tuple[str, bool]:
        """The browser's pre-session value, or a new one (then True: set it)."""
        value = self.pre_session(request)
        if value is not None:
            return value, False
        return secrets.token_urlsafe(PRE_SESSION_BYTES), True

    def set_pre_session(self, response: Response, value: str) -> None:
        self._set(response, self.pre_session_name, value)

    def csrf_token(self, pre_session: str) -> str:
        mac = hmac.new(self._key, _CSRF_LABEL + pre_session.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def csrf_ok(self, request: Request, token: str | None) -> bool:
        """Whether ``token`` was made for this browser's pre-session cookie."""
        pre = self.pre_session(request)
        if pre is None or not token or len(token) > MAX_COOKIE_CHARS:
            return False
        return hmac.compare_digest(self.csrf_token(pre), token)
