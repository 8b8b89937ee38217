"""A real browser signs in with a security key: Debian's chromium, driven by Selenium
through chromium-driver, with Chrome's WebDriver virtual authenticator, against a real
``tokenstile server`` process; Authlib exchanges the code.

The key is enrolled the way a person's would be: the service's own registration
ceremony (``WebAuthnService.begin_registration``/``complete_registration``, in-process
on the server's database), answered by ``navigator.credentials.create`` in the browser
on the server's origin, so the virtual authenticator holds a discoverable credential
for the deployment's RP ID (``localhost``, the issuer being ``http://localhost:PORT``).

One browser and one server for the module; each test gets a fresh virtual authenticator
with one credential for a new person, so the browser never has to choose an account.
The attacks send what a browser really produced, each time checking that nothing was
issued: no code at the app, no provider session, a ``fido2_login`` failure audited.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import (
    VirtualAuthenticatorOptions,
)
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import ServerProcess, add_user, free_port, start_server
from tests.integration.oidc.conftest import read_form
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.factors.webauthn import b64url, relying_party_for
from tokenstile.factors.webauthn_registration import parse_registration
from tokenstile.factors.webauthn_service import WebAuthnService, parse_credential_id
from tokenstile.store.webauthn_repository import SqlWebAuthnStore

with warnings.catch_warnings():
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.jose import JsonWebKey
    from authlib.jose import jwt as authlib_jwt
    from authlib.oidc.core import CodeIDToken

pytestmark = [
    pytest.mark.server,
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 30  # seconds a page may take to get where it is going (a bound, not a measure)

# In the page: the service's creation options (JSON) to navigator.credentials.create.
CREATE = """
const [options, done] = arguments;
const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
navigator.credentials.create({publicKey}).then(
  (credential) => done({ok: credential.toJSON()}),
  (error) => done({error: error.name + ": " + error.message}));
"""

# In the sign-in page: what its script does up to the form post, returning the answer
# instead of posting it, with ``userVerification`` and ``allowCredentials`` as given (an
# attacker's page: a credential protected by credProtect is found without user
# verification only when named).
ANSWER = """
const [verification, allow, done] = arguments;
const form = document.getElementById("key-form");
const body = new URLSearchParams();
for (const input of form.querySelectorAll("input[type=hidden]")) {
  body.append(input.name, input.value);
}
fetch(form.dataset.options, {method: "POST", body}).then((r) => r.json()).then((options) => {
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
  publicKey.userVerification = verification;
  if (allow) {
    publicKey.allowCredentials = PublicKeyCredential.parseRequestOptionsFromJSON({
      challenge: "AAAA", allowCredentials: [{type: "public-key", id: allow}]}).allowCredentials;
  }
  return navigator.credentials.get({publicKey}).then((credential) =>
    done({handle: options.handle, credential: JSON.stringify(credential.toJSON())}));
}).catch((error) => done({error: error.name + ": " + error.message}));
"""

# In the sign-in page: post an answer through the page's own security-key form.
POST = """
const [handle, credential] = arguments;
const form = document.getElementById("key-form");
for (const [name, value] of [["handle", handle], ["credential", credential]]) {
  const input = document.createElement("input");
  input.type = "hidden";
  input.name = name;
  input.value = value;
  form.appendChild(input);
}
form.submit();
"""


class Callback(BaseHTTPRequestHandler):
    """The native app's loopback redirect URI: records each request's path and query."""

    seen: list[str]

    def do_GET(self) -> None:
        if self.path.startswith("/callback"):  # not the browser's /favicon.ico
            self.seen.append(self.path)
        body = b"<!doctype html><title>App</title><p>Back at the app."
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Site:
    server: ServerProcess
    setup: Deployment
    client_id: str
    redirect_uri: str
    callbacks: list[str]
    enroller: WebAuthnService
    people: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        """The issuer: ``localhost`` (a browser accepts RP ID ``localhost`` only there)."""
        return self.server.settings.issuer_url()

    def authorize_url(self, host_port: str | None = None, **extra: str) -> tuple[str, str, str]:
        """The URL, its PKCE verifier and nonce; ``host_port`` sends it elsewhere."""
        verifier = generate_token(48)
        nonce = generate_token(20)
        app = OAuth2Client(
            self.client_id,
            None,
            scope="openid",
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
        )
        base = self.base if host_port is None else f"http://{host_port}"
        url, _state = app.create_authorization_url(
            f"{base}/authorize", code_verifier=verifier, nonce=nonce, **extra
        )
        app.close()
        return url, verifier, nonce

    def audit(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.setup.store.audit_entries() if e["event"] == event]

    def provider_sessions(self, username: str) -> int:
        """Browser sign-ins (provider sessions opened) of ``username``."""
        return sum(
            1
            for e in self.setup.store.audit_entries()
            if e["event"] == "login"
            and e.get("username") == username
            and (e.get("detail") or {}).get("browser")
        )

    def suspend(self, credential_id: bytes) -> None:
        """What a counter regression does to a key."""
        with SqlWebAuthnStore(self.setup.store).write() as tx:
            found = tx.find_credential(credential_id)
            assert found is not None
            assert tx.suspend_credential(found.id, reason="test", at=self.setup.clock.now())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("browser-site")
    # Module-scoped, so set up before the suite's per-test isolation: isolate it here.
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("TOKENSTILE_"):
                env.delenv(name)
        env.setenv("TOKENSTILE_DATA_DIR", str(folder / "data"))
        env.setenv("TOKENSTILE_RUNTIME_DIR", str(folder / "run"))
        yield from _site(folder)


def _site(folder: Path) -> Iterator[Site]:
    port = free_port()
    settings = load_settings(
        db=f"sqlite:///{folder / 'server.db'}", port=port, issuer=f"http://localhost:{port}"
    )
    setup = Deployment(settings)
    setup.init()
    seen: list[str] = []
    handler = type("Handler", (Callback,), {"seen": seen})
    app_server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=app_server.serve_forever, daemon=True)
    thread.start()
    redirect = f"http://127.0.0.1:{app_server.server_address[1]}/callback"
    native, _ = setup.add_client(
        "Desk app",
        kind="native",
        audiences=[],
        scopes=[],
        redirect_uris=["http://127.0.0.1/callback"],
    )
    # The enrolling side: the service's ceremony on the server's database, accepting the
    # answer the browser gives on the server's own origin.
    enroller = WebAuthnService(
        SqlWebAuthnStore(setup.store),
        rp=relying_party_for(settings.issuer_url(), origins=[f"http://localhost:{port}"]),
        clock=setup.clock,
    )
    server = start_server(settings, folder / "server.log")
    try:
        yield Site(server, setup, native.client_id, redirect, seen, enroller)
    finally:
        server.stop()
        app_server.shutdown()
        app_server.server_close()
        setup.close()


@pytest.fixture(scope="module")
def chrome() -> Iterator[webdriver.Chrome]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("chromium and chromium-driver are not installed (make system-packages)")
    profile = tempfile.mkdtemp(prefix="tokenstile-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=640,860",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Person:
    username: str
    credential_id: bytes


@pytest.fixture
def person(site: Site, chrome: webdriver.Chrome) -> Iterator[Person]:
    """A new person whose key (a fresh virtual authenticator) holds one credential."""
    username = "p" + secrets.token_hex(4)
    add_user(site.setup, username)
    chrome.add_virtual_authenticator(
        VirtualAuthenticatorOptions(
            has_resident_key=True,
            has_user_verification=True,
            is_user_consenting=True,
            is_user_verified=True,
        )
    )
    chrome.get(f"{site.base}/healthz")  # any page of the service's origin
    chrome.delete_all_cookies()  # (of the page's host): no provider session from before
    options = site.enroller.begin_registration(username, label="Browser key", by="test")
    made = chrome.execute_async_script(CREATE, options.public_key)
    assert "ok" in made, made
    info = site.enroller.complete_registration(
        options.handle, parse_registration(made["ok"]), by="test", uv_method="builtin"
    )
    try:
        yield Person(username, parse_credential_id(info.credential_id))
    finally:
        chrome.remove_virtual_authenticator()


def open_sign_in(chrome: webdriver.Chrome, url: str) -> None:
    chrome.get(url)
    WebDriverWait(chrome, WAIT).until(lambda d: d.find_element(By.ID, "key-button").is_displayed())


def wait_for_app(site: Site, chrome: webdriver.Chrome) -> dict[str, str]:
    WebDriverWait(chrome, WAIT).until(lambda d: d.current_url.startswith(site.redirect_uri))
    return {k: v[0] for k, v in parse_qs(urlsplit(chrome.current_url).query).items()}


def wait_for_refusal(chrome: webdriver.Chrome) -> str:
    """The sign-in page again, with its refusal (what a person reads)."""

    def refused(driver: webdriver.Chrome) -> bool:
        if driver.find_elements(By.ID, "form-error"):
            return True
        said = driver.find_elements(By.ID, "key-status")
        try:
            text = said[0].text if said else ""
        except WebDriverException as exc:
            # Chromium's way of saying stale when the page is replaced between the find
            # and the read (seen under load); any other driver error still fails the test.
            if "does not belong to the document" not in str(exc):
                raise
            return False
        assert not text.startswith("This "), text
        return False

    # The old page's elements go stale while the form's answer loads: look again.
    WebDriverWait(chrome, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(refused)
    return str(chrome.find_element(By.ID, "form-error").text)


def exchange(site: Site, location: str, verifier: str, nonce: str) -> dict[str, Any]:
    """Authlib, not our code, exchanges the code and checks the ID token."""
    app = OAuth2Client(site.client_id, None, redirect_uri=site.redirect_uri)
    app.token_endpoint_auth_method = "none"
    try:
        token = app.fetch_token(
            f"{site.base}/token", authorization_response=location, code_verifier=verifier
        )
    finally:
        app.close()
    jwks = JsonWebKey.import_key_set(httpx.get(f"{site.base}/jwks.json", timeout=10).json())
    claims = authlib_jwt.decode(
        token["id_token"],
        jwks,
        claims_cls=CodeIDToken,
        claims_options={
            "iss": {"essential": True, "value": site.base},
            "aud": {"essential": True, "value": site.client_id},
        },
        claims_params={
            "nonce": nonce,
            "client_id": site.client_id,
            "access_token": token["access_token"],
        },
    )
    claims.validate()
    return dict(claims)


def answer_in_page(
    chrome: webdriver.Chrome, verification: str = "required", allow: bytes | None = None
) -> dict[str, str]:
    answer = chrome.execute_async_script(
        ANSWER, verification, None if allow is None else b64url(allow)
    )
    assert "error" not in answer, answer
    return dict(answer)


def failures(site: Site, person: Person) -> list[str]:
    """The reasons of the refused logins with this person's key (audited with the
    credential's id even when the refusal came before the credential was read)."""
    key = b64url(person.credential_id)
    return [
        e["detail"]["reason"]
        for e in site.audit("fido2_login")
        if e["outcome"] == "failure" and e["detail"]["credential_id"] == key
    ]


def nothing_issued(site: Site, person: Person, before: int) -> None:
    assert len(site.callbacks) == before, "the app received something"
    assert site.provider_sessions(person.username) == 0


# -- the sign-in ----------------------------------------------------------------------------


def test_a_person_signs_in_with_a_security_key_in_a_real_browser(
    site: Site, chrome: webdriver.Chrome, person: Person
) -> None:
    url, verifier, nonce = site.authorize_url()
    open_sign_in(chrome, url)
    chrome.find_element(By.ID, "key-button").click()
    answer = wait_for_app(site, chrome)
    assert "code" in answer, answer
    assert answer["iss"] == site.base
    claims = exchange(site, chrome.current_url, verifier, nonce)
    assert claims["sub"] == person.username
    # Enrolled without attestation: a key, but not known to be hardware.
    assert claims["acr"] == "phr"
    assert claims["amr"] == ["swk", "mfa"]
    (ok,) = [e for e in site.audit("fido2_login") if e.get("username") == person.username]
    assert ok["outcome"] == "success"
    assert ok["client_id"] == site.client_id

    # The provider session is the browser's now: the next app request needs no key.
    url, verifier, nonce = site.authorize_url()
    chrome.get(url)
    assert "code" in wait_for_app(site, chrome)
    assert exchange(site, chrome.current_url, verifier, nonce)["sub"] == person.username


def test_the_page_keeps_its_code_form_and_a_strict_policy(site: Site) -> None:
    url, _, _ = site.authorize_url()
    with httpx.Client(timeout=10) as http:
        page = http.get(url)
        script = http.get(f"{site.base}/authorize/static/signin.js")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "<script>" not in page.text  # no inline script: only the file, with SRI
    assert 'integrity="sha384-' in page.text
    assert read_form(page.text).action == f"{site.base}/authorize/login"  # the code form
    assert script.headers["content-type"].startswith("text/javascript")
    digest = base64.b64encode(hashlib.sha384(script.content).digest()).decode()
    assert f'integrity="sha384-{digest}"' in page.text


def test_without_javascript_the_key_section_stays_hidden(site: Site) -> None:
    url, _, _ = site.authorize_url()
    page = httpx.get(url, timeout=10)
    section = re.search(r'<section class="security-key" id="security-key"[^>]*>', page.text)
    assert section is not None
    assert re.search(r"\shidden[\s>]", section.group(0))  # shown only by the script
    assert 'id="code"' in page.text


# -- attacks ------------------------------------------------------------------------------


def test_a_page_under_another_origin_gets_nothing(
    site: Site, chrome: webdriver.Chrome, person: Person, tmp_path: Path
) -> None:
    """The same service reached at another origin (a second server process on the same
    database and issuer, on another port: what a proxy relaying the pages would be).
    The key's RP ID ``localhost`` is valid there, so the browser lets the key answer;
    but the browser writes the page's origin into the signed client data, and the
    service accepts only its issuer's own."""
    port = free_port()
    other = start_server(
        site.server.settings.model_copy(update={"port": port}), tmp_path / "other.log"
    )
    try:
        before = len(site.callbacks)
        url, _, _ = site.authorize_url(host_port=f"localhost:{port}")
        open_sign_in(chrome, url)
        chrome.find_element(By.ID, "key-button").click()
        message = wait_for_refusal(chrome)
    finally:
        other.stop()
    assert "another origin" in message
    nothing_issued(site, person, before)
    assert failures(site, person) == ["wrong_origin"]


def test_an_answer_replayed_is_refused(
    site: Site, chrome: webdriver.Chrome, person: Person
) -> None:
    url, _, _ = site.authorize_url()
    open_sign_in(chrome, url)
    answer = answer_in_page(chrome)
    chrome.execute_script(POST, answer["handle"], answer["credential"])
    assert "code" in wait_for_app(site, chrome)
    before = len(site.callbacks)
    sessions = site.provider_sessions(person.username)

    # The same browser and request without its provider session: the page again, and
    # the same answer (its challenge already spent) posted again.
    chrome.get(f"{site.base}/healthz")  # cookies are deleted for the page's host
    chrome.delete_cookie("tokenstile-session")
    open_sign_in(chrome, url)
    chrome.execute_script(POST, answer["handle"], answer["credential"])
    assert "already used" in wait_for_refusal(chrome)
    assert len(site.callbacks) == before
    assert site.provider_sessions(person.username) == sessions
    assert failures(site, person) == ["unknown_handle"]


def test_an_answer_posted_without_this_browsers_cookie_is_refused(
    site: Site, chrome: webdriver.Chrome, person: Person
) -> None:
    url, _, _ = site.authorize_url()
    open_sign_in(chrome, url)
    answer = answer_in_page(chrome)
    fields = {**read_form_fields(chrome), **answer}
    before = len(site.callbacks)
    with httpx.Client(base_url=site.base, timeout=10, follow_redirects=False) as stranger:
        # No cookie at all: the CSRF token is bound to a cookie the stranger lacks.
        assert stranger.post("/authorize/webauthn", data=fields).status_code == 403
        # The stranger's own page, cookie and token: the challenge is bound to the
        # browser it was made for, and is spent by this attempt.
        page = stranger.get(url)
        own = read_form(page.text).hidden
        refused = stranger.post(
            "/authorize/webauthn", data={**fields, "csrf_token": own["csrf_token"]}
        )
    assert refused.status_code == 400
    assert "another browser" in refused.text
    nothing_issued(site, person, before)
    assert failures(site, person) == ["wrong_binding"]


def read_form_fields(chrome: webdriver.Chrome) -> dict[str, str]:
    fields: dict[str, str] = {}
    for element in chrome.find_elements(By.CSS_SELECTOR, "#key-form input[type=hidden]"):
        fields[str(element.get_attribute("name"))] = str(element.get_attribute("value"))
    return fields


@pytest.mark.parametrize("state", ["suspended", "revoked"])
def test_a_suspended_or_revoked_key_gets_nothing(
    site: Site, chrome: webdriver.Chrome, person: Person, state: str, shots: Path | None
) -> None:
    if state == "revoked":
        site.enroller.revoke(person.credential_id, by="test")
    else:
        site.suspend(person.credential_id)
    before = len(site.callbacks)
    url, _, _ = site.authorize_url()
    open_sign_in(chrome, url)
    chrome.find_element(By.ID, "key-button").click()
    message = wait_for_refusal(chrome)
    assert state in message
    nothing_issued(site, person, before)
    assert failures(site, person) == [f"credential_{state}"]
    if shots is not None and state == "revoked":
        chrome.save_screenshot(str(shots / "web-sign-in-error.png"))


def test_an_answer_without_user_verification_is_refused(
    site: Site, chrome: webdriver.Chrome, person: Person
) -> None:
    """The person's credential on a key that cannot verify its user (no PIN, no
    fingerprint): a page that asks for no verification gets an answer without the UV
    flag; it is refused."""
    (credential,) = chrome.get_credentials()  # with its private key
    chrome.remove_virtual_authenticator()
    chrome.add_virtual_authenticator(
        VirtualAuthenticatorOptions(has_resident_key=True, has_user_verification=False)
    )
    chrome.add_credential(credential)
    before = len(site.callbacks)
    url, _, _ = site.authorize_url()
    open_sign_in(chrome, url)
    answer = answer_in_page(chrome, "discouraged", person.credential_id)
    chrome.execute_script(POST, answer["handle"], answer["credential"])
    assert "verif" in wait_for_refusal(chrome).lower()
    nothing_issued(site, person, before)
    assert failures(site, person) == ["user_not_verified"]


def test_a_cancelled_key_prompt_says_so_and_keeps_the_code_form(
    site: Site, chrome: webdriver.Chrome, person: Person, shots: Path | None
) -> None:
    chrome.execute_cdp_cmd(
        "WebAuthn.setUserVerified",
        {"authenticatorId": chrome.virtual_authenticator_id, "isUserVerified": False},
    )
    before = len(site.callbacks)
    url, _, _ = site.authorize_url()
    open_sign_in(chrome, url)
    if shots is not None:
        chrome.save_screenshot(str(shots / "web-sign-in.png"))
    chrome.find_element(By.ID, "key-button").click()
    status = chrome.find_element(By.ID, "key-status")
    WebDriverWait(chrome, WAIT).until(lambda d: "cancelled" in status.text)
    assert chrome.switch_to.active_element == status  # a screen reader hears it
    assert chrome.find_element(By.ID, "code").is_displayed()
    nothing_issued(site, person, before)


@pytest.fixture
def shots() -> Path | None:
    """Where to save the screenshots for docs/screenshots (SCREENSHOTS_DIR)."""
    folder = os.environ.get("SCREENSHOTS_DIR")
    return Path(folder) if folder else None
