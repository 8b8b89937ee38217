"""Fixtures of the admin console tests: Qt offscreen, one real token service per module,
people seeded in its database, the software key and the virtual card in-process, and
dialogs that answer what a test says instead of opening native windows."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt loads; no display needed

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from tests.conftest import ServerProcess, add_user, free_port, start_server
from tokenstile.config import Settings, load_settings
from tokenstile.deployment import Deployment
from tokenstile.devices import DirectConnection, PivCard
from tokenstile.devices.security_keys import FixedKeys, KeyFinder
from tokenstile.factors.otp import totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.kiosk.admin.console import AdminWindow
from tokenstile.kiosk.admin.environment import AdminDevices
from tokenstile.store.otp_repository import SqlOtpStore
from tokenstile.virtual import VirtualAuthenticator
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_provision import create_piv_card

PIV_PIN = "123456"


@dataclass
class Service:
    """A running ``tokenstile server`` and a deployment on the same database for seeding."""

    server: ServerProcess
    settings: Settings
    deployment: Deployment
    names: Iterator[int] = field(default_factory=lambda: iter(range(1_000_000)))

    @property
    def url(self) -> str:
        return self.server.base_url

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self.names)}"

    def add_person(self, prefix: str = "person", *, admin: bool = False) -> tuple[str, bytes]:
        """A new person with an active TOTP app; their username and seed."""
        username = self.unique(prefix)
        add_user(self.deployment, username, is_admin=admin)
        seed = os.urandom(20)
        OtpService(
            SqlOtpStore(self.deployment.store), box=self.deployment.kek, clock=self.deployment.clock
        ).enroll_app(username, by="test", seed=seed)
        return username, seed


def code_now(seed: bytes) -> str:
    return totp_code(seed, time.time())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("admin-service")
    port = free_port()
    settings = load_settings(
        db=f"sqlite:///{folder / 'ts.db'}",
        kek_file=folder / "kek.key",
        port=port,
        issuer=f"http://127.0.0.1:{port}",
        webauthn_allow_software_keys=True,  # the console enrolls the software key
    )
    deployment = Deployment(settings)
    deployment.init()
    server = start_server(
        settings, folder / "server.log", {"TOKENSTILE_WEBAUTHN_ALLOW_SOFTWARE_KEYS": "true"}
    )
    try:
        yield Service(server=server, settings=settings, deployment=deployment)
    finally:
        server.stop()
        deployment.close()


@dataclass
class ScriptedDialogs:
    """The console's native dialogs, answered by the test."""

    pskc: Path | None = None
    export: Path | None = None
    answer: bool = True
    asked: list[str] = field(default_factory=list)

    def open_pskc(self, parent: object) -> Path | None:
        return self.pskc

    def save_export(self, parent: object, suggested: str) -> Path | None:
        self.asked.append(suggested)
        return self.export

    def confirm(self, parent: object, title: str, text: str) -> bool:
        self.asked.append(text)
        return self.answer


@dataclass
class Devices:
    """The software key and a virtual card, as the console will find them."""

    key: VirtualAuthenticator
    card: PivCardApplet

    def admin_devices(self) -> AdminDevices:
        return AdminDevices(
            key_finder=KeyFinder([FixedKeys([self.key])]),
            open_card=lambda: PivCard(DirectConnection(self.card)),
            key_wait=5.0,
        )


@pytest.fixture
def devices() -> Devices:
    return Devices(key=VirtualAuthenticator(), card=create_piv_card(holder="Card Holder"))


@pytest.fixture
def dialogs() -> ScriptedDialogs:
    return ScriptedDialogs()


@pytest.fixture
def window(
    qtbot: QtBot, service: Service, devices: Devices, dialogs: ScriptedDialogs
) -> Iterator[AdminWindow]:
    win = AdminWindow(service.url, devices=devices.admin_devices(), dialogs=dialogs)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


SignIn = Callable[[AdminWindow, str, bytes], None]


def sign_in_with_code(qtbot: QtBot, window: AdminWindow, username: str, seed: bytes) -> None:
    page = window.sign_in
    page.code_button.click()
    page.username.setText(username)
    page.code.setText(code_now(seed))
    with qtbot.waitSignal(page.signed_in, timeout=10_000):
        page.code_submit.click()


@pytest.fixture
def admin_window(qtbot: QtBot, service: Service, window: AdminWindow) -> AdminWindow:
    """The console, signed in by a fresh administrator with a one-time code, on People."""
    username, seed = service.add_person("admin", admin=True)
    with qtbot.waitSignal(window.people.people_loaded, timeout=10_000):
        sign_in_with_code(qtbot, window, username, seed)
    return window
