"""Sign-out everywhere through a real server process: RP-initiated logout (``/logout``)
and back-channel logout tokens POSTed to a real relying party's endpoint, verified
with Authlib against the JWKS the service serves."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from tests.admin_tokens import admin_headers as admin_headers_of
from tests.conftest import ServerProcess, free_port
from tests.integration.oidc.conftest import (
    Provider,
    _provider,
    provider_on,
    read_form,
    shared_server_of,
)
from tests.integration.oidc.logout_support import (
    APP_BYE,
    live_sids,
    register_app,
    relying_party,
    sign_in_to,
    verify_logout_token,
    wait_for,
)
from tokenstile.deployment import Deployment
from tokenstile.store import schema as t

pytestmark = [
    pytest.mark.server,
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
]

# Deliveries looked for every 50 ms, retried after 50 ms (doubling to 200 ms), 3 at most.
FAST: dict[str, Any] = {
    "backchannel_poll_interval": 0.05,
    "backchannel_backoff": 0.05,
    "backchannel_max_backoff": 0.2,
    "backchannel_attempts": 3,
    "backchannel_timeout": 3,
}


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The module's server, delivering logout tokens ``FAST``; each test has its own apps
    and people on it."""
    yield from shared_server_of(tmp_path_factory, **FAST)


@pytest.fixture
def provider(fast_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    yield from provider_on(fast_server, monkeypatch)


@pytest.fixture
def any_provider(server_factory: Callable[..., ServerProcess], db_url: str) -> Iterator[Provider]:
    yield from _provider(server_factory(db=db_url, **FAST))


def admin_headers(provider: Provider) -> dict[str, str]:
    """An admin's access token, minted for the server's own issuer."""
    dep = Deployment(provider.server.settings)
    try:
        return admin_headers_of(dep)
    finally:
        dep.close()


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded


def audit(provider: Provider, event: str) -> list[dict[str, Any]]:
    return provider.audit(event)


def queue_states(provider: Provider) -> list[str]:
    """The states of the deliveries queued since the test began."""
    q = t.backchannel_logouts
    after = provider.ids_before.get("backchannel_logouts", 0)
    query = select(q.c.state).where(q.c.id > after).order_by(q.c.id)
    with provider.setup.store.read() as tx:
        return [r.state for r in tx.connection.execute(query)]


def logout_url(provider: Provider, **params: str) -> str:
    return f"{provider.base}/logout?{urlencode(params)}"


def test_logout_with_a_hint_signs_out_and_tells_the_app(any_provider: Provider) -> None:
    provider = any_provider
    provider.person("alice")
    with relying_party() as rp:
        app = register_app(provider, rp.url)
        browser = provider.browser()
        tokens = sign_in_to(provider, browser, app, "alice")
        id_claims = claims_of(tokens["id_token"])
        assert len(live_sids(provider, "alice")) == 2  # the provider session and the app's

        answer = browser.get(
            logout_url(
                provider,
                id_token_hint=tokens["id_token"],
                post_logout_redirect_uri=APP_BYE,
                state="bye-1",
            )
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == f"{APP_BYE}?state=bye-1"
        assert "tokenstile-session=" in answer.headers["set-cookie"]  # cleared
        # The provider session ended, and the app session under it with it.
        assert live_sids(provider, "alice") == set()

        delivery = rp.take()
        assert delivery.content_type.startswith("application/x-www-form-urlencoded")
        claims = verify_logout_token(provider.base, delivery.token, client_id=app.client_id)
        assert claims["sid"] == id_claims["sid"]
        assert claims["sub"] == id_claims["sub"] == "alice"
        delivered = wait_for(lambda: audit(provider, "backchannel_logout_delivered"))
        assert [(e["client_id"], e["sid"]) for e in delivered] == [
            (app.client_id, id_claims["sid"])
        ]
        assert delivery.token not in json.dumps(provider.setup.store.audit_entries())
        # Once signed out, the app's refresh and the browser's cookie give nothing.
        again = browser.get(provider.authorize_url(app.client_id, "https://shop.example/callback"))
        assert again.status_code == 200  # the sign-in page, not a code


def test_an_admin_revoking_the_session_tells_every_app(provider: Provider) -> None:
    provider.person("bob")
    with relying_party() as shop_rp, relying_party() as till_rp:
        shop = register_app(provider, shop_rp.url, "Shop")
        till = register_app(provider, till_rp.url, "Till")
        browser = provider.browser()
        shop_tokens = sign_in_to(provider, browser, shop, "bob")
        sign_in_to(provider, browser, till, "bob")  # single sign-on: the same provider session
        sid = claims_of(shop_tokens["id_token"])["sid"]

        # Through the admin API of the running server, as the console does.
        done = httpx.post(
            f"{provider.base}/admin/sessions/revoke",
            json={"sid": sid},
            headers=admin_headers(provider),
            timeout=10,
        )
        assert done.status_code == 200, done.text
        shop_claims = verify_logout_token(
            provider.base, shop_rp.take().token, client_id=shop.client_id
        )
        till_claims = verify_logout_token(
            provider.base, till_rp.take().token, client_id=till.client_id
        )
        assert shop_claims["sid"] == till_claims["sid"] == sid
        assert shop_claims["jti"] != till_claims["jti"]
        assert live_sids(provider, "bob") == set()
        ended = [e for e in audit(provider, "session_revoked") if e["detail"].get("provider_sid")]
        assert len(ended) == 2  # each app session's end is audited


def test_refresh_token_reuse_tells_the_app(provider: Provider) -> None:
    provider.person("carol")
    with relying_party() as rp:
        app = register_app(provider, rp.url)
        browser = provider.browser()
        tokens = sign_in_to(provider, browser, app, "carol", scope="openid offline_access")
        old = tokens["refresh_token"]
        auth = (app.client_id, app.secret)
        fresh = provider.token({"grant_type": "refresh_token", "refresh_token": old}, auth=auth)
        assert fresh.status_code == 200, fresh.text
        newer = provider.token(
            {"grant_type": "refresh_token", "refresh_token": fresh.json()["refresh_token"]},
            auth=auth,
        )
        assert newer.status_code == 200, newer.text
        # The first token again, after its successor was used: a stolen copy.
        reused = provider.token({"grant_type": "refresh_token", "refresh_token": old}, auth=auth)
        assert reused.status_code == 400
        claims = verify_logout_token(provider.base, rp.take().token, client_id=app.client_id)
        assert claims["sid"] == claims_of(tokens["id_token"])["sid"]
        (row,) = wait_for(lambda: audit(provider, "backchannel_logout_delivered"))
        assert row["detail"]["reason"] == "refresh_token_reuse"


def test_an_app_answering_500_twice_then_200_is_delivered_once(provider: Provider) -> None:
    provider.person("dave")
    with relying_party(answers=[500, 500, 200]) as rp:
        app = register_app(provider, rp.url)
        browser = provider.browser()
        tokens = sign_in_to(provider, browser, app, "dave")
        browser.get(logout_url(provider, id_token_hint=tokens["id_token"]))
        attempts = [rp.take() for _ in range(3)]
        jtis = {
            verify_logout_token(provider.base, d.token, client_id=app.client_id)["jti"]
            for d in attempts
        }
        assert len(jtis) == 1  # one delivery, tried three times
        (row,) = wait_for(lambda: audit(provider, "backchannel_logout_delivered"))
        assert row["detail"]["attempts"] == 3
        assert row["detail"]["answer"] == 200
        assert queue_states(provider) == ["delivered"]
        assert audit(provider, "backchannel_logout_failed") == []
        assert rp.received.empty()


def test_an_app_that_is_down_fails_after_the_last_attempt(provider: Provider) -> None:
    provider.person("erin")
    down = f"http://127.0.0.1:{free_port()}/backchannel-logout"  # nothing listens there
    app = register_app(provider, down)
    browser = provider.browser()
    tokens = sign_in_to(provider, browser, app, "erin")
    browser.get(logout_url(provider, id_token_hint=tokens["id_token"]))
    (row,) = wait_for(lambda: audit(provider, "backchannel_logout_failed"))
    assert row["outcome"] == "failure"
    assert row["detail"]["attempts"] == FAST["backchannel_attempts"]
    assert row["client_id"] == app.client_id
    assert queue_states(provider) == ["failed"]
    assert audit(provider, "backchannel_logout_delivered") == []


def test_an_app_that_redirects_is_not_followed(provider: Provider) -> None:
    provider.person("fay")
    with relying_party(answers=[302, 302, 302]) as rp, relying_party() as elsewhere:
        app = register_app(provider, rp.url)
        browser = provider.browser()
        tokens = sign_in_to(provider, browser, app, "fay")
        browser.get(logout_url(provider, id_token_hint=tokens["id_token"]))
        (row,) = wait_for(lambda: audit(provider, "backchannel_logout_failed"))
        assert row["detail"]["answer"] == 302
        assert elsewhere.received.empty()


def test_an_unregistered_or_altered_post_logout_uri_gets_a_page(provider: Provider) -> None:
    provider.person("gus")
    app = register_app(provider, None)
    for altered in (
        "https://evil.example/",
        f"{APP_BYE}/../evil",
        f"{APP_BYE}?next=https://evil.example",
        f"{APP_BYE}#x",
        APP_BYE.upper(),
    ):
        browser = provider.browser()
        tokens = sign_in_to(provider, browser, app, "gus")
        answer = browser.get(
            logout_url(provider, id_token_hint=tokens["id_token"], post_logout_redirect_uri=altered)
        )
        assert answer.status_code == 200, answer.text
        assert "location" not in answer.headers
        assert "You are signed out" in answer.text
        assert "evil" not in answer.headers.get("content-security-policy", "")
    # Without a hint or a client_id the URI cannot be anyone's: never a redirect either.
    answer = provider.browser().get(logout_url(provider, post_logout_redirect_uri=APP_BYE))
    assert answer.status_code == 200
    assert "location" not in answer.headers


def _foreign_id_token(claims: dict[str, Any], kid: str) -> str:
    other_key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, other_key, algorithm="ES256", headers={"typ": "JWT", "kid": kid})


def test_a_forged_or_foreign_hint_ends_nothing(provider: Provider) -> None:
    provider.person("hal")
    app = register_app(provider, None)
    other = register_app(provider, None, "Other")
    browser = provider.browser()
    tokens = sign_in_to(provider, browser, app, "hal")
    claims = claims_of(tokens["id_token"])
    kid = jwt.get_unverified_header(tokens["id_token"])["kid"]
    header, _payload, signature = tokens["id_token"].split(".")
    altered_claims = {**claims, "sub": "admin"}
    altered = ".".join(
        [
            header,
            base64.urlsafe_b64encode(json.dumps(altered_claims).encode()).rstrip(b"=").decode(),
            signature,
        ]
    )
    before = live_sids(provider, "hal")
    for hint, extra in (
        (_foreign_id_token(claims, kid), {}),  # our kid, another key's signature
        (altered, {}),
        ("not-a-jwt", {}),
        (tokens["id_token"], {"client_id": other.client_id}),  # another app's request
    ):
        answer = browser.get(
            logout_url(provider, id_token_hint=hint, post_logout_redirect_uri=APP_BYE, **extra)
        )
        assert answer.status_code == 400, answer.text
        assert "location" not in answer.headers
        assert live_sids(provider, "hal") == before


def test_a_cross_site_logout_without_a_hint_needs_the_confirmation_form(
    provider: Provider,
) -> None:
    provider.person("ida")
    app = register_app(provider, None)
    browser = provider.browser()
    sign_in_to(provider, browser, app, "ida")
    before = live_sids(provider, "ida")
    assert len(before) == 2

    page = browser.get(
        logout_url(provider, client_id=app.client_id, post_logout_redirect_uri=APP_BYE)
    )
    assert page.status_code == 200
    assert "<script" not in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert live_sids(provider, "ida") == before  # only asked

    form = read_form(page.text)
    assert form.action == f"{provider.base}/logout/confirm"
    # A cross-site form cannot know the CSRF token; another browser's does not fit.
    stranger = provider.browser()
    stranger_page = stranger.get(logout_url(provider))
    stranger_token = read_form(stranger_page.text).hidden.get("csrf_token", "x")
    for token in (None, "", stranger_token):
        fields = {k: v for k, v in form.hidden.items() if k != "csrf_token"}
        if token is not None:
            fields["csrf_token"] = token
        refused = browser.http.post(form.action, data=fields)
        assert refused.status_code == 403
        assert live_sids(provider, "ida") == before

    done = browser.submit(page)
    assert done.status_code == 303
    assert done.headers["location"] == APP_BYE
    assert live_sids(provider, "ida") == set()


def test_a_hint_for_another_session_than_the_browsers_asks_first(provider: Provider) -> None:
    provider.person("jo")
    provider.person("kim")
    app = register_app(provider, None)
    jo_browser, kim_browser = provider.browser(), provider.browser()
    jo_tokens = sign_in_to(provider, jo_browser, app, "jo")
    sign_in_to(provider, kim_browser, app, "kim")
    # Jo's app's hint, opened in Kim's browser: Kim is asked, nobody is signed out yet.
    page = kim_browser.get(logout_url(provider, id_token_hint=jo_tokens["id_token"]))
    assert page.status_code == 200
    assert "Sign out?" in page.text
    assert len(live_sids(provider, "kim")) == 2
    assert len(live_sids(provider, "jo")) == 2


def test_a_client_registers_only_checked_logout_uris(provider: Provider) -> None:
    from tokenstile.tokens.redirect_uris import RedirectUriRefused

    for post, back in (
        (["http://shop.example/bye"], None),
        (["https://shop.example/bye#f"], None),
        ([], "http://shop.example/bcl"),
        ([], "https://user@shop.example/bcl"),
    ):
        with pytest.raises(RedirectUriRefused):
            provider.setup.add_client(
                f"bad-{len(post)}-{back}",
                kind="web",
                audiences=[],
                scopes=[],
                redirect_uris=["https://shop.example/cb"],
                post_logout_redirect_uris=post,
                backchannel_logout_uri=back,
            )
    with pytest.raises(RedirectUriRefused):
        provider.setup.add_client(
            "native-bcl",
            kind="native",
            audiences=[],
            scopes=[],
            redirect_uris=["http://127.0.0.1/cb"],
            backchannel_logout_uri="https://shop.example/bcl",
        )


def test_the_app_revoking_its_refresh_token_is_told_too(provider: Provider) -> None:
    """``POST /revoke`` (the kiosk's sign-out path) ends the app session: its app is told;
    the provider session and other apps' sessions live on."""
    provider.person("lou")
    with relying_party() as rp:
        app = register_app(provider, rp.url)
        browser = provider.browser()
        tokens = sign_in_to(provider, browser, app, "lou", scope="openid offline_access")
        done = httpx.post(
            f"{provider.base}/revoke",
            data={"token": tokens["refresh_token"]},
            auth=(app.client_id, app.secret),
            timeout=10,
        )
        assert done.status_code == 200
        claims = verify_logout_token(provider.base, rp.take().token, client_id=app.client_id)
        assert claims["sid"] == claims_of(tokens["id_token"])["sid"]
        assert live_sids(provider, "lou") == {claims["sid"]}  # the browser's sign-in lives


def test_revoking_the_fob_that_signed_in_tells_the_app(provider: Provider) -> None:
    provider.person("max")
    with relying_party() as rp:
        app = register_app(provider, rp.url)
        tokens = sign_in_to(provider, provider.browser(), app, "max")
        otp, users = t.otp_credentials, t.users
        max_id = select(users.c.id).where(users.c.username == "max").scalar_subquery()
        with provider.setup.store.read() as tx:
            query = select(otp.c.serial).where(otp.c.user_id == max_id)
            serial = tx.connection.execute(query).scalar_one()
        done = httpx.post(
            f"{provider.base}/admin/otp/revoke",
            json={"serial": serial},
            headers=admin_headers(provider),
            timeout=10,
        )
        assert done.status_code == 200, done.text
        claims = verify_logout_token(provider.base, rp.take().token, client_id=app.client_id)
        assert claims["sid"] == claims_of(tokens["id_token"])["sid"]
        assert live_sids(provider, "max") == set()
