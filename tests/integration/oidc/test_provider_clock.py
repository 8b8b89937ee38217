"""The provider in-process on a frozen clock (the FastAPI app over httpx): what depends on
time (a code's 60 seconds, ``max_age``), the cookies and headers of an ``https`` issuer,
and the page itself (language, labels, no script)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import add_user
from tests.integration.oidc.conftest import WEB_REDIRECT, Fob, pkce_pair, query_of, read_form
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.factors.otp_service import OtpService
from tokenstile.server.app import create_app
from tokenstile.store.otp_repository import SqlOtpStore
from tokenstile.tokens.model import AudiencePolicy, AuditEvent

ISSUER = "https://auth.example"


class App:
    def __init__(self, deployment: Deployment, http: TestClient, clock: FrozenClock) -> None:
        self.deployment = deployment
        self.http = http
        self.clock = clock
        client, secret = deployment.add_client(
            "Records", kind="web", audiences=[], scopes=[], redirect_uris=[WEB_REDIRECT]
        )
        assert secret is not None
        self.client_id, self.secret = client.client_id, secret
        add_user(deployment, "alice")
        self.fob = Fob(os.urandom(20))
        OtpService(SqlOtpStore(deployment.store), box=deployment.kek, clock=clock).enroll_hotp(
            "alice", self.fob.seed, by="test"
        )

    def url(self, **extra: str) -> tuple[str, str]:
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": WEB_REDIRECT,
            "scope": "openid",
            "state": "st",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return f"/authorize?{urlencode(params)}", verifier

    def sign_in(self, url: str) -> Any:
        page = self.http.get(url)
        assert page.status_code == 200, page.text
        form = read_form(page.text)
        assert form.action is not None
        return self.http.post(
            form.action, data={**form.hidden, "username": "alice", "code": self.fob.next_code()}
        )

    def exchange(self, code: str, verifier: str) -> Any:
        return self.http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": WEB_REDIRECT,
                "code_verifier": verifier,
            },
            auth=(self.client_id, self.secret),
        )


@pytest.fixture
def app(deployment: Deployment, clock: FrozenClock) -> Iterator[App]:
    with TestClient(create_app(deployment), base_url=ISSUER, follow_redirects=False) as http:
        yield App(deployment, http, clock)


def test_a_code_lives_sixty_seconds(app: App) -> None:
    url, verifier = app.url()
    code = query_of(app.sign_in(url).headers["location"])["code"]
    app.clock.advance(60)
    late = app.exchange(code, verifier)
    assert late.status_code == 400
    assert late.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code has expired.",
    }
    assert [s for s in app.deployment.store.sessions_of("alice") if s.parent_sid] == []
    url, verifier = app.url()
    code = query_of(app.http.get(url).headers["location"])["code"]
    app.clock.advance(59)
    assert app.exchange(code, verifier).status_code == 200


def test_max_age_asks_again_once_the_sign_in_is_older(app: App) -> None:
    url, _ = app.url()
    assert app.sign_in(url).status_code == 303
    app.clock.advance(120)
    fresh_enough, _ = app.url(max_age="300")
    assert app.http.get(fresh_enough).status_code == 302
    too_old, _ = app.url(max_age="60")
    assert app.http.get(too_old).status_code == 200  # the sign-in page
    silent, _ = app.url(max_age="60", prompt="none")
    answer = app.http.get(silent)
    assert query_of(answer.headers["location"])["error"] == "login_required"
    # Signing in again gives a new auth_time (and ends the older provider session).
    again = app.sign_in(too_old)
    code = query_of(again.headers["location"])["code"]
    assert code
    ended = [s for s in app.deployment.store.sessions_of("alice") if s.revoked_at is not None]
    assert [s.revoke_reason for s in ended] == ["signed_in_again"]


def test_an_audience_that_needs_more_than_a_code_is_access_denied(app: App) -> None:
    app.deployment.store.set_audience(
        AudiencePolicy(app.client_id, min_acr="phr"),
        at=app.clock.now(),
        audit=AuditEvent("audience_set", "info"),
    )
    app.clock.advance(30)  # past the audience cache
    url, _ = app.url(acr_values="phrh")
    answer = app.sign_in(url)
    assert answer.status_code == 303
    values = query_of(answer.headers["location"])
    assert values["error"] == "access_denied"
    assert "code" not in values
    # The person is signed in all the same: another request is answered without the page.
    assert "tokenstile-session" in answer.headers["set-cookie"]
    again, _ = app.url()
    assert query_of(app.http.get(again).headers["location"])["error"] == "access_denied"


def test_unreachable_acr_values_are_voluntary_the_acr_says_what_was_reached(app: App) -> None:
    url, verifier = app.url(acr_values="phrh phr")
    code = query_of(app.sign_in(url).headers["location"])["code"]
    body = app.exchange(code, verifier).json()
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["acr"] == "otp"


def test_the_https_issuer_s_cookies_and_page(app: App) -> None:
    url, _ = app.url(login_hint="alice", ui_locales="fr-CA en")
    page = app.http.get(url)
    assert page.status_code == 200
    pre = SimpleCookie(page.headers["set-cookie"])
    assert list(pre) == ["__Host-tokenstile-pre"]
    attributes = page.headers["set-cookie"].lower()
    for attribute in ("httponly", "secure", "samesite=lax", "path=/"):
        assert attribute in attributes
    assert "domain=" not in attributes
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    # one script: this service's own file (security keys), never inline or eval
    assert "script-src 'self';" in csp
    assert "unsafe" not in csp
    assert "form-action 'self' https://app.example" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    form = read_form(page.text)
    assert form.lang == "en"
    assert {"username", "code"} <= set(form.labels)
    assert page.text.lower().count("<script") == 1
    assert '<script src="/authorize/static/signin.js" integrity="sha384-' in page.text
    assert 'value="alice"' in page.text  # login_hint
    style = app.http.get("/authorize/static/signin.css")
    assert style.headers["content-type"].startswith("text/css")

    done = app.http.post(
        form.action or "",
        data={**form.hidden, "username": "alice", "code": app.fob.next_code()},
    )
    assert done.status_code == 303
    session = SimpleCookie(done.headers["set-cookie"])
    assert list(session) == ["__Host-tokenstile-session"]
    cookie = session["__Host-tokenstile-session"].value
    sids = {s.sid for s in app.deployment.store.sessions_of("alice")}
    assert cookie not in sids  # the cookie is never the sid apps see in ID tokens
    for attribute in ("httponly", "secure", "samesite=lax"):
        assert attribute in done.headers["set-cookie"].lower()


def test_discovery_publishes_the_code_flow_and_logout(app: App) -> None:
    body = app.http.get("/.well-known/openid-configuration").json()
    assert body["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["authorization_response_iss_parameter_supported"] is True
    assert "authorization_code" in body["grant_types_supported"]
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"} == set(
        body["token_endpoint_auth_methods_supported"]
    )
    assert {"ES256", "EdDSA", "RS256"} == set(
        body["token_endpoint_auth_signing_alg_values_supported"]
    )
    assert {"nonce", "at_hash", "sid", "acr", "amr", "auth_time"} <= set(body["claims_supported"])
    assert body["end_session_endpoint"] == f"{ISSUER}/logout"
    assert body["backchannel_logout_supported"] is True
    assert body["backchannel_logout_session_supported"] is True


def test_what_the_request_carries_into_the_page_is_escaped(app: App) -> None:
    """A forged request's state, nonce and login_hint cannot put markup in the page."""
    attack = '"><script>alert(1)</script><input value="'
    url, _ = app.url(state=attack, nonce=attack, login_hint="<b>x</b>")
    page = app.http.get(url)
    assert page.status_code == 200
    assert "<script>" not in page.text  # the page's one script is its own file
    assert "<b>" not in page.text
    assert read_form(page.text).hidden["state"] == attack  # carried intact, as text


def test_the_pages_speak_the_language_asked_for_first(app: App) -> None:
    """``ui_locales`` first (its first tag with pages), then ``Accept-Language``; English
    when neither names a language the pages have."""
    cases = [
        ({"ui_locales": "de"}, {}, "de"),
        ({"ui_locales": "fr-CA de-AT en"}, {}, "de"),
        ({"ui_locales": "en"}, {"Accept-Language": "de"}, "en"),
        ({}, {"Accept-Language": "fr;q=0.9, de-CH;q=0.8, en;q=0.1"}, "de"),
        ({}, {"Accept-Language": "de;q=0, en"}, "en"),
        ({}, {"Accept-Language": "de;q=bogus"}, "en"),
        ({"ui_locales": "xx-YY"}, {}, "en"),
    ]
    for params, headers, lang in cases:
        url, _ = app.url(**params)
        page = app.http.get(url, headers=headers)
        assert page.status_code == 200, (params, headers)
        form = read_form(page.text)
        assert form.lang == lang, (params, headers)
        assert ("Benutzername" in page.text) is (lang == "de"), (params, headers)
        # the security-key script's words come in the same language
        assert ("Wird vorbereitet" in page.text) is (lang == "de"), (params, headers)
    assert app.http.get("/.well-known/openid-configuration").json()["ui_locales_supported"] == [
        "de",
        "en",
    ]


def test_a_refused_code_comes_back_in_the_request_s_language(app: App) -> None:
    """The form carries ``ui_locales``: the page that says the code was wrong is German
    too, though the browser's header asks for nothing (the service's own sentence, the
    refusal, stays English: docs/web-apps.md)."""
    url, _ = app.url(ui_locales="de")
    page = app.http.get(url)
    form = read_form(page.text)
    again = app.http.post(
        form.action or "", data={**form.hidden, "username": "alice", "code": "000000"}
    )
    assert again.status_code == 400
    assert read_form(again.text).lang == "de"
    assert "Einmalcode" in again.text
    assert "The username or the code is not valid." in again.text


def test_a_translated_page_still_escapes_what_it_is_given(app: App) -> None:
    """The app's name goes into a translated sentence as an argument: escaped there too."""
    client, _ = app.deployment.add_client(
        "<img src=x onerror=alert(1)>",
        kind="web",
        audiences=[],
        scopes=[],
        redirect_uris=[WEB_REDIRECT],
    )
    url, _ = app.url(ui_locales="de", client_id=client.client_id)
    page = app.http.get(url)
    assert page.status_code == 200
    assert "<img" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt; bittet Sie, sich anzumelden." in page.text
