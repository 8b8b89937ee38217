"""The rate limits' 429, in-process: a ``RateLimited`` rendered by the app's one handler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.responses import Response

from tests.conftest import make_deployment
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.errors import OAuthError, RateLimited
from tokenstile.server import app as server_app
from tokenstile.server.app import create_app
from tokenstile.server.wire import error_response

PEER = ("192.0.2.7", 50000)  # the limits count IP peers only


@pytest.fixture
def limited(tmp_path: Path, clock: FrozenClock) -> Iterator[Deployment]:
    dep = make_deployment(
        f"sqlite:///{tmp_path / 'ts.db'}",
        clock,
        rate_limit_challenges=1,
        rate_limit_login_failures=1,
    )
    yield dep
    dep.close()


@pytest.mark.parametrize(
    ("path", "window"),
    [
        ("/login/webauthn/options", 60),
        ("/login/totp", 300),
        ("/login/tap/piv/challenge", 60),
        ("/login/tap/piv", 300),
        ("/login/tap/totp", 300),
        ("/login/tap/options", 60),
        ("/login/tap/webauthn", 300),
    ],
)
def test_the_429_goes_through_the_one_handler(
    limited: Deployment, monkeypatch: pytest.MonkeyPatch, path: str, window: int
) -> None:
    rendered: list[OAuthError] = []

    def spy(exc: OAuthError) -> Response:
        rendered.append(exc)
        return error_response(exc)

    monkeypatch.setattr(server_app, "error_response", spy)
    with TestClient(create_app(limited), base_url="https://auth.example", client=PEER) as http:
        http.post(path, json={})
        rendered.clear()
        refused = http.post(path, json={})

    assert [type(exc) for exc in rendered] == [RateLimited]
    assert refused.status_code == 429
    assert refused.content == (
        b'{"error":"slow_down","error_description":"Too many requests from this address; '
        b'retry in %d seconds."}' % window
    )
    assert dict(refused.headers) == {
        "cache-control": "no-store",
        "pragma": "no-cache",
        "retry-after": str(window),
        "content-length": str(len(refused.content)),
        "content-type": "application/json",
    }


def test_a_peer_without_an_address_is_not_counted(limited: Deployment) -> None:
    with TestClient(create_app(limited), base_url="https://auth.example") as http:
        answers = [http.post("/login/webauthn/options").status_code for _ in range(3)]
    assert 429 not in answers
