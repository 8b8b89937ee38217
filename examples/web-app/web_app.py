"""A web app that signs people in with Tokenstile, built only on Authlib and Starlette.

It is the interoperability proof of issue 15 from the relying party's side: nothing here
imports Tokenstile. Authlib reads the provider's discovery document, sends the browser to
``/authorize`` with PKCE S256, exchanges the code with ``client_secret_basic`` and checks
the ID token against the provider's JWKS; the app refreshes its access token, signs out
through the provider's ``end_session_endpoint`` and ends its own sessions when the
provider POSTs a back-channel logout token.

Why the sessions live on the server: a back-channel logout token arrives from the
provider, not from the person's browser, so it carries no cookie. The app must be able to
find and end every session it opened from ID tokens with that ``sid`` on its own side. So
the browser's cookie (Starlette's signed ``SessionMiddleware`` cookie) holds only a random
session key and Authlib's short-lived sign-in state; the person, the tokens and the
provider's ``sid`` are kept here, in ``SessionStore``, indexed by ``sid``. Ending a
session removes it from the store: the cookie still exists but names nothing.

Run: ``python examples/web-app/web_app.py --help`` (README.md beside this file).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import logging
import os
import secrets
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx
import uvicorn
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

with warnings.catch_warnings():
    # Authlib 1.9 deprecates its httpx integration (which its Starlette client stands on) in
    # favour of the httpx2 fork; it still works. authlib.deprecate turns its warnings to
    # "always" on import, so it is imported first, then silenced.
    import authlib.deprecate  # type: ignore[import-untyped]  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.starlette_client import (  # type: ignore[import-untyped]
        OAuth,
        OAuthError,
    )

log = logging.getLogger("web_app")

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_LOGOUT_TOKEN_AGE = 300  # seconds: an older iat is refused (section 2.6 "recent")
CLOCK_LEEWAY = 60  # seconds of clock skew allowed between the provider and the app
JWKS_REFETCH = 30  # seconds: the least time between two reads of the provider's JWKS
SESSION_KEY = "app_session"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_LOGOUT_BODY = 64 * 1024  # bytes: a logout token is a few hundred


@dataclass(frozen=True)
class Config:
    issuer: str
    client_id: str
    client_secret: str
    base_url: str
    host: str
    port: int
    session_secret: str

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.base_url}/signed-out"


@dataclass
class AppSession:
    """One signed-in browser: who, the provider session it came from, its tokens."""

    sub: str
    sid: str
    id_token: str
    token: dict[str, Any]
    refreshes: int = 0


@dataclass
class SessionStore:
    """The app's sessions by random key (the cookie's value) and by provider ``sid``."""

    by_key: dict[str, AppSession] = field(default_factory=dict)
    by_sid: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, session: AppSession) -> str:
        key = secrets.token_urlsafe(32)
        with self.lock:
            self.by_key[key] = session
            self.by_sid.setdefault(session.sid, set()).add(key)
        return key

    def get(self, key: str | None) -> AppSession | None:
        if not key:
            return None
        with self.lock:
            return self.by_key.get(key)

    def close(self, key: str) -> None:
        with self.lock:
            session = self.by_key.pop(key, None)
            if session is not None:
                self.by_sid.get(session.sid, set()).discard(key)

    def end_sid(self, sid: str) -> int:
        """End every session opened from ID tokens with this ``sid``; how many ended."""
        with self.lock:
            keys = self.by_sid.pop(sid, set())
            for key in keys:
                self.by_key.pop(key, None)
            return len(keys)


class LogoutTokenRefused(Exception):
    """A logout token that fails a check of Back-Channel Logout 1.0 section 2.6."""


class LogoutTokenVerifier:
    """The checks of section 2.6, with joserfc against the provider's JWKS."""

    def __init__(self, issuer: str, client_id: str, jwks_uri: str, algorithms: list[str]):
        self.issuer = issuer
        self.client_id = client_id
        self.jwks_uri = jwks_uri
        self.algorithms = algorithms
        self._keys: KeySet | None = None
        self._read_again_at = float("-inf")

    async def _key_set(self, *, fresh: bool) -> KeySet:
        if self._keys is None:
            self._keys = await self._read()
        elif fresh and time.monotonic() - self._read_again_at >= JWKS_REFETCH:
            # At most every JWKS_REFETCH seconds: forged tokens with made-up key ids must
            # not turn the app into a stream of requests to the provider.
            self._read_again_at = time.monotonic()
            self._keys = await self._read()
        return self._keys

    async def _read(self) -> KeySet:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(self.jwks_uri)
            answer.raise_for_status()
            return KeySet.import_key_set(answer.json())

    async def verify(self, raw: str) -> dict[str, Any]:
        try:
            try:
                token = jwt.decode(
                    raw, await self._key_set(fresh=False), algorithms=self.algorithms
                )
            except InvalidKeyIdError:
                # A key id the app has not seen (the provider rotated): read the JWKS again.
                token = jwt.decode(raw, await self._key_set(fresh=True), algorithms=self.algorithms)
        except (JoseError, ValueError) as error:
            raise LogoutTokenRefused(f"signature: {error}") from error
        if token.header.get("typ") != "logout+jwt":
            raise LogoutTokenRefused("typ is not logout+jwt")
        claims = token.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            iat={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
            sid={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            raise LogoutTokenRefused(f"claims: {error}") from error
        now = int(time.time())
        if not now - MAX_LOGOUT_TOKEN_AGE <= int(claims["iat"]) <= now + CLOCK_LEEWAY:
            raise LogoutTokenRefused("iat is not recent")
        events = claims.get("events")
        if not isinstance(events, Mapping) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
            raise LogoutTokenRefused("events has no back-channel logout member")
        if "nonce" in claims:
            raise LogoutTokenRefused("a logout token never has a nonce")
        if not isinstance(claims["sid"], str) or not claims["sid"]:
            raise LogoutTokenRefused("sid is not a string")
        return claims


async def logout_token_of(request: Request) -> str | None:
    """The one ``logout_token`` of a form POST (read by hand: no multipart library needed,
    and the body is capped)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM_TYPE:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGOUT_BODY:
            return None
    try:
        values = parse_qs(body.decode("ascii"), strict_parsing=True).get("logout_token", [])
    except (UnicodeDecodeError, ValueError):
        return None
    return values[0] if len(values) == 1 and values[0] else None


def page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"</head><body><h1>{title}</h1>{body}</body></html>",
        headers={"Cache-Control": "no-store"},
    )


def fingerprint(token: str) -> str:
    """Enough of an access token's hash to see it changed; never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class WebApp:
    """The app's routes, over its Authlib client and its session store."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.provider = OAuth().register(
            "tokenstile",
            client_id=config.client_id,
            client_secret=config.client_secret,
            server_metadata_url=f"{config.issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": "openid offline_access",
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
        self.store = SessionStore()
        self.verifier: LogoutTokenVerifier | None = None  # built from the metadata on first use

    async def logout_verifier(self) -> LogoutTokenVerifier:
        if self.verifier is None:
            metadata = await self.provider.load_server_metadata()
            self.verifier = LogoutTokenVerifier(
                metadata["issuer"],
                self.config.client_id,
                metadata["jwks_uri"],
                list(metadata.get("id_token_signing_alg_values_supported", ["ES256"])),
            )
        return self.verifier

    def current(self, request: Request) -> AppSession | None:
        return self.store.get(request.session.get(SESSION_KEY))

    async def home(self, request: Request) -> Response:
        session = self.current(request)
        if session is None:
            return page("Signed out", "<p>Nobody is signed in.</p><a href='/login'>Sign in</a>")
        expires = session.token.get("expires_at")
        return page(
            "Signed in",
            f"<p id='who'>Signed in as {html.escape(session.sub)}</p>"
            f"<p id='sid'>Provider session {html.escape(session.sid)}</p>"
            f"<p id='access'>Access token {fingerprint(session.token['access_token'])}, "
            f"expires at {expires}, refreshed {session.refreshes} times</p>"
            "<form method='post' action='/refresh'><button>Refresh the token</button></form>"
            "<form method='post' action='/logout'><button>Sign out</button></form>",
        )

    async def login(self, request: Request) -> Response:
        response: Response = await self.provider.authorize_redirect(
            request, self.config.redirect_uri
        )
        return response

    async def callback(self, request: Request) -> Response:
        try:
            token = await self.provider.authorize_access_token(request)
        except OAuthError as error:
            return page("Sign-in failed", f"<p>{html.escape(str(error.error))}</p>")
        claims = token.get("userinfo")
        if not claims or not claims.get("sid"):
            return page("Sign-in failed", "<p>The provider sent no ID token with a sid.</p>")
        old = request.session.get(SESSION_KEY)
        if old:
            self.store.close(old)
        request.session[SESSION_KEY] = self.store.open(
            AppSession(
                sub=claims["sub"], sid=claims["sid"], id_token=token["id_token"], token=token
            )
        )
        return RedirectResponse("/", status_code=303)

    async def refresh(self, request: Request) -> Response:
        session = self.current(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        try:
            token = await self.provider.fetch_access_token(
                grant_type="refresh_token", refresh_token=session.token["refresh_token"]
            )
        except OAuthError as error:
            # The provider ended the session (a reuse, a revocation): so does the app.
            self.store.close(request.session.pop(SESSION_KEY))
            return page("Signed out", f"<p>The refresh was refused: {html.escape(error.error)}</p>")
        session.token = {**session.token, **token}
        session.refreshes += 1
        return RedirectResponse("/", status_code=303)

    async def logout(self, request: Request) -> Response:
        session = self.current(request)
        key = request.session.pop(SESSION_KEY, None)
        if key:
            self.store.close(key)
        if session is None:
            return RedirectResponse("/", status_code=303)
        response: Response = await self.provider.logout_redirect(
            request,
            post_logout_redirect_uri=self.config.post_logout_redirect_uri,
            id_token_hint=session.id_token,
        )
        return response

    async def signed_out(self, request: Request) -> Response:
        try:
            await self.provider.validate_logout_response(request)
        except OAuthError:
            return page("Signed out", "<p>Signed out (this was not our sign-out request).</p>")
        return page("Signed out", "<p id='bye'>You are signed out of the app and Tokenstile.</p>")

    async def backchannel_logout(self, request: Request) -> Response:
        no_store = {"Cache-Control": "no-store"}
        raw = await logout_token_of(request)
        if raw is None:
            return PlainTextResponse("no logout_token", status_code=400, headers=no_store)
        try:
            claims = await (await self.logout_verifier()).verify(raw)
        except LogoutTokenRefused as refused:
            log.warning("logout token refused: %s", refused)
            return PlainTextResponse("invalid logout token", status_code=400, headers=no_store)
        ended = self.store.end_sid(claims["sid"])
        log.info("back-channel logout: %d session(s) ended", ended)
        return Response(status_code=200, headers=no_store)


def create_app(config: Config) -> Starlette:
    app = WebApp(config)
    return Starlette(
        routes=[
            Route("/", app.home),
            Route("/login", app.login),
            Route("/callback", app.callback),
            Route("/refresh", app.refresh, methods=["POST"]),
            Route("/logout", app.logout, methods=["POST"]),
            Route("/signed-out", app.signed_out),
            Route("/backchannel-logout", app.backchannel_logout, methods=["POST"]),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=config.session_secret,
                session_cookie="web_app_session",
                same_site="lax",
                https_only=config.base_url.startswith("https://"),
            )
        ],
    )


def parse_config(argv: list[str] | None = None) -> Config:
    env = os.environ
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuer", default=env.get("TOKENSTILE_ISSUER"), help="$TOKENSTILE_ISSUER")
    parser.add_argument(
        "--client-id", default=env.get("WEB_APP_CLIENT_ID"), help="$WEB_APP_CLIENT_ID"
    )
    parser.add_argument("--host", default=env.get("WEB_APP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("WEB_APP_PORT", "8000")))
    parser.add_argument(
        "--base-url",
        default=env.get("WEB_APP_BASE_URL"),
        help="where browsers reach the app ($WEB_APP_BASE_URL; default http://HOST:PORT); "
        "the redirect URI is BASE/callback, the post-logout one BASE/signed-out",
    )
    args = parser.parse_args(argv)
    # The secret only from the environment: a command line is visible to every local user.
    secret = env.get("WEB_APP_CLIENT_SECRET", "")
    missing = [
        name
        for name, value in (
            ("--issuer / TOKENSTILE_ISSUER", args.issuer),
            ("--client-id / WEB_APP_CLIENT_ID", args.client_id),
            ("WEB_APP_CLIENT_SECRET", secret),
        )
        if not value
    ]
    if missing:
        parser.error("missing: " + ", ".join(missing))
    return Config(
        issuer=args.issuer.rstrip("/"),
        client_id=args.client_id,
        client_secret=secret,
        base_url=(args.base_url or f"http://{args.host}:{args.port}").rstrip("/"),
        host=args.host,
        port=args.port,
        session_secret=env.get("WEB_APP_SESSION_SECRET") or secrets.token_urlsafe(32),
    )


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    config = parse_config(argv)
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="warning")


if __name__ == "__main__":
    main()
