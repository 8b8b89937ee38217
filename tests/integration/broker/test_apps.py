"""Apps obtain their own tokens from the kiosk's session (issue 6, "per-app tokens"), one
Broker serves many threads, and the session says when it ends and whose it is — against
a real token service (registered with the real CLI) and the real keychain."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import jwt
import pytest

from tests.integration.broker.conftest import TokenService, sign_in, tokenstile
from tokenstile.broker import Broker, NotLoggedIn, TokenRefused
from tokenstile.broker.store import KeyringStore
from tokenstile.protocol.scopes import ADMIN_SCOPE

pytestmark = [pytest.mark.server]

PAYROLL = "https://payroll.example"


def claims(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def register_app(service: TokenService, name: str, *args: str) -> str:
    """``tokenstile manage client add NAME --kind app ...``; the new client id."""
    done = tokenstile("manage", "--db", service.db, "client", "add", name, "--kind", "app", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("client_id:")[1].split()[0]


def test_an_app_gets_its_own_token_from_the_kiosk_session(
    token_service: Callable[..., TokenService],
    keychain: KeyringStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = token_service()
    payroll = register_app(
        service, "payroll", "--audience", PAYROLL, "--scope", "payroll", "--scope", ADMIN_SCOPE
    )
    sign_in(Broker(), service)  # at the kiosk: its client knows nothing of payroll
    session_token = claims(Broker().access_token())
    assert "payroll" not in str(session_token["scope"])

    with Broker(app_id=payroll) as app:
        token = app.access_token(audience=PAYROLL)
    got = claims(token)
    assert (got["aud"], got["scope"], got["client_id"]) == (PAYROLL, "payroll", payroll)
    for same in ("sub", "sid", "acr", "amr", "auth_time"):
        assert got[same] == session_token[same]
    # From the command line (and to any process of that app), the kept token.
    printed = tokenstile("token", "--audience", PAYROLL, "--client-id", payroll)
    assert (printed.returncode, printed.stdout.strip()) == (0, token), printed.stderr
    monkeypatch.setenv("TOKENSTILE_BROKER_APP_ID", payroll)
    assert Broker().access_token(audience=PAYROLL) == token
    assert len(service.audit("token_exchange")) == 1

    # The admin scope is not for alice, whatever the app's registration says.
    with pytest.raises(TokenRefused, match=ADMIN_SCOPE) as admin:
        Broker().access_token(audience=PAYROLL, scope=ADMIN_SCOPE)
    assert admin.value.oauth_error == "invalid_scope"
    # An audience the app is not registered for; an app the service does not know; the
    # kiosk's own client asking for the app's audience.
    with pytest.raises(TokenRefused) as other:
        Broker().access_token(audience="https://hr.example")
    assert other.value.oauth_error == "invalid_target"
    with pytest.raises(TokenRefused, match="does not know the app 'ghost'"):
        Broker(app_id="ghost").access_token(audience=PAYROLL)
    monkeypatch.delenv("TOKENSTILE_BROKER_APP_ID")
    with pytest.raises(TokenRefused) as kiosk:
        Broker().access_token(audience=PAYROLL)
    assert kiosk.value.oauth_error == "invalid_target"
    assert Broker().session() is not None  # refusals never end the session


def test_one_broker_serves_many_threads_across_expiries(
    token_service: Callable[..., TokenService], keychain: KeyringStore
) -> None:
    service = token_service(access_token_lifetime=2)
    payroll = register_app(service, "payroll", "--audience", PAYROLL, "--scope", "payroll")
    sign_in(Broker(), service)
    failures: list[str] = []
    seen: set[str] = set()
    deadline = time.time() + 3.0  # 2-second tokens, renewed with 1 s left: >= 2 refreshes

    with Broker(app_id=payroll) as broker:

        def app(audience: str | None) -> None:
            while time.time() < deadline:
                try:
                    token = broker.access_token(audience=audience, min_ttl=1)
                except Exception as exc:  # every failure is reported
                    failures.append(repr(exc))
                    return
                exp = claims(token)["exp"]
                assert isinstance(exp, int)
                if exp <= time.time():
                    failures.append("an expired token")
                seen.add(token)
                time.sleep(0.01)

        threads = [threading.Thread(target=app, args=(a,)) for a in (None, PAYROLL) * 3]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert failures == []
    assert len(seen) >= 4  # renewed across the expiries, for both audiences
    refreshes = service.audit("refresh")
    assert len(refreshes) >= 2
    assert {e["outcome"] for e in refreshes} == {"success"}  # never two at once
    assert Broker().session() is not None


def test_the_session_says_when_it_ends_and_whose_it_is(
    token_service: Callable[..., TokenService], keychain: KeyringStore
) -> None:
    service = token_service(session_lifetime=7200)
    started = time.time()
    sign_in(Broker(), service)
    info = Broker().session()
    assert info is not None
    assert info.display_name == "Alice"  # add_user's default display name
    assert info.session_expires_at is not None
    assert started + 7200 - 2 <= info.session_expires_at <= time.time() + 7200
    status = tokenstile("status")
    assert status.returncode == 0
    assert "session:" in status.stdout
    assert "until" in status.stdout.split("session:")[1].splitlines()[0]
    # A refresh keeps both (the session's end does not move).
    Broker().access_token(min_ttl=10**6)
    again = Broker().session()
    assert again is not None
    assert again.display_name == "Alice"
    assert again.session_expires_at is not None
    assert abs(again.session_expires_at - info.session_expires_at) <= 2
    Broker().logout()
    with pytest.raises(NotLoggedIn):
        Broker().access_token()
    assert tokenstile("token", "--json").returncode == 2
