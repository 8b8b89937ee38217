"""Per-app exchanges (``app_id``), what the session says about its end and its person,
the client's HTTP details (Basic for a confidential app, DPoP on admin calls, one call
for the login options) and closing a Broker. Fakes here; the real server in
tests/integration/broker/test_apps.py."""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.unit.broker.fakes import SERVER, FakeTokenService, MemoryKeyring
from tokenstile.broker import Broker, DpopKey, TokenGrant, TokenRefused, TokenServiceClient
from tokenstile.broker.model import StoredSession
from tokenstile.broker.options import BrokerOptions
from tokenstile.broker.store import SERVICE, SESSION_ITEM, KeyringStore
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.errors import ConfigError
from tokenstile.tokens.dpop import DpopVerifier

PAYROLL = "https://payroll.example"


def stored(keychain: MemoryKeyring) -> StoredSession:
    return StoredSession.from_json(keychain.items[(SERVICE, SESSION_ITEM)])


def exchanges(service: FakeTokenService) -> list[dict[str, str]]:
    return [f for f in service.token_requests() if f["grant_type"].endswith(":token-exchange")]


def test_an_app_exchanges_as_itself_and_keeps_its_own_tokens(
    broker: Broker,
    keychain: MemoryKeyring,
    service: FakeTokenService,
    clock: FrozenClock,
) -> None:
    app = Broker(
        store=KeyringStore(keychain), clock=clock, transport=service.transport(), app_id="payroll"
    )
    mine = app.access_token(audience=PAYROLL)
    assert exchanges(service)[-1]["client_id"] == "payroll"
    # The session's client asking for the same audience gets (and keeps) its own token.
    theirs = broker.access_token(audience=PAYROLL)
    assert theirs != mine
    assert exchanges(service)[-1]["client_id"] == "tokenstile-kiosk"
    assert sorted(stored(keychain).exchanged) == [PAYROLL, f"{PAYROLL}\tpayroll"]
    # Each is then served from the keychain, to any process of that app.
    again = Broker(store=KeyringStore(keychain), clock=clock, transport=service.transport())
    again.app_id = "payroll"
    assert again.access_token(audience=PAYROLL) == mine
    assert len(exchanges(service)) == 2
    # The session's own token never goes through an exchange, app or not.
    assert app.access_token() == stored(keychain).access.access_token


def test_the_app_id_comes_from_the_environment_or_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOKENSTILE_BROKER_APP_ID", "payroll")
    monkeypatch.setenv("TOKENSTILE_BROKER_APP_SECRET", "s3cret")
    options = BrokerOptions.from_environment()
    assert (options.app_id, options.app_secret) == ("payroll", "s3cret")
    assert "s3cret" not in repr(options)
    from_settings = BrokerOptions.from_settings(load_settings())
    assert (from_settings.app_id, from_settings.app_secret) == ("payroll", "s3cret")
    assert Broker(store=KeyringStore(MemoryKeyring())).app_id == "payroll"
    assert Broker(store=KeyringStore(MemoryKeyring()), app_id="files").app_id == "files"
    monkeypatch.setenv("TOKENSTILE_BROKER_APP_ID", "x" * 129)
    with pytest.raises(ConfigError, match="TOKENSTILE_BROKER_APP_ID"):
        BrokerOptions.from_environment()


def test_a_confidential_app_authenticates_with_basic(
    broker: Broker,
    keychain: MemoryKeyring,
    service: FakeTokenService,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOKENSTILE_BROKER_APP_SECRET", "a b:c")
    app = Broker(
        store=KeyringStore(keychain), clock=clock, transport=service.transport(), app_id="pay:1"
    )
    app.access_token(audience=PAYROLL)
    [request] = [r for r in service.requests if r.url.path == "/token"]
    scheme, _, value = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    # RFC 6749 section 2.3.1: each part form-urlencoded first.
    assert base64.b64decode(value).decode() == "pay%3A1:a+b%3Ac"
    assert dict(parse_qsl(request.content.decode()))["client_id"] == "pay:1"
    # The session's own refresh stays a public client's request.
    clock.advance(service.lifetime)
    broker.access_token()
    assert "authorization" not in service.requests[-1].headers


def test_an_unknown_app_is_told_so(
    keychain: MemoryKeyring, service: FakeTokenService, clock: FrozenClock, broker: Broker
) -> None:
    def unknown(request: httpx.Request) -> httpx.Response:
        body = {"error": "invalid_client", "error_description": "Unknown client."}
        return httpx.Response(401, json=body)

    service.script.append(unknown)
    app = Broker(
        store=KeyringStore(keychain), clock=clock, transport=service.transport(), app_id="ghost"
    )
    with pytest.raises(TokenRefused, match="does not know the app 'ghost'") as refused:
        app.access_token(audience=PAYROLL)
    assert refused.value.oauth_error == "invalid_client"
    assert app.session() is not None  # the session is fine: only this app is unknown


def test_the_session_knows_its_end_and_its_person(
    broker: Broker, keychain: MemoryKeyring, service: FakeTokenService, clock: FrozenClock
) -> None:
    info = broker.session()
    assert info is not None
    signed_in_at = clock.now()
    assert info.session_expires_at == signed_in_at + 8 * 3600
    assert info.display_name == "Alice Example"
    # A refresh says how long is left again (here: the server shortened the session).
    service.session_lifetime = 600
    clock.advance(service.lifetime)
    broker.access_token()
    info = broker.session()
    assert info is not None
    assert info.session_expires_at == clock.now() + 600
    assert info.display_name == "Alice Example"


def test_a_server_that_says_neither_leaves_them_unknown(
    make_broker: Callable[[], Broker], service: FakeTokenService
) -> None:
    service.session_lifetime = None
    inner = service.handle

    def no_userinfo(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/userinfo":
            raise httpx.ConnectError("refused", request=request)
        return inner(request)

    service.handle = no_userinfo  # type: ignore[method-assign]
    info = make_broker().save_login(
        TokenGrant.from_json(service.grant()), server=SERVER, client_id="tokenstile-kiosk"
    )
    assert (info.session_expires_at, info.display_name) == (None, "")


@pytest.mark.parametrize("bad", [-1, "600", 1.5, True])
def test_a_bad_refresh_token_expires_in_is_refused_or_clamped(bad: object) -> None:
    body = {"access_token": "a", "expires_in": 60, "refresh_token_expires_in": bad}
    if bad == -1:
        assert TokenGrant.from_json(body).refresh_token_expires_in == 0
    else:
        with pytest.raises(ValueError, match="refresh_token_expires_in"):
            TokenGrant.from_json(body)


def test_the_login_options_come_in_one_call() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={"factors": ["fido2", "totp"], "webauthn_rp_id": "x.ex"})

    with TokenServiceClient(SERVER, transport=httpx.MockTransport(handler)) as client:
        options = client.login_options()
        assert (options.factors, options.webauthn_rp_id) == (("fido2", "totp"), "x.ex")
        assert client.factors() == ["fido2", "totp"]
        assert client.webauthn_rp_id() == "x.ex"
    assert calls == ["/login/factors"] * 3


def test_admin_calls_prove_the_key_of_a_dpop_client(tmp_path: object) -> None:
    key = DpopKey.generate()
    verifier = DpopVerifier()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/export"):
            return httpx.Response(200, content=b"a,b\n")
        return httpx.Response(200, json={"ok": True})

    target = tmp_path / "audit.csv"  # type: ignore[operator]
    with TokenServiceClient(SERVER, transport=httpx.MockTransport(handler), dpop_key=key) as c:
        c.admin_get("/admin/users", "tok", {"q": "a"})
        c.admin_post("/admin/users", "tok", {"username": "bob"})
        c.admin_download("/admin/audit/export", "tok", {"format": "csv"}, target)
    for request in seen:
        assert request.headers["authorization"] == "DPoP tok"
        url = str(request.url.copy_with(query=None))
        proof = verifier.verify(
            request.headers["dpop"],
            method=request.method,
            url=url,
            access_token="tok",
            jkt=key.thumbprint,
        )
        assert proof.jkt == key.thumbprint
    assert [r.method for r in seen] == ["GET", "POST", "GET"]


def test_close_closes_the_kept_clients_and_the_broker_still_reads(
    broker: Broker, service: FakeTokenService, clock: FrozenClock
) -> None:
    clock.advance(service.lifetime)
    broker.access_token()  # a refresh: a client is kept
    [client] = broker._clients.values()
    with broker:
        pass
    assert client._http.is_closed
    assert broker._clients == {}
    assert broker.session() is not None
    clock.advance(service.lifetime)
    assert broker.access_token()  # a new client, when the network is needed again
    broker.close()
