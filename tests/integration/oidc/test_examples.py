"""The example apps (examples/web-app, examples/native-app), built on Authlib and never on
Tokenstile code, against a real ``tokenstile server`` process: the interoperability proof
of issue 15 with independent clients.

The web app runs as its own process (uvicorn on a free port); our browser (httpx with a
cookie jar, every redirect followed by hand) signs in on the provider's page with a code
from the person's fob. The native app runs as a subprocess; the browser follows the URL
it prints and lands on its loopback listener.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.admin_tokens import new_admin_headers
from tests.conftest import ServerProcess, free_port
from tests.integration.oidc.conftest import Browser, Provider, _provider, query_of
from tests.integration.oidc.logout_support import EVENT, live_sids, wait_for
from tokenstile.deployment import Deployment

pytestmark = [pytest.mark.server, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
# Deliveries looked for every 50 ms, retried after 50 ms (doubling to 200 ms), 3 at most.
FAST: dict[str, Any] = {
    "backchannel_poll_interval": 0.05,
    "backchannel_backoff": 0.05,
    "backchannel_max_backoff": 0.2,
    "backchannel_attempts": 3,
    "backchannel_timeout": 3,
}


@pytest.fixture
def provider(server_factory: Callable[..., ServerProcess]) -> Iterator[Provider]:
    yield from _provider(server_factory(**FAST))


@dataclass
class WebApp:
    base: str
    client_id: str
    process: subprocess.Popen[bytes]
    log: Path
    secret: str

    def check_log(self) -> None:
        """No error, no warning, and the client secret never in the app's own log."""
        text = self.log.read_text()
        assert "Traceback" not in text, text
        assert "Warning" not in text, text
        assert self.secret not in text

    def home(self, browser: Browser) -> str:
        answer = browser.get(f"{self.base}/")
        assert answer.status_code == 200, answer.text
        return answer.text


@pytest.fixture
def web_app(provider: Provider, tmp_path: Path) -> Iterator[WebApp]:
    """``examples/web-app/web_app.py`` as a real process, registered as the README says."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client, secret = provider.setup.add_client(
        "Shop",
        kind="web",
        audiences=[],
        scopes=[],
        redirect_uris=[f"{base}/callback"],
        post_logout_redirect_uris=[f"{base}/signed-out"],
        backchannel_logout_uri=f"{base}/backchannel-logout",
    )
    assert secret is not None
    log = tmp_path / "web-app.log"
    env = {**os.environ, "WEB_APP_CLIENT_SECRET": secret, "TOKENSTILE_ISSUER": provider.base}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                str(EXAMPLES / "web-app" / "web_app.py"),
                # one "=": a client ID may start with "-" (argparse would take it for an option)
                f"--client-id={client.client_id}",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    app = WebApp(base, client.client_id, process, log, secret)
    try:

        def up() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(f"{base}/", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up)
        yield app
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(log.read_text())  # the app's own log, shown when a test fails


def follow(browser: Browser, answer: httpx.Response) -> httpx.Response:
    """Follow redirects by hand (each ``Location`` against the URL that sent it)."""
    for _ in range(10):
        if answer.status_code not in (301, 302, 303, 307, 308):
            return answer
        target = urljoin(str(answer.request.url), answer.headers["location"])
        answer = browser.get(target)
    raise AssertionError("too many redirects")


def sign_in(provider: Provider, browser: Browser, app: WebApp, username: str) -> str:
    """The app's home page after ``username`` signs in through ``/login``."""
    signin_page = follow(browser, browser.get(f"{app.base}/login"))
    assert urlsplit(str(signin_page.request.url)).path == "/authorize", signin_page.text
    done = browser.submit(signin_page, username=username, code=provider.fobs[username].next_code())
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(f"{app.base}/callback?")
    home = follow(browser, done)
    assert home.status_code == 200, home.text
    return home.text


def provider_sid(home: str) -> str:
    found = re.search(r"Provider session ([^<]+)<", home)
    assert found, home
    return found.group(1)


def access_fingerprint(home: str) -> str:
    found = re.search(r"Access token ([0-9a-f]{16}),", home)
    assert found, home
    return found.group(1)


def test_the_web_app_signs_in_refreshes_and_signs_out(provider: Provider, web_app: WebApp) -> None:
    provider.person("alice")
    browser = provider.browser()
    assert "Nobody is signed in" in web_app.home(browser)

    home = sign_in(provider, browser, web_app, "alice")
    assert "Signed in as alice" in home
    sid = provider_sid(home)
    assert sid in live_sids(provider, "alice")
    before = access_fingerprint(home)

    # The app refreshes its access token with its refresh token (offline_access).
    refreshed = follow(browser, browser.http.post(f"{web_app.base}/refresh"))
    assert "Signed in as alice" in refreshed.text
    assert "refreshed 1 times" in refreshed.text
    assert access_fingerprint(refreshed.text) != before

    # RP-initiated logout: the app sends the browser to end_session_endpoint with its ID
    # token as the hint and its registered post-logout URI; it comes back with the state.
    to_provider = browser.http.post(f"{web_app.base}/logout")
    assert to_provider.status_code == 302
    location = to_provider.headers["location"]
    assert location.startswith(f"{provider.base}/logout?")
    assert "id_token_hint=" in location
    landed = follow(browser, to_provider)
    assert urlsplit(str(landed.request.url)).path == "/signed-out"
    assert "You are signed out of the app and Tokenstile" in landed.text
    assert live_sids(provider, "alice") == set()  # the provider session ended, its app's too
    assert "Nobody is signed in" in web_app.home(browser)
    # The browser's provider sign-in is gone: the next /login shows the sign-in page.
    again = follow(browser, browser.get(f"{web_app.base}/login"))
    assert urlsplit(str(again.request.url)).path == "/authorize"
    assert again.status_code == 200
    web_app.check_log()


def test_an_admin_revoking_the_session_signs_the_browser_out_of_the_web_app(
    provider: Provider, web_app: WebApp
) -> None:
    provider.person("bob")
    provider.person("carol")
    bob = provider.browser()
    carol = provider.browser()
    sid = provider_sid(sign_in(provider, bob, web_app, "bob"))
    assert "Signed in as carol" in sign_in(provider, carol, web_app, "carol")

    # The admin ends Bob's provider session through the running server's admin API.
    dep = Deployment(provider.server.settings)
    try:
        headers = new_admin_headers(dep)
    finally:
        dep.close()
    done = httpx.post(
        f"{provider.base}/admin/sessions/revoke", json={"sid": sid}, headers=headers, timeout=10
    )
    assert done.status_code == 200, done.text

    # The provider POSTs a logout token to the app's process, which ends Bob's session.
    shown = wait_for(lambda: web_app.home(bob), until=lambda page: "Nobody is signed in" in page)
    assert "Signed in as bob" not in shown
    (delivered,) = wait_for(lambda: provider.audit("backchannel_logout_delivered"))
    assert delivered["client_id"] == web_app.client_id
    assert delivered["detail"]["answer"] == 200
    # Only that sid: Carol, in another browser, is still signed in to the app.
    assert "Signed in as carol" in web_app.home(carol)
    web_app.check_log()


def forged(provider: Provider, app: WebApp, sid: str, *, key: Any = None, **change: Any) -> str:
    """A logout token like the provider's, signed with the provider's key unless ``key``."""
    signer = provider.setup.keyring().signer(time.time())
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": provider.base,
        "aud": app.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "sub": "dave",
        "sid": sid,
        "events": {EVENT: {}},
        **change,
    }
    if key is None:
        return jwt.encode(
            claims,
            signer.private_key,
            algorithm=signer.alg,
            headers={"typ": "logout+jwt", "kid": signer.kid},
        )
    # Another key under the provider's kid: only the signature can tell them apart.
    return jwt.encode(
        claims, key, algorithm="ES256", headers={"typ": "logout+jwt", "kid": signer.kid}
    )


def test_the_web_apps_back_channel_refuses_forged_logout_tokens(
    provider: Provider, web_app: WebApp
) -> None:
    provider.person("dave")
    browser = provider.browser()
    sid = provider_sid(sign_in(provider, browser, web_app, "dave"))
    endpoint = f"{web_app.base}/backchannel-logout"

    def post(token: str) -> httpx.Response:
        return httpx.post(endpoint, data={"logout_token": token}, timeout=10)

    stranger = ec.generate_private_key(ec.SECP256R1())
    # Each attack, and the reason the app's log must give for refusing it.
    attacks = {
        "signature: bad_signature": forged(provider, web_app, sid, key=stranger),
        "Invalid claim: 'aud'": forged(provider, web_app, sid, aud="some-other-app"),
        "never has a nonce": forged(provider, web_app, sid, nonce="n-1"),
        "Invalid claim: 'iss'": forged(provider, web_app, sid, iss="https://evil.example"),
        "no back-channel logout member": forged(provider, web_app, sid, events={}),
        "expired": forged(provider, web_app, sid, iat=int(time.time()) - 600, exp=1),
        "iat is not recent": forged(provider, web_app, sid, iat=int(time.time()) - 3600),
    }
    for reason, token in attacks.items():
        answer = post(token)
        assert answer.status_code == 400, reason
        assert answer.headers["cache-control"] == "no-store"
        assert reason in wait_for(
            web_app.log.read_text, until=lambda text, expected=reason: expected in text
        )
    assert post("not-a-jwt").status_code == 400
    assert httpx.post(endpoint, data={}, timeout=10).status_code == 400
    # An ID token (typ JWT) is not a logout token either.
    id_token = forged(provider, web_app, sid)
    signer = provider.setup.keyring().signer(time.time())
    as_id_token = jwt.encode(
        jwt.decode(id_token, options={"verify_signature": False}),
        signer.private_key,
        algorithm=signer.alg,
        headers={"typ": "JWT", "kid": signer.kid},
    )
    assert post(as_id_token).status_code == 400
    # None of them ended anything.
    assert "Signed in as dave" in web_app.home(browser)
    # The provider's own key, the right audience, no nonce: the app takes it, even from a
    # key the provider started signing with after the app read its JWKS (it reads again).
    new_key = provider.setup.rotate_keys(immediately=True)
    wait_for(
        lambda: {
            k["kid"] for k in httpx.get(f"{provider.base}/jwks.json", timeout=10).json()["keys"]
        },
        until=lambda kids: new_key.kid in kids,
    )
    valid = forged(provider, web_app, sid)
    assert jwt.get_unverified_header(valid)["kid"] == new_key.kid
    assert post(valid).status_code == 200
    assert "Nobody is signed in" in web_app.home(browser)


def start_native_app(provider: Provider) -> tuple[subprocess.Popen[str], str]:
    """The native app as a subprocess, and the authorize URL it printed."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLES / "native-app" / "native_app.py"),
            "--issuer",
            provider.base,
            f"--client-id={provider.native_id}",
            "--no-browser",
            "--timeout",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        if not line:
            process.kill()
            _, err = process.communicate()
            raise AssertionError(err)
        if line.startswith(f"{provider.base}/authorize?"):
            return process, line.strip()


@pytest.fixture
def native_apps() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_the_native_app_signs_in_through_its_loopback_listener(
    provider: Provider, native_apps: list[subprocess.Popen[str]]
) -> None:
    provider.person("erin")
    process, url = start_native_app(provider)
    native_apps.append(process)
    query = dict(httpx.URL(url).params)
    assert query["code_challenge_method"] == "S256"
    assert query["client_id"] == provider.native_id
    redirect = urlsplit(query["redirect_uri"])
    assert (redirect.scheme, redirect.hostname, redirect.path) == ("http", "127.0.0.1", "/callback")
    assert redirect.port  # a port the system gave it

    done = provider.browser().sign_in(url, "erin", provider.fobs["erin"].next_code())
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(query["redirect_uri"] + "?")
    back = httpx.get(done.headers["location"], timeout=10)  # the app's own listener
    assert back.status_code == 200
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    claims = json.loads(out.split("ID token claims:", 1)[1])
    assert claims["sub"] == "erin"
    assert claims["aud"] == provider.native_id
    assert claims["iss"] == provider.base
    assert claims["amr"] == ["otp"]
    assert claims["sid"] in live_sids(provider, "erin")


def test_the_native_app_refuses_a_callback_another_program_sent(
    provider: Provider, native_apps: list[subprocess.Popen[str]]
) -> None:
    """A local program that reaches the loopback listener first (with a code of its own,
    or a stolen one) is refused for its state; the app exchanges nothing."""
    provider.person("frank")
    process, url = start_native_app(provider)
    native_apps.append(process)
    redirect = dict(httpx.URL(url).params)["redirect_uri"]
    # A real code of the right client, obtained by the intruder for its own sign-in.
    intruder, intruder_url = start_native_app(provider)
    native_apps.append(intruder)
    done = provider.browser().sign_in(intruder_url, "frank", provider.fobs["frank"].next_code())
    assert done.status_code == 303, done.text
    code = query_of(done.headers["location"])["code"]
    forged_state = "not-the-apps-state"
    answer = httpx.get(f"{redirect}?code={code}&state={forged_state}", timeout=10)
    assert answer.status_code == 200  # the listener answers; the app then refuses
    out, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "wrong state" in err
    assert "ID token claims" not in out
    # The app sent nothing to the token endpoint: the code is still unspent.
    assert provider.audit("authorization_code") == []
