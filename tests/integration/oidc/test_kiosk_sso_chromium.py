"""Kiosk single sign-on in a real browser: Debian's Chromium (headless, driven by
Selenium) at the kiosk, a real ``tokenstile server``, the real broker on the keychain
and its loopback listener. This checks what httpx cannot: that Chromium's own requests
(its ``Host``, ``Origin`` and ``Sec-Fetch-*`` headers, the CSP ``form-action`` that must
let the form's redirect reach 127.0.0.1) pass the broker's checks, and that a page's
``fetch`` to the broker does not.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import free_port
from tests.integration.oidc import test_kiosk_sso as base
from tests.integration.oidc.conftest import Provider, pkce_pair, query_of
from tests.integration.oidc.test_kiosk_sso import Kiosk, to_broker

# The kiosk, its service and its port, as in test_kiosk_sso.
sso_port = base.sso_port
sso_server = base.sso_server
people = base.people
sso_provider = base.sso_provider
kiosk = base.kiosk

pytestmark = pytest.mark.usefixtures("keychain")
WAIT = 20


class Callback:
    """The native app's loopback redirect: records the paths it is sent to."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                body = b"<!doctype html><title>app</title><p>app page</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = int(self.http.server_address[1])
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def callback() -> Iterator[Callback]:
    found = Callback()
    yield found
    found.stop()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox"):
        options.add_argument(argument)
    # A short directory of its own: Chromium's singleton socket path must fit in 108 bytes.
    temp = Path(tempfile.mkdtemp(prefix="ts-chromium-"))
    # Its own small environment: not the keychain's private D-Bus session and home.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": str(temp), "HOME": str(temp)}
    service = Service("/usr/bin/chromedriver", env=env, log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(temp, ignore_errors=True)


def test_chromium_at_the_kiosk_signs_in_to_a_native_app(
    sso_provider: Provider, kiosk: Kiosk, callback: Callback, chromium: webdriver.Chrome
) -> None:
    kiosk.sign_in(sso_provider, "alice")
    info = kiosk.broker.session()
    assert info is not None
    redirect = f"http://127.0.0.1:{callback.port}/callback"
    verifier, challenge = pkce_pair()
    url = sso_provider.authorize_url(sso_provider.native_id, "http://127.0.0.1/callback")
    url = url.replace(query_of(url)["code_challenge"], challenge)
    url = url.replace("127.0.0.1%2Fcallback", f"127.0.0.1%3A{callback.port}%2Fcallback")
    chromium.get(url)
    wait = WebDriverWait(chromium, WAIT)
    kiosk_button = wait.until(
        lambda d: d.find_element(By.XPATH, "//button[contains(., 'sign-in at this kiosk')]")
    )
    kiosk_button.click()
    go = wait.until(lambda d: d.find_element(By.XPATH, "//button[contains(., 'Continue as')]"))
    assert go.text == "Continue as Alice (signed in at this kiosk)"
    go.click()
    wait.until(lambda _d: callback.seen)
    query = query_of(callback.seen[0])
    app = OAuth2Client(sso_provider.native_id, token_endpoint_auth_method="none")
    try:
        token: dict[str, Any] = dict(
            app.fetch_token(
                f"{sso_provider.base}/token",
                code=query["code"],
                code_verifier=verifier,
                redirect_uri=redirect,
                grant_type="authorization_code",
            )
        )
    finally:
        app.close()
    claims = jwt.decode(token["id_token"], options={"verify_signature": False})
    assert (claims["sid"], claims["acr"], claims["amr"]) == (info.sid, info.acr, list(info.amr))


def test_a_pages_fetch_to_the_broker_is_refused(
    sso_provider: Provider, kiosk: Kiosk, callback: Callback, chromium: webdriver.Chrome
) -> None:
    """A page (here the app's own, any origin would do) fetches the broker with a real
    hand-off: Chromium sends Origin/Sec-Fetch-Mode, and the broker vouches for nothing."""
    kiosk.sign_in(sso_provider, "alice")
    browser = sso_provider.browser()
    page = browser.get(
        sso_provider.authorize_url(sso_provider.web_id, "https://app.example/callback")
    )
    to = to_broker(browser, page).headers["location"]
    chromium.get(f"http://127.0.0.1:{callback.port}/page")
    for mode in ("cors", "no-cors"):
        chromium.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            f"fetch(arguments[0], {{mode: '{mode}', credentials: 'include'}})"
            ".then(() => done('answered'), () => done('failed'));",
            to,
        )
    assert [e for e in sso_provider.audit("kiosk_sso") if e["outcome"] == "success"] == []
