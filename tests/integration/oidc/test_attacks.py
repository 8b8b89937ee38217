"""Attacks on the authorization code flow, against a real server process: each gets a
clear refusal, and the database shows that nothing was issued.

The attacker is a stranger on the network (a forged or altered authorization request, a
stolen code, a replayed code, a cross-site form post) or a rogue app (a code meant for
another app, a public app pretending to have a secret).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.integration.oidc.conftest import (
    NATIVE_REDIRECT,
    WEB_REDIRECT,
    Browser,
    Provider,
    pkce_pair,
    query_of,
    read_form,
)

pytestmark = [pytest.mark.server, pytest.mark.adversarial]


def assert_error_page(answer: httpx.Response, status: int = 400) -> None:
    """Refused on a page of our own: no redirect anywhere."""
    assert answer.status_code == status, answer.text
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]


def assert_error_redirect(answer: httpx.Response, error: str, redirect: str, state: str) -> None:
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(redirect + "?")
    values = query_of(location)
    assert values["error"] == error
    assert values["state"] == state
    assert "code" not in values
    assert values["iss"]


def code_for(
    provider: Provider,
    browser: Browser,
    username: str,
    *,
    client_id: str,
    redirect: str,
    scope: str = "openid",
) -> tuple[str, str]:
    """A real code (and its verifier) through the sign-in page."""
    verifier, challenge = pkce_pair()
    url = provider.authorize_url(
        client_id, redirect, scope=scope, code_challenge=challenge, state="st"
    )
    page = browser.get(url)
    if page.status_code == 302:  # signed in already in this browser
        return query_of(page.headers["location"])["code"], verifier
    done = browser.submit(page, username=username, code=provider.fobs[username].next_code())
    assert done.status_code == 303, done.text
    return query_of(done.headers["location"])["code"], verifier


def web_exchange(provider: Provider, code: str, verifier: str, **extra: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": WEB_REDIRECT,
        "code_verifier": verifier,
        **extra,
    }
    return provider.token(data, auth=(provider.web_id, provider.web_secret))


def app_sessions(provider: Provider, username: str) -> list[str]:
    return [s.sid for s in provider.setup.store.sessions_of(username) if s.parent_sid]


UNREGISTERED_WEB = (
    "https://evil.example/callback",
    "https://app.example/callback/../evil",
    "https://app.example/callback?next=https://evil.example",
    "https://app.example/callback#frag",
    "https://app.example@evil.example/callback",
    "https://app.example.evil.example/callback",
    "https://app.example:8443/callback",
    "http://app.example/callback",
    "HTTPS://app.example/callback",
    "https://app.example/callback/",
    " https://app.example/callback",
)
UNREGISTERED_NATIVE = (
    "http://localhost:5000/callback",
    "http://127.0.0.1:5000/callback/other",
    "http://127.0.0.1:5000/callback?x=1",
    "http://127.0.0.1:5000@evil.example/callback",
    "http://127.0.0.1:99999/callback",
    "http://127.0.0.2:5000/callback",
    "https://127.0.0.1:5000/callback",
    "http://[::1]:5000/callback",
)


def test_a_redirect_uri_the_app_did_not_register_gets_a_page(provider: Provider) -> None:
    """Open-redirect attempts: altered paths, queries, fragments, user information,
    look-alike hosts, another port (a web app), localhost (a native app)..."""
    browser = provider.browser()
    for client_id, redirects in (
        (provider.web_id, UNREGISTERED_WEB),
        (provider.native_id, UNREGISTERED_NATIVE),
    ):
        for redirect in redirects:
            answer = browser.get(provider.authorize_url(client_id, redirect))
            assert_error_page(answer)
            assert "not registered" in answer.text, redirect
    assert provider.count("authorization_codes") == 0


def test_an_unknown_client_or_a_kiosk_client_gets_a_page(provider: Provider) -> None:
    browser = provider.browser()
    assert_error_page(browser.get(provider.authorize_url("no-such-app", WEB_REDIRECT)))
    assert_error_page(browser.get(provider.authorize_url("tokenstile-kiosk", WEB_REDIRECT)))
    no_redirect = provider.authorize_url(provider.web_id, WEB_REDIRECT).replace(
        "redirect_uri=", "other="
    )
    assert_error_page(browser.get(no_redirect))


BAD_REQUESTS = (
    ({"code_challenge": "", "code_challenge_method": ""}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": ""}, "invalid_request"),
    ({"code_challenge": "too-short"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"scope": "profile"}, "invalid_scope"),
    ({"scope": "openid tokenstile:admin"}, "invalid_scope"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"max_age": "-1"}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"nonce": "n" * 513}, "invalid_request"),
    ({"login_hint": "a" * 129}, "invalid_request"),
    ({"acr_values": "x" * 257}, "invalid_request"),
)


def test_a_bad_request_for_a_good_redirect_goes_back_with_its_error(provider: Provider) -> None:
    """Missing or plain PKCE, other response types, scopes, prompts, oversized values."""
    browser = provider.browser()
    for change, error in BAD_REQUESTS:
        params = {
            "response_type": "code",
            "client_id": provider.web_id,
            "redirect_uri": WEB_REDIRECT,
            "scope": "openid",
            "state": "xyz",
            "code_challenge": pkce_pair()[1],
            "code_challenge_method": "S256",
        }
        params.update(change)
        url = f"{provider.base}/authorize?{urlencode({k: v for k, v in params.items() if v})}"
        assert_error_redirect(browser.get(url), error, WEB_REDIRECT, "xyz")
    assert provider.count("authorization_codes") == 0


def test_oversized_requests_are_refused_without_being_echoed(provider: Provider) -> None:
    browser = provider.browser()
    # An oversized state goes back without the state.
    long_state = browser.get(
        provider.authorize_url(provider.web_id, WEB_REDIRECT, state="s" * 2000)
    )
    assert long_state.status_code == 302
    assert query_of(long_state.headers["location"]) == {
        "error": "invalid_request",
        "error_description": "The state parameter is too long or not text.",
        "iss": provider.base,
    }
    # Oversized client_id, redirect_uri or whole query: a page, nothing sent anywhere.
    assert_error_page(browser.get(provider.authorize_url("c" * 200, WEB_REDIRECT)))
    assert_error_page(
        browser.get(provider.authorize_url(provider.web_id, WEB_REDIRECT + "x" * 2100))
    )
    assert_error_page(
        browser.get(provider.authorize_url(provider.web_id, WEB_REDIRECT, junk="j" * 9000))
    )
    # A repeated parameter is not guessed at (RFC 6749 section 3.1).
    twice = provider.authorize_url(provider.web_id, WEB_REDIRECT) + "&redirect_uri=https://evil"
    assert_error_page(browser.get(twice))


def test_prompt_none_without_a_session_is_login_required(provider: Provider) -> None:
    url = provider.authorize_url(provider.web_id, WEB_REDIRECT, prompt="none", state="p1")
    assert_error_redirect(provider.browser().get(url), "login_required", WEB_REDIRECT, "p1")
    assert provider.count("authorization_codes") == 0


def test_prompt_login_asks_again_even_with_a_session(provider: Provider) -> None:
    provider.person("carol")
    browser = provider.browser()
    code_for(provider, browser, "carol", client_id=provider.web_id, redirect=WEB_REDIRECT)
    silent = browser.get(provider.authorize_url(provider.web_id, WEB_REDIRECT, prompt="none"))
    assert silent.status_code == 302
    assert "code" in query_of(silent.headers["location"])
    again = browser.get(provider.authorize_url(provider.web_id, WEB_REDIRECT, prompt="login"))
    assert again.status_code == 200
    assert read_form(again.text).action == f"{provider.base}/authorize/login"


def test_csrf_token_missing_wrong_or_from_another_browser(provider: Provider) -> None:
    fob = provider.person("dave")
    victim, attacker = provider.browser(), provider.browser()
    url = provider.authorize_url(provider.web_id, WEB_REDIRECT)
    victim_page = victim.get(url)
    attacker_page = attacker.get(url)
    code = fob.next_code()
    form = read_form(victim_page.text)
    fields = {**form.hidden, "username": "dave", "code": code}
    assert form.action is not None
    missing = {k: v for k, v in fields.items() if k != "csrf_token"}
    assert_error_page(victim.http.post(form.action, data=missing), 403)
    assert_error_page(victim.http.post(form.action, data={**fields, "csrf_token": "x" * 43}), 403)
    # The attacker's own (valid for the attacker) token, in the victim's browser.
    theirs = read_form(attacker_page.text).hidden["csrf_token"]
    assert theirs != fields["csrf_token"]
    assert_error_page(victim.http.post(form.action, data={**fields, "csrf_token": theirs}), 403)
    # A cross-site post carries no pre-session cookie (SameSite=Lax): refused too.
    stranger = httpx.post(form.action, data=fields, timeout=10)
    assert_error_page(stranger, 403)
    # None of these spent the code or opened anything: it still signs in, once.
    assert provider.audit("otp_login") == []
    assert provider.count("browser_sessions") == 0
    done = victim.submit(victim_page, username="dave", code=code)
    assert done.status_code == 303


def test_a_wrong_code_shows_the_page_again_and_issues_nothing(provider: Provider) -> None:
    provider.person("erin")
    browser = provider.browser()
    page = browser.get(provider.authorize_url(provider.web_id, WEB_REDIRECT))
    refused = browser.submit(page, username="erin", code="000000")
    assert refused.status_code == 400
    assert "The username or the code is not valid." in refused.text
    assert 'role="alert"' in refused.text
    unknown = browser.submit(page, username="nobody", code="123456")
    assert unknown.text.count("The username or the code is not valid.") == 1
    assert [e["outcome"] for e in provider.audit("otp_login")] == ["failure", "failure"]
    assert provider.count("browser_sessions") == 0
    assert provider.count("authorization_codes") == 0


def test_wrong_verifier_wrong_redirect_and_missing_verifier(provider: Provider) -> None:
    provider.person("fay")
    code, verifier = code_for(
        provider, provider.browser(), "fay", client_id=provider.web_id, redirect=WEB_REDIRECT
    )
    for bad in (
        {"code_verifier": pkce_pair()[0]},
        {"code_verifier": ""},
        {"code_verifier": verifier[:20]},
        {"redirect_uri": WEB_REDIRECT + "/other"},
    ):
        answer = web_exchange(provider, code, verifier, **bad)
        assert answer.status_code == 400, bad
        assert answer.json()["error"] == "invalid_grant"
    assert app_sessions(provider, "fay") == []
    assert provider.count("refresh_tokens") == 0
    reasons = [e["detail"]["reason"] for e in provider.audit("authorization_code")]
    assert reasons == ["pkce_mismatch", "redirect_uri_mismatch"]
    # The right verifier still works: a refusal does not burn the code.
    assert web_exchange(provider, code, verifier).status_code == 200


def test_a_reused_code_is_refused_and_revokes_what_it_gave(provider: Provider) -> None:
    provider.person("gus")
    api, api_secret = provider.setup.add_client(
        "Records API", kind="resource-server", audiences=[provider.web_id], scopes=[]
    )
    assert api_secret is not None
    code, verifier = code_for(
        provider,
        provider.browser(),
        "gus",
        client_id=provider.web_id,
        redirect=WEB_REDIRECT,
        scope="openid offline_access",
    )
    first = web_exchange(provider, code, verifier)
    assert first.status_code == 200
    tokens = first.json()
    introspect = {"token": tokens["access_token"]}
    seen = httpx.post(
        f"{provider.base}/introspect", data=introspect, auth=(api.client_id, api_secret)
    )
    assert seen.json()["active"] is True

    second = web_exchange(provider, code, verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert "id_token" not in second.json()
    # What the first use issued is revoked: introspection and the refresh token say so.
    after = httpx.post(
        f"{provider.base}/introspect", data=introspect, auth=(api.client_id, api_secret)
    )
    assert after.json() == {"active": False}
    refresh = provider.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(provider.web_id, provider.web_secret),
    )
    assert refresh.status_code == 400
    alert = [e for e in provider.audit("authorization_code") if e["outcome"] == "alert"]
    assert len(alert) == 1
    assert alert[0]["detail"] == {"reason": "code_reuse", "session_ended": True}
    ended = [s for s in provider.setup.store.sessions_of("gus") if s.parent_sid]
    assert [s.revoke_reason for s in ended] == ["authorization_code_reuse"]
    # The person's sign-in in the browser (the provider session) lives on.
    assert [s.revoked_at for s in provider.setup.store.sessions_of("gus") if not s.parent_sid] == [
        None
    ]


def test_a_code_for_another_client_is_refused(provider: Provider) -> None:
    provider.person("hal")
    code, verifier = code_for(
        provider, provider.browser(), "hal", client_id=provider.native_id, redirect=NATIVE_REDIRECT
    )
    stolen = provider.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": NATIVE_REDIRECT,
            "code_verifier": verifier,
        },
        auth=(provider.web_id, provider.web_secret),
    )
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    assert app_sessions(provider, "hal") == []
    assert [e["detail"]["reason"] for e in provider.audit("authorization_code")] == [
        "client_mismatch"
    ]


def test_a_public_app_has_no_secret_and_a_confidential_one_needs_its_own(
    provider: Provider,
) -> None:
    provider.person("ida")
    browser = provider.browser()
    code, verifier = code_for(
        provider, browser, "ida", client_id=provider.native_id, redirect=NATIVE_REDIRECT
    )
    base = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": NATIVE_REDIRECT,
        "code_verifier": verifier,
    }
    with_secret = provider.token(
        {**base, "client_id": provider.native_id, "client_secret": "guessed"}
    )
    assert with_secret.status_code == 401
    assert with_secret.json()["error"] == "invalid_client"
    basic = provider.token(base, auth=(provider.native_id, "guessed"))
    assert basic.status_code == 401

    web_code, web_verifier = code_for(
        provider, browser, "ida", client_id=provider.web_id, redirect=WEB_REDIRECT
    )
    web = {**base, "code": web_code, "code_verifier": web_verifier, "redirect_uri": WEB_REDIRECT}
    for answer in (
        provider.token({**web, "client_id": provider.web_id}),
        provider.token({**web, "client_id": provider.web_id, "client_secret": "wrong"}),
        provider.token(web, auth=(provider.web_id, "wrong")),
    ):
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_client"
    assert app_sessions(provider, "ida") == []
    # client_secret_post with the right secret works; so did nothing before it.
    posted = provider.token(
        {**web, "client_id": provider.web_id, "client_secret": provider.web_secret}
    )
    assert posted.status_code == 200


def test_browser_apps_cannot_skip_authorize_through_the_factor_login(provider: Provider) -> None:
    fob = provider.person("jay")
    for client_id in (provider.native_id, provider.web_id):
        answer = httpx.post(
            f"{provider.base}/login/totp",
            json={"username": "jay", "code": fob.next_code(), "client_id": client_id},
            timeout=10,
        )
        assert answer.status_code == 400
        assert answer.json()["error"] == "unauthorized_client"
    assert provider.setup.store.sessions_of("jay") == []


def test_the_sign_in_form_shares_the_login_failure_rate_limit(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """A brute force through the browser form meets the same per-address limit as the
    factor login routes (counted before the form is even read)."""
    server = server_factory(rate_limit_login_failures=2)
    answers = [
        httpx.post(f"{server.base_url}/authorize/login", data={"code": "1"}, timeout=10)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [403, 403, 429]
    assert answers[2].headers["retry-after"]


def test_one_code_sent_twice_at_once_gives_tokens_at_most_once_and_then_none(
    any_provider: Provider,
) -> None:
    """A thief racing the app with the same code: the database lets one exchange win, the
    other is a second use, which revokes what the first gave (SQLite and PostgreSQL)."""
    provider = any_provider
    provider.person("kim")
    code, verifier = code_for(
        provider,
        provider.browser(),
        "kim",
        client_id=provider.web_id,
        redirect=WEB_REDIRECT,
        scope="openid offline_access",
    )
    barrier = Barrier(2)

    def exchange(_: int) -> httpx.Response:
        barrier.wait(10)
        return web_exchange(provider, code, verifier)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(exchange, range(2)))
    assert sorted(a.status_code for a in answers) == [200, 400]
    winner = next(a for a in answers if a.status_code == 200).json()
    refresh = provider.token(
        {"grant_type": "refresh_token", "refresh_token": winner["refresh_token"]},
        auth=(provider.web_id, provider.web_secret),
    )
    assert refresh.status_code == 400
    [ended] = [s for s in provider.setup.store.sessions_of("kim") if s.parent_sid]
    assert ended.revoke_reason == "authorization_code_reuse"


def test_the_kiosk_and_other_kinds_cannot_redeem_codes(provider: Provider) -> None:
    provider.person("lee")
    code, verifier = code_for(
        provider, provider.browser(), "lee", client_id=provider.web_id, redirect=WEB_REDIRECT
    )
    kiosk = provider.token(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": WEB_REDIRECT,
            "code_verifier": verifier,
            "client_id": "tokenstile-kiosk",
        }
    )
    assert kiosk.status_code == 400
    assert kiosk.json()["error"] == "unauthorized_client"
    assert app_sessions(provider, "lee") == []
    assert web_exchange(provider, code, verifier).status_code == 200
