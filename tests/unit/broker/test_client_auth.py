"""The HTTP client's answers to the server's refusals, TokenstileAuth's retry, DPoP
proofs (checked with the server's own verifier), and the CLI's exit status."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.unit.broker.fakes import SERVER, FakeTokenService, MemoryKeyring
from tokenstile.broker import (
    Broker,
    DpopKey,
    LoginRefused,
    ServerUnreachable,
    ServiceError,
    TokenGrant,
    TokenServiceClient,
    TokenstileAuth,
)
from tokenstile.broker.store import KeyringStore
from tokenstile.cli.main import main
from tokenstile.clock import FrozenClock
from tokenstile.errors import ConfigError
from tokenstile.tokens.dpop import DpopVerifier


@pytest.mark.parametrize(
    "server", ["http://auth.example", "ftp://127.0.0.1", "https://auth.example/?x=1"]
)
def test_only_https_or_loopback_http(server: str) -> None:
    with pytest.raises(ConfigError):
        TokenServiceClient(server)


def test_loopback_http_is_allowed() -> None:
    for server in ("http://127.0.0.1:8600/", "http://localhost:1", "http://[::1]:2"):
        with TokenServiceClient(server) as client:
            assert not client.server.endswith("/")


def test_a_refused_login_is_the_servers_sentence(
    service: FakeTokenService,
) -> None:
    with TokenServiceClient(SERVER, transport=service.transport()) as client:
        with pytest.raises(LoginRefused, match=r"^The code is not right\.$") as refused:
            client.login_totp("alice", "000000")
        assert (refused.value.oauth_error, refused.value.retry_after) == ("invalid_grant", 30.0)
        grant = client.login_totp("alice", "123456")
    assert grant.refresh_token
    assert "refresh" not in repr(grant)
    assert grant.access_token not in repr(grant)


def test_no_answer_and_a_broken_server_are_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login/totp":
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/token":
            raise httpx.ReadTimeout("lost", request=request)
        return httpx.Response(503, json={"error": "temporarily_unavailable"})

    with TokenServiceClient(SERVER, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ServerUnreachable) as before:
            client.login_totp("alice", "1")
        assert before.value.maybe_delivered is False
        with pytest.raises(ServerUnreachable) as lost:
            client.refresh("r")
        assert lost.value.maybe_delivered is True
        with pytest.raises(ServerUnreachable, match="not working"):
            client.admin_get("/admin/users", "t")


def test_admin_calls_and_their_errors(tmp_path: object) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(200, json={"users": [], "total": 0})
        return httpx.Response(409, json={"error": "conflict", "error_description": "Taken"})

    with TokenServiceClient(SERVER, transport=httpx.MockTransport(handler)) as client:
        assert client.admin_get("/admin/users", "tok", {"q": "a", "include_disabled": True}) == {
            "users": [],
            "total": 0,
        }
        with pytest.raises(ServiceError, match=r"^Taken\.$") as failed:
            client.admin_post("/admin/users", "tok", {"username": "bob"})
    assert (failed.value.status, failed.value.error) == (409, "conflict")
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert seen[0].url.params["include_disabled"] == "true"


def test_tokenstile_auth_retries_once_with_a_renewed_token(
    broker: Broker, service: FakeTokenService
) -> None:
    first = broker.access_token()
    sent: list[str] = []

    def resource(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["authorization"])
        return httpx.Response(401 if request.headers["authorization"] == f"Bearer {first}" else 200)

    with httpx.Client(transport=httpx.MockTransport(resource), auth=TokenstileAuth(broker)) as http:
        assert http.post("https://payroll.example/x", content=b"body").status_code == 200
    assert sent[0] == f"Bearer {first}"
    assert sent[1] != sent[0]
    assert len(service.token_requests()) == 1  # the rejected token was renewed


def test_a_dpop_session_proves_its_key_to_the_server_and_to_apps(
    keychain: MemoryKeyring, clock: FrozenClock
) -> None:
    service = FakeTokenService(clock, token_type="DPoP")
    verifier = DpopVerifier()  # proofs carry the wall-clock time
    proofs: list[str] = []
    inner = service.handle

    def checking(request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/token", "/login/totp"):
            proofs.append(
                verifier.verify(request.headers["dpop"], method="POST", url=str(request.url)).jkt
            )
        return inner(request)

    service.handle = checking  # type: ignore[method-assign]
    broker = Broker(store=KeyringStore(keychain), clock=clock, transport=service.transport())
    key = DpopKey.generate()
    with TokenServiceClient(SERVER, transport=service.transport(), dpop_key=key) as client:
        grant = client.login_totp("alice", "123456")
    info = broker.save_login(grant, server=SERVER, client_id="kiosk", dpop_key=key)
    assert info.dpop_jkt == key.thumbprint
    token = broker.token(min_ttl=10**6)  # a refresh: proved with the same key
    assert proofs == [key.thumbprint, key.thumbprint]

    def resource(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"DPoP {token.access_token}"
        proof = verifier.verify(
            request.headers["dpop"],
            method="GET",
            url="https://payroll.example/x",
            access_token=token.access_token,
            jkt=key.thumbprint,
        )
        return httpx.Response(200, json={"jkt": proof.jkt})

    with httpx.Client(transport=httpx.MockTransport(resource), auth=TokenstileAuth(broker)) as http:
        assert http.get("https://payroll.example/x?page=2").json() == {"jkt": key.thumbprint}


def test_tokenstile_token_exit_status(
    make_broker: Callable[[], Broker],
    keychain: MemoryKeyring,
    service: FakeTokenService,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("tokenstile.broker.session.open_store", lambda _: KeyringStore(keychain))
    assert main(["token"]) == 2
    assert capsys.readouterr().err.startswith("tokenstile: Not signed in")
    assert main(["status"]) == 2
    make_broker().save_login(TokenGrant.from_json(service.grant()), server=SERVER, client_id="k")
    capsys.readouterr()
    assert main(["token", "--min-ttl", "0"]) == 0
    assert capsys.readouterr().out.count(".") == 2
    assert main(["token", "--min-ttl", "-1"]) == 1
    assert "must not be negative" in capsys.readouterr().err
