"""Refresh through the broker against a real token service and the real keychain: many
processes across an expiry, a process killed mid-refresh, the server down and back, a
session revoked at the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_server
from tests.integration.broker.conftest import TokenService, keychain_item, sign_in
from tokenstile.broker import Broker, NotLoggedIn, ServerUnreachable
from tokenstile.broker.model import StoredSession
from tokenstile.broker.store import KeyringStore

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]


def worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.broker.worker", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def refresh_outcomes(service: TokenService) -> list[tuple[object, object]]:
    return [(e["outcome"], e["detail"].get("reason")) for e in service.audit("refresh")]  # type: ignore[union-attr]


def test_eight_processes_share_one_session_across_expiries(
    token_service: Callable[..., TokenService], keychain: KeyringStore
) -> None:
    service = token_service(access_token_lifetime=2)
    sign_in(Broker(), service)
    apps = [worker("calls", "50", "0.08") for _ in range(8)]
    results = [app.communicate(timeout=120) for app in apps]
    for app, (out, err) in zip(apps, results, strict=True):
        assert app.returncode == 0, (out, err)
    # Several refreshes happened, each by one process, none refused: reuse detection
    # never fired, and the session lives on.
    outcomes = refresh_outcomes(service)
    assert len(outcomes) >= 2
    assert {o for o, _ in outcomes} == {"success"}, outcomes
    assert Broker().session() is not None
    assert Broker().access_token(min_ttl=10**6)


def test_a_process_killed_mid_refresh_does_not_end_the_session(
    token_service: Callable[..., TokenService], keychain: KeyringStore, tmp_path: Path
) -> None:
    service = token_service()
    sign_in(Broker(), service)
    before = StoredSession.from_json(keychain_item())
    marker = tmp_path / "refreshed"
    app = worker("hang", str(marker))
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert app.poll() is None, app.communicate()
            assert time.monotonic() < deadline, "the worker never refreshed"
            time.sleep(0.02)
        os.kill(app.pid, signal.SIGKILL)  # its lock dies with it
    finally:
        app.kill()
        app.communicate()
    assert marker.read_text() == "200"
    assert StoredSession.from_json(keychain_item()).refresh_token == before.refresh_token

    token = Broker().access_token(min_ttl=10**6)  # the stale refresh token, retried
    after = StoredSession.from_json(keychain_item())
    assert token == after.access.access_token != before.access.access_token
    assert after.refresh_token != before.refresh_token
    outcomes = refresh_outcomes(service)
    assert ("alert", "refresh_token_reuse") not in outcomes
    assert [e["outcome"] for e in service.audit("refresh_retry")] == ["success"]
    assert Broker().access_token(min_ttl=10**6)  # and the session goes on


def test_server_down_then_up_again(
    token_service: Callable[..., TokenService], keychain: KeyringStore, tmp_path: Path
) -> None:
    service = token_service(access_token_lifetime=3)
    sign_in(Broker(), service)
    cached = StoredSession.from_json(keychain_item()).access
    service.server.stop()
    assert Broker().access_token() == cached.access_token  # due, but served while valid
    time.sleep(max(0.0, cached.expires_at - time.time()) + 0.2)
    with pytest.raises(ServerUnreachable, match="cannot be reached"):
        Broker().access_token()
    again = start_server(
        service.server.settings,
        tmp_path / "again.log",
        {"TOKENSTILE_ACCESS_TOKEN_LIFETIME": "3"},
    )
    try:
        fresh = Broker().access_token()
        assert fresh != cached.access_token
        assert Broker().session() is not None
    finally:
        again.stop()


def test_a_session_revoked_at_the_server_signs_out_here(
    token_service: Callable[..., TokenService], keychain: KeyringStore
) -> None:
    service = token_service()
    broker = Broker()
    sign_in(broker, service)
    stored = StoredSession.from_json(keychain_item())
    with httpx.Client(base_url=service.url) as http:  # an admin ends the session
        http.post(
            "/revoke", data={"token": stored.refresh_token, "client_id": stored.client_id}
        ).raise_for_status()
    assert broker.access_token() == stored.access.access_token  # still cached, still valid
    with pytest.raises(NotLoggedIn, match="Sign in again"):
        broker.access_token(min_ttl=10**6)
    assert keychain_item() == ""
    assert broker.session() is None
