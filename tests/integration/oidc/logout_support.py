"""What the sign-out tests share: a relying party's back-channel endpoint (a real HTTP
server on a loopback port), Authlib's check of a logout token against the served JWKS,
and a web app registered with post-logout and back-channel URIs."""

from __future__ import annotations

import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx

from tests.integration.oidc.conftest import Browser, Provider, pkce_pair, query_of

with warnings.catch_warnings():
    # authlib.jose is deprecated in favour of joserfc; authlib.deprecate warns on import.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.jose import JsonWebKey, JWTClaims
    from authlib.jose import jwt as authlib_jwt

APP_REDIRECT = "https://shop.example/callback"
APP_BYE = "https://shop.example/signed-out"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
WAIT = 60.0  # seconds: how long a test waits for what must come (never a pass condition)
T = TypeVar("T")


@dataclass
class Delivery:
    content_type: str
    form: dict[str, list[str]]

    @property
    def token(self) -> str:
        return self.form["logout_token"][0]


@dataclass
class RelyingParty:
    """A back-channel logout endpoint: answers each POST with the next scripted status
    (200 once the script is used up), and hands every delivery to the test."""

    answers: list[int] = field(default_factory=list)
    received: queue.Queue[Delivery] = field(default_factory=queue.Queue)
    url: str = ""

    def next_answer(self) -> int:
        return self.answers.pop(0) if self.answers else 200

    def take(self) -> Delivery:
        return self.received.get(timeout=WAIT)


@contextmanager
def relying_party(answers: list[int] | None = None) -> Iterator[RelyingParty]:
    rp = RelyingParty(answers=list(answers or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            rp.received.put(Delivery(self.headers.get("Content-Type", ""), parse_qs(body)))
            status = rp.next_answer()
            self.send_response(status)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rp.url = f"http://127.0.0.1:{server.server_address[1]}/backchannel-logout"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rp
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def wait_for(what: Callable[[], T], *, until: Callable[[T], bool] = bool) -> T:
    """``what()`` once ``until`` holds of it; fails the test after ``WAIT`` seconds."""
    deadline = time.monotonic() + WAIT
    while True:
        found = what()
        if until(found):
            return found
        assert time.monotonic() < deadline, f"still {found!r} after {WAIT} s"
        time.sleep(0.05)


def verify_logout_token(base: str, token: str, *, client_id: str) -> JWTClaims:
    """Authlib's verification of ``token`` against the JWKS the service serves, and the
    checks of Back-Channel Logout section 2.6 an app must make."""
    jwks = JsonWebKey.import_key_set(httpx.get(f"{base}/jwks.json", timeout=10).json())
    claims = authlib_jwt.decode(
        token,
        jwks,
        claims_options={
            "iss": {"essential": True, "value": base},
            "aud": {"essential": True, "value": client_id},
            "iat": {"essential": True},
            "exp": {"essential": True},
            "jti": {"essential": True},
            "sid": {"essential": True},
            "sub": {"essential": True},
            "events": {"essential": True},
        },
    )
    claims.validate()
    assert claims.header["typ"] == "logout+jwt"
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    return claims


@dataclass
class App:
    """A web app registered with a back-channel URI and a post-logout redirect."""

    client_id: str
    secret: str


def register_app(provider: Provider, rp_url: str | None, name: str = "Shop") -> App:
    """``name`` is made the test's own (``Shop of Records 7``): a server may be shared."""
    client, secret = provider.setup.add_client(
        f"{name} of {provider.web_name}",
        kind="web",
        audiences=[],
        scopes=[],
        redirect_uris=[APP_REDIRECT],
        post_logout_redirect_uris=[APP_BYE],
        backchannel_logout_uri=rp_url,
    )
    assert secret is not None
    return App(client.client_id, secret)


def sign_in_to(
    provider: Provider, browser: Browser, app: App, username: str, *, scope: str = "openid"
) -> dict[str, Any]:
    """The app's tokens (ID token included) after ``username`` signs in with a code."""
    verifier, challenge = pkce_pair()
    url = provider.authorize_url(
        app.client_id, APP_REDIRECT, scope=scope, code_challenge=challenge, state="st"
    )
    page = browser.get(url)
    if page.status_code == 302:
        location = page.headers["location"]
    else:
        done = browser.submit(page, username=username, code=provider.fobs[username].next_code())
        assert done.status_code == 303, done.text
        location = done.headers["location"]
    answer = provider.token(
        {
            "grant_type": "authorization_code",
            "code": query_of(location)["code"],
            "redirect_uri": APP_REDIRECT,
            "code_verifier": verifier,
        },
        auth=(app.client_id, app.secret),
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def live_sids(provider: Provider, username: str) -> set[str]:
    now = provider.setup.clock.now()
    return {
        s.sid
        for s in provider.setup.store.sessions_of(username)
        if s.revoked_at is None and s.expires_at > now
    }
