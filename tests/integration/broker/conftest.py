"""The broker's tests: the real OS keychain (``keychain`` and ``secret_service`` from
``tests/conftest.py``: gnome-keyring's Secret Service on a private D-Bus session, once
per run) and a real token service with a person who has a TOTP fob.

A test that takes ``keychain`` has the bus in its environment, so ``keyring``,
``secret-tool`` and ``tokenstile`` subprocesses all see the same items; the session item
is removed before and after each test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SecretService, ServerProcess, add_user
from tokenstile.broker import Broker
from tokenstile.broker.store import SERVICE, SESSION_ITEM
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.factors.otp import totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.store.otp_repository import SqlOtpStore

SEED = bytes(range(20))

__all__ = [
    "SEED",
    "SecretService",
    "TokenService",
    "keychain_item",
    "secret_tool",
    "sign_in",
    "tokenstile",
]


def secret_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["secret-tool", *args], check=False, capture_output=True, text=True, timeout=10
    )


def keychain_item() -> str:
    """The session item as ``secret-tool`` sees it (empty: none)."""
    return secret_tool("lookup", "service", SERVICE, "username", SESSION_ITEM).stdout


def tokenstile(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("tokenstile")), *args],
        input=stdin,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


@dataclass
class TokenService:
    server: ServerProcess
    db: str

    @property
    def url(self) -> str:
        return self.server.base_url

    def deployment(self) -> Deployment:
        return Deployment(load_settings(db=self.db))

    def add_person(self, username: str) -> None:
        setup = self.deployment()
        try:
            add_user(setup, username)
            OtpService(SqlOtpStore(setup.store), box=setup.kek, clock=setup.clock).enroll_app(
                username, by="test", seed=SEED
            )
        finally:
            setup.close()

    def audit(self, event: str) -> list[dict[str, object]]:
        setup = self.deployment()
        try:
            return [e for e in setup.store.audit_entries() if e["event"] == event]
        finally:
            setup.close()


@pytest.fixture
def token_service(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> Callable[..., TokenService]:
    """A real ``tokenstile server`` (settings as keyword overrides) with alice enrolled."""

    def start(**overrides: object) -> TokenService:
        db = f"sqlite:///{tmp_path / 'broker.db'}"
        service = TokenService(server_factory(db=db, **overrides), db)
        service.add_person("alice")
        return service

    return start


def sign_in(
    broker: Broker, service: TokenService, username: str = "alice", client_id: str | None = None
) -> None:
    """A TOTP login through the SDK, as the kiosk does it."""
    with broker.login_client(service.url, client_id=client_id) as client:
        grant = client.login_totp(username, totp_code(SEED, time.time()))
        broker.save_login(grant, server=client.server, client_id=client.client_id)
