"""The real OS keychain for the broker's tests: a private D-Bus session bus with
gnome-keyring's Secret Service on it (TESTING.md's recipe), started once per test session
and stopped by PID; and a real token service with a person who has a TOTP fob.

Each test gets the bus in its environment (``DBUS_SESSION_BUS_ADDRESS``, ``HOME``), so
``keyring``, ``secret-tool`` and ``tokenstile`` subprocesses all see the same items; the
session item is removed before and after each test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, add_user
from tokenstile.broker import Broker
from tokenstile.broker.store import SERVICE, SESSION_ITEM, KeyringStore
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.factors.otp import totp_code
from tokenstile.store.otp_repository import OtpRepository

SEED = bytes(range(20))


@dataclass(frozen=True)
class SecretService:
    address: str
    home: Path
    runtime: Path


def _wait_for_secret_service(env: dict[str, str], daemon: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    probe = [
        sys.executable,
        "-c",
        "import secretstorage as s; s.get_default_collection(s.dbus_init())",
    ]
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            pytest.fail("gnome-keyring-daemon exited at start")
        if (
            subprocess.run(probe, check=False, env=env, capture_output=True, timeout=10).returncode
            == 0
        ):
            return
        time.sleep(0.1)
    pytest.fail("the Secret Service did not come up on the private bus")


@pytest.fixture(scope="session")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretService]:
    home = tmp_path_factory.mktemp("keychain-home")
    runtime = home / "run"
    runtime.mkdir(mode=0o700)
    bus = subprocess.Popen(
        [
            "dbus-daemon",
            "--session",
            "--nofork",
            "--nopidfile",
            f"--address=unix:path={runtime / 'bus'}",
            "--print-address=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    daemon: subprocess.Popen[bytes] | None = None
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        assert address.startswith("unix:"), address
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_RUNTIME_DIR": str(runtime),
            "DBUS_SESSION_BUS_ADDRESS": address,
        }
        # --unlock reads the login keyring's password from stdin: with a password the
        # keyring file on disk is encrypted (an empty one would leave it readable).
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert daemon.stdin is not None
        daemon.stdin.write(b"keyring-password")
        daemon.stdin.close()
        _wait_for_secret_service(env, daemon)
        yield SecretService(address, home, runtime)
    finally:
        if bus.stdout is not None:
            bus.stdout.close()
        for process in (daemon, bus):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


@pytest.fixture
def keychain(
    secret_service: SecretService, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KeyringStore]:
    """The real keychain for this test (and its subprocesses), emptied before and after."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service.address)
    monkeypatch.setenv("HOME", str(secret_service.home))
    monkeypatch.setenv("XDG_DATA_HOME", str(secret_service.home / ".local" / "share"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(secret_service.runtime))
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    store = KeyringStore()
    store.clear()
    yield store
    store.clear()


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
            OtpRepository(setup.store, box=setup.kek, clock=setup.clock).enroll_app(
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
