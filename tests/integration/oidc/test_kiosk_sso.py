"""Kiosk single sign-on through real processes: a ``tokenstile server`` with
``kiosk_sso_port``, a real broker on the OS keychain signed in at the kiosk with a fob
(``/login/totp``, as the kiosk does it), its loopback listener, and a browser of our own
(httpx, redirects followed by hand) that goes from the app to the sign-in page, to the
broker on 127.0.0.1 and back, and gets a code that Authlib exchanges.

And the attacks: a page or local client calling the broker with made-up, another
browser's, used or expired hand-offs; forged Host and Origin; the broker's answers never
hold a token; a locked or signed-out kiosk; ``prompt=login``; the kiosk's sign-out ending
the browser's sign-in.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from tests.conftest import ServerProcess, free_port
from tests.integration.oidc.conftest import (
    WEB_REDIRECT,
    Browser,
    Fob,
    Provider,
    _provider,
    pkce_pair,
    provider_on,
    query_of,
    shared_server_of,
)
from tests.integration.oidc.logout_support import (
    APP_REDIRECT,
    register_app,
    relying_party,
    verify_logout_token,
)
from tokenstile.broker import Broker
from tokenstile.broker.sso import KioskSsoListener

pytestmark = pytest.mark.usefixtures("keychain")


class Forms(HTMLParser):
    """Every form of a page: action -> hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = values.get("action", "")
            self.forms[self._current] = {}
        if tag == "input" and values.get("type") == "hidden" and self._current is not None:
            self.forms[self._current][values["name"]] = values.get("value", "")


def forms(html: str) -> dict[str, dict[str, str]]:
    reader = Forms()
    reader.feed(html)
    return reader.forms


@dataclass
class Kiosk:
    """The kiosk's broker, its loopback listener, and whether the kiosk is locked."""

    broker: Broker
    listener: KioskSsoListener
    locked: bool = False

    def sign_in(self, provider: Provider, username: str, client_id: str | None = None) -> None:
        fob = provider.fobs.get(username) or provider.person(username)
        with self.broker.login_client(provider.base, client_id=client_id) as client:
            grant = client.login_totp(username, fob.next_code())
            self.broker.save_login(grant, server=client.server, client_id=client.client_id)


@pytest.fixture(scope="module")
def sso_port() -> int:
    """The kiosk listener's port: each test's kiosk listens there in turn."""
    return free_port()


@pytest.fixture(scope="module")
def sso_server(tmp_path_factory: pytest.TempPathFactory, sso_port: int) -> Iterator[ServerProcess]:
    """The module's server; each test has its own apps, kiosk (broker and listener) and
    browsers on it, and signs the module's ``alice`` in at its kiosk anew."""
    yield from shared_server_of(tmp_path_factory, kiosk_sso_port=sso_port)


@pytest.fixture(scope="module")
def people() -> dict[str, Fob]:
    return {}


@pytest.fixture
def sso_provider(
    sso_server: ServerProcess, people: dict[str, Fob], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Provider]:
    yield from provider_on(sso_server, monkeypatch, people)


def _kiosk(provider: Provider, port: int) -> Iterator[Kiosk]:
    broker = Broker()
    holder: list[Kiosk] = []
    listener = KioskSsoListener(
        broker,
        server=provider.base,
        port=port,
        available=lambda: bool(holder) and not holder[0].locked,
    )
    found = Kiosk(broker, listener)
    holder.append(found)
    listener.start()
    yield found
    listener.stop()
    broker.close()


@pytest.fixture
def kiosk(sso_provider: Provider, sso_port: int) -> Iterator[Kiosk]:
    yield from _kiosk(sso_provider, sso_port)


@pytest.fixture
def dpop_kiosk(
    sso_provider: Provider, sso_port: int, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Kiosk]:
    """A kiosk whose broker binds its session to a DPoP key."""
    monkeypatch.setenv("TOKENSTILE_BROKER_DPOP", "true")
    yield from _kiosk(sso_provider, sso_port)


def to_broker(browser: Browser, page: httpx.Response) -> httpx.Response:
    """Press "Use the sign-in at this kiosk": the service's 303 to the broker."""
    action = f"{browser.base_url}/authorize/sso"
    fields = forms(page.text)[action]
    answer = browser.http.post(action, data=fields)
    assert answer.status_code == 303, answer.text
    return answer


def follow(browser: Browser, location: str) -> httpx.Response:
    return browser.http.get(location)


def kiosk_sso(
    provider: Provider, browser: Browser, **extra: str
) -> tuple[httpx.Response, str, str]:
    """From the app to the confirmation page; (page, the broker URL, the PKCE verifier)."""
    verifier, challenge = pkce_pair()
    url = provider.authorize_url(provider.web_id, WEB_REDIRECT, **extra)
    url = url.replace(query_of(url)["code_challenge"], challenge)
    page = browser.get(url)
    assert page.status_code == 200, page.text
    to = to_broker(browser, page).headers["location"]
    back = follow(browser, to)
    assert back.status_code == 303, back.text
    assert back.content == b""
    confirm = follow(browser, back.headers["location"])
    return confirm, to, verifier


def press_continue(browser: Browser, page: httpx.Response) -> httpx.Response:
    action = f"{browser.base_url}/authorize/sso/continue"
    return browser.http.post(action, data=forms(page.text)[action])


def exchange(provider: Provider, code: str, verifier: str) -> dict[str, Any]:
    client = provider.keep(
        OAuth2Client(
            provider.web_id,
            provider.web_secret,
            token_endpoint_auth_method="client_secret_basic",
            redirect_uri=WEB_REDIRECT,
        )
    )
    token = client.fetch_token(
        f"{provider.base}/token", code=code, code_verifier=verifier, grant_type="authorization_code"
    )
    return dict(token)


def test_a_browser_at_the_kiosk_gets_a_code_carrying_the_kiosk_session(
    sso_provider: Provider, kiosk: Kiosk
) -> None:
    kiosk.sign_in(sso_provider, "alice")
    info = kiosk.broker.session()
    assert info is not None
    browser = sso_provider.browser()
    confirm, broker_url, verifier = kiosk_sso(sso_provider, browser)
    assert broker_url.startswith(f"http://127.0.0.1:{kiosk.listener.port}/sso?handoff=")
    assert confirm.status_code == 200, confirm.text
    assert "Continue as Alice (signed in at this kiosk)" in confirm.text
    assert "(alice) is signed in at this kiosk" in confirm.text
    assert (
        f"http://127.0.0.1:{kiosk.listener.port}" not in confirm.headers["content-security-policy"]
    )
    answer = press_continue(browser, confirm)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(WEB_REDIRECT + "?")
    token = exchange(sso_provider, query_of(location)["code"], verifier)
    claims = jwt.decode(token["id_token"], options={"verify_signature": False})
    assert claims["sid"] == info.sid
    assert claims["acr"] == info.acr
    assert claims["amr"] == list(info.amr)
    assert claims["auth_time"] == int(info.auth_time)
    assert claims["sub"] == "alice"
    # A second app in this browser: no new hand-off, the same kiosk session.
    again = browser.get(sso_provider.authorize_url(sso_provider.web_id, WEB_REDIRECT))
    assert again.status_code == 302
    assert "code=" in again.headers["location"]


def test_the_sign_in_page_offers_the_kiosk_only_without_prompt_login(
    sso_provider: Provider, kiosk: Kiosk
) -> None:
    kiosk.sign_in(sso_provider, "alice")
    browser = sso_provider.browser()
    page = browser.get(sso_provider.authorize_url(sso_provider.web_id, WEB_REDIRECT))
    assert f"{sso_provider.base}/authorize/sso" in forms(page.text)
    assert f"http://127.0.0.1:{kiosk.listener.port}" in page.headers["content-security-policy"]
    # The single sign-on form needs no script; the page's one script is the security
    # keys' own file.
    assert page.text.lower().count("<script") == 1
    assert '<script src="/authorize/static/signin.js" integrity="sha384-' in page.text
    login = browser.get(
        sso_provider.authorize_url(sso_provider.web_id, WEB_REDIRECT, prompt="login")
    )
    assert login.status_code == 200
    assert f"{sso_provider.base}/authorize/sso" not in forms(login.text)
    # The form posted all the same (a page that kept it): the sign-in page, no hand-off.
    fields = forms(page.text)[f"{sso_provider.base}/authorize/sso"]
    forced = browser.http.post(
        f"{sso_provider.base}/authorize/sso", data={**fields, "prompt": "login"}
    )
    assert forced.status_code == 200
    assert "Username" in forced.text


def test_a_made_up_hand_off_gets_nothing(sso_provider: Provider, kiosk: Kiosk) -> None:
    kiosk.sign_in(sso_provider, "alice")
    made_up = secrets.token_urlsafe(32)
    page = httpx.get(
        f"http://127.0.0.1:{kiosk.listener.port}/sso", params={"handoff": made_up}, timeout=10
    )
    assert page.status_code == 303
    assert page.content == b""
    assert page.headers["location"].startswith(f"{sso_provider.base}/authorize/sso/continue")
    browser = sso_provider.browser()
    landed = follow(browser, page.headers["location"])
    assert landed.status_code == 400
    assert "code=" not in landed.headers.get("location", "")
    failures = [e for e in sso_provider.audit("kiosk_sso") if e["outcome"] == "failure"]
    assert len(failures) == 1


def test_another_browsers_hand_off_is_refused(sso_provider: Provider, kiosk: Kiosk) -> None:
    """A stranger's page starts a hand-off in the stranger's browser and lures the
    kiosk's browser to the broker with it. The broker vouches (it cannot tell), but the
    kiosk's browser has the wrong cookie and the stranger's browser has no ticket: the
    hand-off completes in neither, and is burned."""
    kiosk.sign_in(sso_provider, "alice")
    mallory = sso_provider.browser()
    page = mallory.get(sso_provider.authorize_url(sso_provider.web_id, WEB_REDIRECT))
    to = to_broker(mallory, page).headers["location"]
    handoff = query_of(to)["handoff"]
    alice = sso_provider.browser()
    alice.get(sso_provider.authorize_url(sso_provider.web_id, WEB_REDIRECT))  # her cookie
    back = follow(alice, to)  # the kiosk's browser, lured to Mallory's hand-off
    assert "ticket=" in back.headers["location"]
    confirm = follow(alice, back.headers["location"])
    assert confirm.status_code == 400
    assert "Continue as" not in confirm.text
    # Mallory, in her own browser: without the ticket, or with it now (burned).
    ticket = query_of(back.headers["location"])["ticket"]
    for query in (f"handoff={handoff}", f"handoff={handoff}&ticket={ticket}"):
        tried = mallory.get(f"/authorize/sso/continue?{query}")
        assert "Continue as" not in tried.text
    csrf = forms(page.text)[f"{sso_provider.base}/authorize/sso"]["csrf_token"]
    pressed = mallory.http.post(
        "/authorize/sso/continue", data={"handoff": handoff, "ticket": ticket, "csrf_token": csrf}
    )
    assert "code=" not in pressed.headers.get("location", "")


def test_the_way_back_needs_the_brokers_ticket(sso_provider: Provider, kiosk: Kiosk) -> None:
    """A hand-off vouched for by a request that did not follow the broker's redirect
    (a script on loopback, an image): the browser that made it cannot continue without
    the ticket that redirect carried."""
    kiosk.sign_in(sso_provider, "alice")
    mallory = sso_provider.browser()
    page = mallory.get(sso_provider.authorize_url(sso_provider.web_id, WEB_REDIRECT))
    to = to_broker(mallory, page).headers["location"]
    vouched = httpx.get(to, timeout=10)  # nobody follows it
    assert "ticket=" in vouched.headers["location"]
    handoff = query_of(to)["handoff"]
    for query in (f"handoff={handoff}", f"handoff={handoff}&ticket={'A' * 43}"):
        tried = mallory.get(f"/authorize/sso/continue?{query}")
        assert "Continue as" not in tried.text
    csrf = forms(page.text)[f"{sso_provider.base}/authorize/sso"]["csrf_token"]
    pressed = mallory.http.post(
        "/authorize/sso/continue", data={"handoff": handoff, "csrf_token": csrf}
    )
    assert "code=" not in pressed.headers.get("location", "")


def test_a_hand_off_is_used_once(sso_provider: Provider, kiosk: Kiosk) -> None:
    kiosk.sign_in(sso_provider, "alice")
    browser = sso_provider.browser()
    confirm, broker_url, _ = kiosk_sso(sso_provider, browser)
    first = press_continue(browser, confirm)
    assert first.status_code == 303
    assert "code=" in first.headers["location"]
    second = press_continue(browser, confirm)
    assert "code=" not in second.headers.get("location", "")
    # And the broker asked again with it: the service refuses to satisfy it twice.
    again = httpx.get(broker_url, timeout=10)
    assert again.status_code == 303
    assert follow(browser, again.headers["location"]).status_code == 400


def test_forged_host_origin_and_fetch_are_refused(sso_provider: Provider, kiosk: Kiosk) -> None:
    kiosk.sign_in(sso_provider, "alice")
    browser = sso_provider.browser()
    page = browser.get(sso_provider.authorize_url(sso_provider.web_id, WEB_REDIRECT))
    to = to_broker(browser, page).headers["location"]
    for headers in (
        {"Host": "evil.example"},  # DNS rebinding
        {"Host": f"localhost:{kiosk.listener.port}"},
        {"Origin": "https://evil.example"},  # a page's fetch or form post
        {"Origin": "null"},
        {"Sec-Fetch-Mode": "cors"},
        {"Sec-Fetch-Mode": "no-cors"},
    ):
        refused = httpx.get(to, headers=headers, timeout=10)
        assert refused.status_code == 400, headers
        assert "location" not in refused.headers
    assert httpx.post(to, timeout=10).status_code == 405
    # None of them vouched: the genuine browser's hand-off is still unsatisfied.
    assert [e for e in sso_provider.audit("kiosk_sso") if e["outcome"] == "success"] == []


def test_the_broker_never_answers_a_token(sso_provider: Provider, kiosk: Kiosk) -> None:
    kiosk.sign_in(sso_provider, "alice")
    token = kiosk.broker.access_token()
    browser = sso_provider.browser()
    confirm, broker_url, _ = kiosk_sso(sso_provider, browser)
    answer = httpx.get(broker_url, timeout=10)
    for response in (answer, confirm):
        seen = response.text + str(dict(response.headers))
        assert token not in seen
        assert "access_token" not in seen
        assert "refresh" not in seen


def test_no_sso_when_the_kiosk_is_locked_or_signed_out(
    sso_provider: Provider, kiosk: Kiosk
) -> None:
    kiosk.sign_in(sso_provider, "alice")
    kiosk.locked = True
    browser = sso_provider.browser()
    confirm, _, _ = kiosk_sso(sso_provider, browser)
    assert confirm.status_code == 200
    assert "Continue as" not in confirm.text
    assert "could not be used" in confirm.text
    assert "Username" in confirm.text
    kiosk.locked = False
    kiosk.broker.logout()
    confirm, _, _ = kiosk_sso(sso_provider, browser)
    assert "Continue as" not in confirm.text


def test_the_kiosks_sign_out_ends_the_browsers_sign_in(
    sso_provider: Provider, kiosk: Kiosk
) -> None:
    kiosk.sign_in(sso_provider, "alice")
    browser = sso_provider.browser()
    confirm, _, verifier = kiosk_sso(sso_provider, browser)
    # Signed out between the confirmation page and the press: no code.
    answer = press_continue(browser, confirm)
    assert answer.status_code == 303
    code = query_of(answer.headers["location"])["code"]
    kiosk.broker.logout()
    refused = sso_provider.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": WEB_REDIRECT,
            "code_verifier": verifier,
        },
        auth=(sso_provider.web_id, sso_provider.web_secret),
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    # The browser's sign-in was the kiosk session: it ended with it.
    page = browser.get(sso_provider.authorize_url(sso_provider.web_id, WEB_REDIRECT))
    assert page.status_code == 200
    assert "Username" in page.text


def test_max_age_is_the_kiosk_sessions(sso_provider: Provider, kiosk: Kiosk) -> None:
    """max_age counts from the kiosk sign-in's auth_time: older, the sign-in page."""
    kiosk.sign_in(sso_provider, "alice")
    time.sleep(2.1)  # the kiosk sign-in is now more than 1 s old, whatever the machine
    browser = sso_provider.browser()
    confirm, _, _ = kiosk_sso(sso_provider, browser, max_age="1")
    answer = press_continue(browser, confirm)
    assert answer.status_code == 200
    assert "Username" in answer.text
    assert "code=" not in answer.headers.get("location", "")


def test_the_service_refuses_a_token_that_is_not_a_kiosk_session(
    sso_provider: Provider, kiosk: Kiosk
) -> None:
    """A local process without the kiosk session: no token, a made-up one, Bearer."""
    kiosk.sign_in(sso_provider, "alice")
    browser = sso_provider.browser()
    page = browser.get(sso_provider.authorize_url(sso_provider.web_id, WEB_REDIRECT))
    to = to_broker(browser, page).headers["location"]
    handoff = query_of(to)["handoff"]
    url = f"{sso_provider.base}/sso/handoff"
    assert httpx.post(url, data={"handoff": handoff}, timeout=10).status_code == 401
    forged = httpx.post(
        url,
        data={"handoff": handoff},
        headers={"Authorization": "Bearer " + "e30.e30.x"},
        timeout=10,
    )
    assert forged.status_code == 400
    assert forged.json()["error"] == "invalid_grant"
    # The hand-off is untouched: the genuine broker still completes it.
    back = follow(browser, to)
    confirm = follow(browser, back.headers["location"])
    assert "Continue as Alice" in confirm.text


def test_a_dpop_bound_kiosk_session_signs_in_with_its_key(
    sso_provider: Provider, dpop_kiosk: Kiosk
) -> None:
    dpop_kiosk.sign_in(sso_provider, "alice")
    info = dpop_kiosk.broker.session()
    assert info is not None
    assert info.dpop_jkt
    browser = sso_provider.browser()
    confirm, _, verifier = kiosk_sso(sso_provider, browser)
    answer = press_continue(browser, confirm)
    token = exchange(sso_provider, query_of(answer.headers["location"])["code"], verifier)
    claims = jwt.decode(token["id_token"], options={"verify_signature": False})
    assert claims["sid"] == info.sid
    # Its token stolen and sent without the key (as Bearer): refused.
    stolen = dpop_kiosk.broker.access_token()
    other = sso_provider.browser()
    page = other.get(sso_provider.authorize_url(sso_provider.web_id, WEB_REDIRECT))
    handoff = query_of(to_broker(other, page).headers["location"])["handoff"]
    refused = httpx.post(
        f"{sso_provider.base}/sso/handoff",
        data={"handoff": handoff},
        headers={"Authorization": f"Bearer {stolen}"},
        timeout=10,
    )
    assert refused.status_code == 400
    assert "ticket" not in refused.text


def test_only_a_kiosk_session_is_accepted(sso_provider: Provider, kiosk: Kiosk) -> None:
    """An app's token (from a code: another audience) and a session signed in as an
    app client (local audience, not a kiosk) are refused."""
    desk, _ = sso_provider.setup.add_client("Desk", kind="app", audiences=[], scopes=[])
    kiosk.sign_in(sso_provider, "alice", client_id=desk.client_id)
    browser = sso_provider.browser()
    confirm, _, _ = kiosk_sso(sso_provider, browser)
    assert "Continue as" not in confirm.text
    # alice at the kiosk proper; her browser's app token tried as the kiosk's.
    kiosk.sign_in(sso_provider, "alice")
    confirm, _, verifier = kiosk_sso(sso_provider, browser)
    answer = press_continue(browser, confirm)
    app_token = exchange(sso_provider, query_of(answer.headers["location"])["code"], verifier)
    other = sso_provider.browser()
    page = other.get(sso_provider.authorize_url(sso_provider.web_id, WEB_REDIRECT))
    handoff = query_of(to_broker(other, page).headers["location"])["handoff"]
    refused = httpx.post(
        f"{sso_provider.base}/sso/handoff",
        data={"handoff": handoff},
        headers={"Authorization": f"Bearer {app_token['access_token']}"},
        timeout=10,
    )
    assert refused.status_code == 400
    assert "ticket" not in refused.text


def test_an_expired_hand_off_is_refused(
    server_factory: Callable[..., ServerProcess], sso_port: int
) -> None:
    """kiosk_sso_handoff_seconds=1: a hand-off the broker vouches for after it expired
    gives nothing, and neither does one that expired between the broker and the click."""
    server = server_factory(kiosk_sso_port=sso_port, kiosk_sso_handoff_seconds=1)
    provider_gen = _provider(server)
    provider = next(provider_gen)
    kiosk_gen = _kiosk(provider, sso_port)
    kiosk = next(kiosk_gen)
    try:
        kiosk.sign_in(provider, "alice")
        browser = provider.browser()
        page = browser.get(provider.authorize_url(provider.web_id, WEB_REDIRECT))
        to = to_broker(browser, page).headers["location"]
        time.sleep(1.5)  # more than the hand-off's life, whatever the machine
        back = follow(browser, to)
        assert "ticket=" not in back.headers["location"]
        assert "Continue as" not in follow(browser, back.headers["location"]).text
        # Vouched in time, pressed too late.
        page = browser.get(provider.authorize_url(provider.web_id, WEB_REDIRECT))
        back = follow(browser, to_broker(browser, page).headers["location"])
        confirm = follow(browser, back.headers["location"])
        assert "Continue as Alice" in confirm.text
        time.sleep(1.5)
        late = press_continue(browser, confirm)
        assert "code=" not in late.headers.get("location", "")
    finally:
        for gen in (kiosk_gen, provider_gen):
            with contextlib.suppress(StopIteration):
                next(gen)


def test_the_kiosks_sign_out_sends_each_app_it_reached_a_logout_token(
    sso_provider: Provider, kiosk: Kiosk
) -> None:
    """Issue 15: sign-out at the kiosk ends the provider session and every web app that
    session reached gets a back-channel logout token, whose sid is the kiosk session's."""
    kiosk.sign_in(sso_provider, "alice")
    with relying_party() as rp:
        shop = register_app(sso_provider, rp.url)
        browser = sso_provider.browser()
        verifier, challenge = pkce_pair()
        url = sso_provider.authorize_url(
            shop.client_id, APP_REDIRECT, scope="openid offline_access", code_challenge=challenge
        )
        page = browser.get(url)
        to = to_broker(browser, page).headers["location"]
        back = follow(browser, follow(browser, to).headers["location"])
        done = press_continue(browser, back)
        assert done.status_code == 303, done.text
        tokens = sso_provider.token(
            {
                "grant_type": "authorization_code",
                "code": query_of(done.headers["location"])["code"],
                "redirect_uri": APP_REDIRECT,
                "code_verifier": verifier,
            },
            auth=(shop.client_id, shop.secret),
        )
        assert tokens.status_code == 200, tokens.text
        id_claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
        info = kiosk.broker.session()
        assert info is not None
        kiosk_sid = info.sid
        assert id_claims["sid"] == kiosk_sid

        kiosk.broker.logout()

        delivery = rp.take()
        claims = verify_logout_token(sso_provider.base, delivery.token, client_id=shop.client_id)
        assert (claims["sid"], claims["sub"]) == (kiosk_sid, "alice")
        # The app's own session ended with the kiosk's: its refresh token is refused.
        refused = sso_provider.token(
            {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]},
            auth=(shop.client_id, shop.secret),
        )
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"
        assert sso_provider.audit("backchannel_logout_delivered")
