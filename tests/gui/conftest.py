"""The kiosk's GUI tests: real Qt (offscreen), a real token service, real virtual devices.

* ``QT_QPA_PLATFORM=offscreen`` is set here, before pytest-qt makes the application.
* ``gui_service`` (session): one ``tokenstile server`` process on loopback for the
  run; ``people`` enrolls fresh people on it for each test (a software FIDO2 key
  with a PIN, an in-process virtual PIV card, a TOTP seed), so no test sees another's
  one-time codes, lockouts or sessions.
* ``make_kiosk``: the real window over the real broker, with an in-memory session store
  that records what was done to it (the keychain itself is tested in
  ``test_kiosk_keychain.py`` through gnome-keyring's Secret Service: ``keychain``, from
  ``tests/conftest.py``).
* The kiosk's clock is a ``FrozenClock`` the test moves: idle time and session lifetime
  pass without sleeping.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt loads Qt

import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from tests.conftest import ServerProcess, add_user, free_port, start_server
from tests.unit.factors.webauthn_keys import SOFTWARE_KEYS_ALLOWED
from tests.unit.virtual.ceremony import PIN as KEY_PIN
from tests.unit.virtual.ceremony import new_key
from tokenstile.broker import Broker
from tokenstile.broker.client import TokenServiceClient
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.devices.connection import DirectConnection
from tokenstile.devices.fido2_client import SecurityKeyClient
from tokenstile.devices.piv import PivCard, PivSlot
from tokenstile.factors.otp import totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.factors.piv_service import PivService
from tokenstile.factors.webauthn import relying_party_for
from tokenstile.factors.webauthn_registration import parse_registration
from tokenstile.factors.webauthn_service import WebAuthnService
from tokenstile.kiosk.devices import InProcessCardReader, KeyPresence, KioskDevices
from tokenstile.kiosk.rules import KioskRules
from tokenstile.kiosk.service import BrokerSignIn
from tokenstile.kiosk.window import KioskWindow
from tokenstile.store.otp_repository import SqlOtpStore
from tokenstile.store.piv_repository import SqlPivStorage
from tokenstile.store.webauthn_repository import SqlWebAuthnStore
from tokenstile.virtual import VirtualAuthenticator
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_provision import create_piv_card

CARD_PIN = "123456"
SESSION_LIFETIME = 3600
_names = itertools.count(1)


@dataclass
class Person:
    username: str
    display_name: str
    key: VirtualAuthenticator
    card: PivCardApplet
    seed: bytes

    def code(self, at: float | None = None) -> str:
        return totp_code(self.seed, time.time() if at is None else at)


@dataclass
class GuiService:
    """A real token service, and the database behind it for enrolling people."""

    base_url: str
    deployment: Deployment
    server: ServerProcess

    def person(self, *, enroll_card: bool = True, card_pin_retries: int = 3) -> Person:
        number = next(_names)
        username, display_name = f"person{number}", f"Pat Person-{number}"
        dep = self.deployment
        add_user(dep, username, display_name=display_name)
        origin = "https://localhost"  # a loopback issuer: the RP ID is localhost
        rp = relying_party_for(self.base_url)
        key = new_key()
        repo = WebAuthnService(
            SqlWebAuthnStore(dep.store), rp=rp, clock=dep.clock, policy=SOFTWARE_KEYS_ALLOWED
        )
        options = repo.begin_registration(username, label="key", by="test")
        client = SecurityKeyClient(key, origin=origin, on_pin=lambda _prompt: KEY_PIN)
        answer = json.loads(json.dumps(client.register(options.public_key)))
        repo.complete_registration(
            options.handle, parse_registration(answer), by="test", uv_method="pin"
        )
        card = create_piv_card(holder=username, pin=CARD_PIN, pin_retries=card_pin_retries)
        if enroll_card:
            reading = PivCard(DirectConnection(card))
            der = reading.read_certificate(PivSlot.AUTHENTICATION).public_bytes(Encoding.DER)
            PivService(SqlPivStorage(dep.store), box=dep.kek, clock=dep.clock).register(
                username, der, by="test"
            )
        seed = os.urandom(20)
        OtpService(SqlOtpStore(dep.store), box=dep.kek, clock=dep.clock).enroll_app(
            username, by="test", seed=seed
        )
        return Person(username=username, display_name=display_name, key=key, card=card, seed=seed)

    def refresh_works(self, refresh_token: str) -> bool:
        """Whether the service still takes ``refresh_token`` (False once revoked)."""
        response = httpx.post(
            f"{self.base_url}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": "tokenstile-kiosk",
            },
            timeout=10,
        )
        return response.status_code == 200


def _service(directory: Path, env: dict[str, str] | None = None) -> Iterator[GuiService]:
    port = free_port()
    settings = load_settings(
        db=f"sqlite:///{directory / 'gui.db'}",
        port=port,
        issuer=f"http://127.0.0.1:{port}",
        kek_file=directory / "kek.key",
    )
    setup = Deployment(settings)
    setup.init()
    # The session's absolute lifetime: an hour, which the kiosk's clock then passes.
    server = start_server(
        settings,
        directory / "server.log",
        {"TOKENSTILE_SESSION_LIFETIME": str(SESSION_LIFETIME), **(env or {})},
    )
    service = GuiService(base_url=server.base_url, deployment=setup, server=server)
    try:
        yield service
    finally:
        server.stop()
        service.server.stop()  # a test may have started it again
        setup.close()


@pytest.fixture(scope="session")
def gui_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuiService]:
    yield from _service(tmp_path_factory.mktemp("gui-service"))


@pytest.fixture
def own_service(tmp_path: Path) -> Iterator[GuiService]:
    """A service for one test alone (to stop and start it)."""
    yield from _service(tmp_path / "own")


class RecordingStore:
    """An in-memory ``SessionStore`` that remembers what was done to it, in order."""

    def __init__(self) -> None:
        self.document: str | None = None
        self.events: list[str] = []

    @property
    def location(self) -> str:
        return "memory"

    def load(self) -> str | None:
        return self.document

    def save(self, document: str) -> None:
        self.events.append("save")
        self.document = document

    def clear(self) -> None:
        self.events.append("clear")
        self.document = None

    @property
    def refresh_token(self) -> str | None:
        if self.document is None:
            return None
        token = json.loads(self.document).get("refresh_token")
        return token if isinstance(token, str) else None


@dataclass
class Kiosk:
    window: KioskWindow
    service: BrokerSignIn
    keys: KeyPresence
    reader: InProcessCardReader
    clock: FrozenClock
    store: Any
    rules: KioskRules
    extra: dict[str, Any] = field(default_factory=dict)


GUI_RULES = KioskRules(
    idle_lock_seconds=300.0,
    # Only for a service that does not say when the session ends; this one says (an hour).
    session_lifetime_seconds=8 * 3600.0,
    retry_seconds=0.1,
    key_poll_seconds=0.02,
)


@pytest.fixture
def make_kiosk(qtbot: Any) -> Iterator[Callable[..., Kiosk]]:
    made: list[Kiosk] = []

    def make(
        service: GuiService,
        *,
        store: Any = None,
        rules: KioskRules = GUI_RULES,
        devices: KioskDevices | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> Kiosk:
        """The kiosk over ``service``; its devices an in-process key and reader (the
        test's hands on them) unless ``devices`` says otherwise; its broker's HTTP through
        ``transport`` when given (a test's hand on the wire)."""
        store = store if store is not None else RecordingStore()
        broker = Broker(store=store, transport=transport)
        client = (
            TokenServiceClient(service.base_url, client_id="tokenstile-kiosk", transport=transport)
            if transport is not None
            else None
        )
        sign_in = BrokerSignIn(service.base_url, broker=broker, client=client)
        keys = KeyPresence()
        reader = InProcessCardReader()
        clock = FrozenClock(time.time())
        window = KioskWindow(
            sign_in,
            devices if devices is not None else reader.devices(keys=keys),
            rules=rules,
            clock=clock,
            tick_ms=20,
        )
        qtbot.addWidget(window)
        window.show()
        window.start()
        kiosk = Kiosk(window, sign_in, keys, reader, clock, store, rules)
        made.append(kiosk)
        qtbot.waitUntil(lambda: not window._checking, timeout=10_000)
        return kiosk

    yield make
    for kiosk in made:
        kiosk.window.shutdown()
        kiosk.service.close()
