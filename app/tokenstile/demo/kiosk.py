"""``tokenstile kiosk --demo``: the kiosk over a throwaway token service, with software devices.

:func:`start_demo` makes a fresh folder ``<user data dir>/kiosk-demo`` (replaced on every
start; the real embedded database beside it is never touched), runs the token service
under uvicorn on a background thread of this process at ``127.0.0.1:<free port>``, and
enrolls the demo people there:

- ``alex``: the software security key (a real CTAP2 authenticator, PIN ``1234``), plugged
  in and tapped from the demo panel;
- ``casey``: a virtual PIV card (PIN ``123456``) certified by the service's CA, served to
  the machine's pcscd through vpcd when pcscd runs, otherwise read in-process;
- ``taylor``: an authenticator app (TOTP; the panel shows its QR and current code);
- ``admin``: the demo admin, with an authenticator app too.

:func:`run_kiosk_demo` opens the kiosk window with the demo panel beside it, and the
sample desktop app (``examples/desktop-app/``) as a second small window. The window
reaches the service over HTTP only, exactly as against a fleet server. The session is kept
where real ones are, under the demo's own name (:mod:`tokenstile.demo.session`), so that
``tokenstile token`` and every app on the machine see who is signed in at the demo; a
small resource server (:mod:`tokenstile.demo.sample_app`) on another loopback port checks the
tokens the sample app sends it.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenstile import paths
from tokenstile.broker.memory_store import MemorySessionStore
from tokenstile.composition import Services, ThreadedServer, bind_loopback
from tokenstile.devices.errors import DeviceError
from tokenstile.devices.piv import PivCard
from tokenstile.devices.security_keys import KeyTransport, SecurityKey
from tokenstile.errors import TokenstileError
from tokenstile.factors.otp import totp_code
from tokenstile.kiosk.devices import InProcessCardReader, KioskDevices
from tokenstile.virtual.ctap2_authenticator import Ctap2Authenticator
from tokenstile.virtual.ctap_device import VirtualAuthenticator
from tokenstile.virtual.key_file import KeyFile
from tokenstile.virtual.user_presence import PresenceOutcome, PresenceRequest

if TYPE_CHECKING:
    import filelock

    from tokenstile.broker.store import SessionStore
    from tokenstile.config import Settings
    from tokenstile.virtual.piv_card import PivCardApplet
    from tokenstile.virtual.vpcd import VpcdCard

logger = logging.getLogger(__name__)

DEMO_FOLDER = "kiosk-demo"
ORIGIN = "tokenstile kiosk --demo"
KEY_PIN = "1234"
CARD_PIN = "123456"
CARD_PUK = "12345678"
VPCD_READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
IN_PROCESS_READER = "Tokenstile demo reader"
TOUCH_TIMEOUT = 30.0
# Set to make the software key approve every request at once (tests and benchmarks).
AUTO_TOUCH_ENV = "TOKENSTILE_DEMO_AUTO_TOUCH"


class DemoError(TokenstileError):
    """The demo could not be set up (a busy folder, a service that did not start)."""

    code = "demo_error"


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoPerson:
    """Who to sign in as, and with what: shown in the terminal and in the panel."""

    username: str
    display_name: str
    factor: str
    how: str
    is_admin: bool = False


# -- the embedded token service --------------------------------------------------------------


class LoopbackServer(ThreadedServer):
    """An ASGI app served on a background thread (:class:`ThreadedServer`); a start that
    fails is a :class:`DemoError`."""

    def start(self, timeout: float = 15.0) -> None:  # type: ignore[override]
        if not super().start(timeout):
            raise DemoError(f"The demo's {self.name} did not start: {self.failure!r}.")


class EmbeddedService(LoopbackServer):
    """The token service, in this process (see :class:`LoopbackServer`)."""

    def __init__(self, services: Services, listener: socket.socket) -> None:
        super().__init__(services.app(), listener, name="demo-token-service")
        self.services = services
        self.deployment = services.deployment
        self.url = services.settings.issuer_url()


# -- the software security key ---------------------------------------------------------------


class DemoTouch:
    """The software key's button: a request waits for :meth:`tap`, an unplug, or a cancel.

    A tap while nothing waits does nothing, as on a real key. With ``auto`` set every
    request is approved at once (enrollment, tests, benchmarks).
    """

    def __init__(self, *, auto: bool = False, timeout: float = TOUCH_TIMEOUT) -> None:
        self.auto = auto
        self.timeout = timeout
        self._condition = threading.Condition()
        self._waiting = 0
        self._taps = 0
        self._unplugged = False
        self.requests = 0

    @property
    def waiting(self) -> bool:
        with self._condition:
            return self._waiting > 0

    def tap(self) -> bool:
        """Touch the key; True when a request was waiting for it."""
        with self._condition:
            if not self._waiting:
                return False
            self._taps += 1
            self._condition.notify_all()
            return True

    def unplugged(self, value: bool) -> None:
        with self._condition:
            self._unplugged = value
            self._condition.notify_all()

    def __call__(self, request: PresenceRequest, cancel: threading.Event) -> PresenceOutcome:
        with self._condition:
            self.requests += 1
            if self.auto:
                return PresenceOutcome.APPROVED
            deadline = time.monotonic() + self.timeout
            self._waiting += 1
            try:
                while True:
                    if self._taps:
                        self._taps -= 1
                        return PresenceOutcome.APPROVED
                    if cancel.is_set() or self._unplugged:
                        return PresenceOutcome.DENIED
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return PresenceOutcome.TIMED_OUT
                    # Short waits: the platform's cancel event has no way to wake us.
                    self._condition.wait(min(remaining, 0.05))
            finally:
                self._waiting -= 1
                if not self._waiting:
                    self._taps = 0


class PluggableKey(VirtualAuthenticator):
    """The software key behind a USB plug: unplugged, every call fails as a pulled key's
    (hidraw's ``OSError``)."""

    def __init__(self, authenticator: Ctap2Authenticator, touch: DemoTouch) -> None:
        super().__init__(authenticator)
        self.touch = touch
        self._plugged = False

    @property
    def plugged(self) -> bool:
        return self._plugged

    def plug(self, plugged: bool) -> None:
        self._plugged = plugged
        self.touch.unplugged(not plugged)
        if not plugged:
            self.power_cycle()

    def call(self, cmd: int, *args: Any, **kwargs: Any) -> bytes:
        if not self._plugged:
            raise OSError("the demo security key is unplugged")
        response = super().call(cmd, *args, **kwargs)
        if not self._plugged:
            raise OSError("the demo security key was unplugged")
        return response


class DemoKeySource:
    """A ``KeySource``: the software key while it is plugged in, nothing otherwise."""

    def __init__(self, device: PluggableKey) -> None:
        self.device = device

    def find(self) -> list[SecurityKey]:
        if not self.device.plugged:
            return []
        return [SecurityKey(device=self.device, transport=KeyTransport.VIRTUAL, name="Demo key")]


# -- the virtual card ---------------------------------------------------------------------------


@dataclass
class DemoCard:
    """The virtual card and where it is: a vpcd reader of pcscd, or in-process."""

    applet: PivCardApplet
    reader: str
    vpcd: VpcdCard | None = None
    local: InProcessCardReader | None = None
    lock: filelock.FileLock | None = None

    @property
    def through_pcscd(self) -> bool:
        return self.vpcd is not None

    @property
    def inserted(self) -> bool:
        if self.vpcd is not None:
            return self.vpcd.inserted
        return self.local is not None and self.local.inserted

    def insert(self) -> None:
        if self.vpcd is not None:
            self.vpcd.insert(timeout=5.0)
        elif self.local is not None:
            self.local.insert(self.applet)

    def pull(self) -> None:
        if self.vpcd is not None:
            self.vpcd.remove()
        elif self.local is not None:
            self.local.pull()

    def close(self) -> None:
        if self.vpcd is not None:
            self.vpcd.close()
        if self.lock is not None:
            self.lock.release()


def _free_vpcd_reader() -> tuple[int, filelock.FileLock] | None:
    """A vpcd reader of a running pcscd that nobody uses (test runs hold a file lock per
    reader, the convention of ``tests/integration/pcsc``), or None: no pcscd, no vpcd."""
    import filelock

    from tokenstile.devices.pcsc import list_readers, readers_with_cards

    try:
        readers = list_readers()
        busy = readers_with_cards()
    except DeviceError:
        return None
    for index, name in enumerate(VPCD_READERS):
        if name not in readers or name in busy:
            continue
        lock = filelock.FileLock(Path(tempfile.gettempdir()) / f"tokenstile-vpcd-{index}.lock")
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            continue
        return index, lock
    return None


def _place_card(applet: PivCardApplet, *, pcsc: bool | None) -> DemoCard:
    """Put the card in a vpcd reader (``pcsc`` None: when pcscd runs) or in-process."""
    if pcsc is not False:
        found = _free_vpcd_reader()
        if found is not None:
            from tokenstile.virtual.vpcd import VpcdCard

            index, lock = found
            return DemoCard(
                applet=applet,
                reader=VPCD_READERS[index],
                vpcd=VpcdCard(applet, reader=index),
                lock=lock,
            )
        if pcsc:
            raise DemoError("No free vpcd reader: is pcscd running with vsmartcard-vpcd?")
    local = InProcessCardReader(IN_PROCESS_READER)
    return DemoCard(applet=applet, reader=local.name, local=local)


# -- the whole demo ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OtpSecret:
    username: str
    seed: bytes = field(repr=False)
    uri: str = field(repr=False)
    qr_png: bytes = field(repr=False)


@dataclass
class DemoEnvironment:
    """The running demo: the service, the people, and the software devices.

    It is the ``DemoDevices`` object the demo panel drives (see
    :mod:`tokenstile.demo.panel`).
    """

    folder: Path
    service: EmbeddedService
    people: list[DemoPerson]
    key: PluggableKey
    card: DemoCard
    otp: list[OtpSecret]
    timings: dict[str, float] = field(default_factory=dict)
    resource: LoopbackServer | None = None  # the sample app's resource server
    _closed: bool = False

    @property
    def server_url(self) -> str:
        return self.service.url

    @property
    def resource_url(self) -> str | None:
        """Where the demo's resource server answers ``/api/hello``."""
        return self.resource.url if self.resource is not None else None

    # The panel's buttons.

    @property
    def key_plugged(self) -> bool:
        return self.key.plugged

    @property
    def key_waiting(self) -> bool:
        return self.key.plugged and self.key.touch.waiting

    def plug_key(self, plugged: bool) -> None:
        self.key.plug(plugged)

    def tap_key(self) -> bool:
        return self.key.touch.tap()

    @property
    def key_hint(self) -> str:
        return f"Alex Keyholder (alex) · PIN {KEY_PIN}"

    @property
    def card_hint(self) -> str:
        where = self.card.reader if self.card.through_pcscd else "in-process reader"
        return f"Casey Cardholder (casey) · PIN {CARD_PIN} · {where}"

    @property
    def card_inserted(self) -> bool:
        return self.card.inserted

    @property
    def card_reader(self) -> str:
        return self.card.reader

    @property
    def card_through_pcscd(self) -> bool:
        return self.card.through_pcscd

    def insert_card(self) -> None:
        self.card.insert()

    def pull_card(self) -> None:
        self.card.pull()

    def otp_accounts(self) -> list[str]:
        return [secret.username for secret in self.otp]

    def otp_qr_png(self, username: str) -> bytes:
        return self._secret(username).qr_png

    def otp_uri(self, username: str) -> str:
        return self._secret(username).uri

    def otp_code(self, username: str, at: float | None = None) -> tuple[str, int]:
        """The current code and the seconds it has left."""
        now = time.time() if at is None else at
        return totp_code(self._secret(username).seed, now), 30 - int(now) % 30

    def _secret(self, username: str) -> OtpSecret:
        for secret in self.otp:
            if secret.username == username:
                return secret
        raise KeyError(username)

    # For the kiosk window.

    def key_source(self) -> DemoKeySource:
        return DemoKeySource(self.key)

    def kiosk_devices(self) -> KioskDevices:
        """The kiosk window's devices: the demo key, and the card's reader only."""
        if self.card.local is not None:
            return self.card.local.devices(keys=self.key_source())
        from tokenstile.devices.monitor import CardMonitor
        from tokenstile.devices.pcsc import open_piv_card

        def open_card(reader: str) -> PivCard:
            return open_piv_card(reader)

        return KioskDevices(
            keys=self.key_source(),
            card_monitor=CardMonitor,
            open_card=open_card,
            readers=(self.card.reader,),
        )

    def open_card(self) -> PivCard:
        """The demo card, as the kiosk opens it (in its reader)."""
        opener = self.kiosk_devices().open_card
        assert opener is not None  # noqa: S101 - both kinds of demo devices have one
        return opener(self.card.reader)

    def describe(self) -> list[str]:
        """What a first-time user needs: where the service is and who can sign in how."""
        where = (
            f"in pcscd's reader {self.card.reader!r}"
            if self.card.through_pcscd
            else "in an in-process reader (pcscd is not running)"
        )
        lines = [
            f"Demo token service: {self.server_url} (data in {self.folder})",
            f"The virtual card goes {where}.",
            "Sign in as:",
        ]
        lines += [
            f"  {p.username:<7} {p.display_name:<17} {p.factor}: {p.how}" for p in self.people
        ]
        return lines

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.key.plug(False)
        self.card.close()
        if self.resource is not None:
            self.resource.stop()
        self.service.stop()
        self.service.deployment.close()


def demo_folder() -> Path:
    return paths.data_dir() / DEMO_FOLDER


def start_demo(
    folder: Path | None = None,
    *,
    pcsc: bool | None = None,
    auto_touch: bool = False,
    plug_key: bool = False,
    insert_card: bool = False,
    resource_server: bool = False,
) -> DemoEnvironment:
    """Set up and start everything; the caller must :meth:`~DemoEnvironment.close` it.

    ``pcsc``: True needs pcscd with a free vpcd reader, False keeps the card in-process,
    None uses pcscd when it runs. ``resource_server``: serve the sample app's API too.
    """
    from tokenstile.config import load_settings
    from tokenstile.deployment import Deployment

    timings: dict[str, float] = {}
    started = time.perf_counter()
    folder = folder or demo_folder()
    _fresh_folder(folder)
    listener = bind_loopback()
    port = int(listener.getsockname()[1])
    settings = load_settings(
        db=f"sqlite:///{folder / 'tokenstile.db'}",
        kek_file=folder / "kek.key",
        host="127.0.0.1",
        port=port,
        issuer=f"http://127.0.0.1:{port}",
        sqlite_synchronous="NORMAL",
    )
    deployment = Deployment(settings)
    card: DemoCard | None = None
    service: EmbeddedService | None = None
    resource: LoopbackServer | None = None
    try:
        deployment.init()
        timings["database"] = time.perf_counter() - started
        touch = DemoTouch(auto=True)
        key = PluggableKey(
            Ctap2Authenticator(KeyFile(folder / "security-key.json"), presence=touch), touch
        )
        services = Services(deployment)
        people = _enroll_people(services, key, folder)
        applet, otp = people.applet, people.otp
        timings["people"] = time.perf_counter() - started
        touch.auto = auto_touch
        card = _place_card(applet, pcsc=pcsc)
        service = EmbeddedService(services, listener)
        service.start()
        timings["service"] = time.perf_counter() - started
        if resource_server:
            from tokenstile.demo.sample_app import register_sample_app, resource_server_app

            register_sample_app(deployment)

            api = bind_loopback()
            url = f"http://127.0.0.1:{api.getsockname()[1]}"
            resource = LoopbackServer(
                resource_server_app(service.url, url), api, name="demo-resource-server"
            )
            resource.start()
    except BaseException:
        if card is not None:
            card.close()
        if resource is not None:
            resource.stop()
        if service is not None:
            service.stop()
        listener.close()
        deployment.close()
        raise
    environment = DemoEnvironment(
        folder=folder,
        service=service,
        people=people.people,
        key=key,
        card=card,
        otp=otp,
        timings=timings,
        resource=resource,
    )
    if plug_key:
        environment.plug_key(True)
    if insert_card:
        environment.insert_card()
    return environment


def _fresh_folder(folder: Path) -> None:
    if folder.exists():
        if not (folder / "tokenstile.db").exists() and any(folder.iterdir()):
            raise DemoError(f"{folder} holds something that is not a kiosk demo: not replacing it.")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, mode=0o700)


@dataclass
class _Enrolled:
    people: list[DemoPerson]
    applet: PivCardApplet
    otp: list[OtpSecret]


def _enroll_people(services: Services, key: PluggableKey, folder: Path) -> _Enrolled:
    """The demo people, enrolled the way the admin tools enroll them."""
    from tokenstile.tokens.model import AuditEvent

    deployment = services.deployment

    people = [
        DemoPerson(
            username="alex",
            display_name="Alex Keyholder",
            factor="security key",
            how=f"plug in the demo key, tap it, PIN {KEY_PIN}",
        ),
        DemoPerson(
            username="casey",
            display_name="Casey Cardholder",
            factor="smart card",
            how=f"insert the virtual card, PIN {CARD_PIN}",
        ),
        DemoPerson(
            username="taylor",
            display_name="Taylor Fobholder",
            factor="one-time code",
            how="the code shown in the demo panel (or scan its QR)",
        ),
        DemoPerson(
            username="admin",
            display_name="Demo Admin",
            factor="one-time code",
            how="the admin's code in the demo panel (tokenstile admin)",
            is_admin=True,
        ),
    ]
    for person in people:
        deployment.store.add_user(
            person.username,
            display_name=person.display_name,
            is_admin=person.is_admin,
            at=deployment.clock.now(),
            audit=AuditEvent("user_added", "info", username=person.username, origin=ORIGIN),
        )
    key.plug(True)  # the demo key is enrolled through its plug, as a USB key would be
    try:
        _enroll_key(services, key, "alex")
    finally:
        key.plug(False)
    applet = _enroll_card(services, folder / "piv-card.json", "casey", "Casey Cardholder")
    otp = [_enroll_otp(services, name) for name in ("taylor", "admin")]
    return _Enrolled(people=people, applet=applet, otp=otp)


def _enroll_key(services: Services, key: VirtualAuthenticator, username: str) -> None:
    from tokenstile.devices.fido2_client import SecurityKeyClient
    from tokenstile.factors.webauthn_registration import parse_registration

    repository = services.webauthn_service()
    key.authenticator.provision_pin(KEY_PIN)
    client = SecurityKeyClient(key, origin=f"https://{repository.rp.id}", on_pin=lambda _: KEY_PIN)
    options = repository.begin_registration(
        username, label="Demo security key", by=ORIGIN, origin=ORIGIN
    )
    response = client.register(options.public_key)
    repository.complete_registration(
        options.handle,
        parse_registration(response),
        by=ORIGIN,
        origin=ORIGIN,
        uv_method=client.info().uv_method,
    )


def _enroll_card(services: Services, path: Path, username: str, holder: str) -> PivCardApplet:
    from cryptography import x509

    from tokenstile.virtual.piv_provision import CertificateRequest, create_piv_card

    repository = services.piv_service()

    def issue(request: CertificateRequest) -> x509.Certificate:
        _info, certificate = repository.issue(
            username, request.public_key, by=ORIGIN, origin=ORIGIN, label="Demo card"
        )
        return certificate

    return create_piv_card(path, holder=holder, pin=CARD_PIN, puk=CARD_PUK, issuer=issue)


def _enroll_otp(services: Services, username: str) -> OtpSecret:
    from tokenstile.factors.otp_enrollment import generate_seed

    repository = services.otp_service()
    _info, enrollment = repository.enroll_app(
        username, by=ORIGIN, origin=ORIGIN, seed=generate_seed(), label="Demo authenticator"
    )
    return OtpSecret(
        username=username, seed=enrollment.seed, uri=enrollment.uri, qr_png=enrollment.qr_png()
    )


# -- the window ----------------------------------------------------------------------------------


def build_demo_window(
    environment: DemoEnvironment,
    settings: Settings | None = None,
    *,
    store: SessionStore | None = None,
) -> Any:
    """The demo's top-level widget: the kiosk window with the demo panel beside it.

    Returns a ``DemoWindow`` (a ``QWidget``: ``.kiosk`` is the
    :class:`~tokenstile.kiosk.window.KioskWindow`, ``.panel`` the demo panel, ``.broker``
    the broker over ``store``, by default one in memory). Needs the ``QApplication``;
    call ``.kiosk.start()`` once it is shown.
    """
    from PySide6.QtWidgets import QHBoxLayout, QWidget

    from tokenstile.broker import Broker
    from tokenstile.config import load_settings
    from tokenstile.demo.panel import DemoPanel
    from tokenstile.kiosk.rules import KioskRules
    from tokenstile.kiosk.service import BrokerSignIn
    from tokenstile.kiosk.window import KioskWindow

    chosen = settings or load_settings()
    broker = Broker(settings=chosen, store=store if store is not None else MemorySessionStore())
    service = BrokerSignIn(environment.server_url, broker=broker)

    class DemoWindow(QWidget):
        def __init__(self) -> None:
            super().__init__()
            self.setObjectName("kioskDemo")
            self.setWindowTitle(self.tr("Tokenstile kiosk demo"))
            self.broker = broker
            self.kiosk = KioskWindow(
                service, environment.kiosk_devices(), rules=KioskRules.from_settings(chosen)
            )
            self.panel = DemoPanel(environment)
            layout = QHBoxLayout(self)
            layout.setContentsMargins(0, 0, 0, 0)
            layout.setSpacing(0)
            layout.addWidget(self.kiosk, 1)
            layout.addWidget(self.panel)

    return DemoWindow()


class DemoScript:
    """``TOKENSTILE_DEMO_SCRIPT=key``: sign in once with the software key, by itself.

    For the end-to-end test and the benchmark: plugs the key in (it approves touches at
    once), types its PIN on the PIN pad when asked, and prints
    ``demo script: signed in as <user> in <ms> ms`` (the time without the PIN typing).
    """

    def __init__(self, environment: DemoEnvironment, window: Any) -> None:
        from tokenstile.kiosk.widgets import PinPad
        from tokenstile.kiosk.window import Screen

        self.environment = environment
        self.kiosk = window.kiosk
        self._pin_pad: PinPad = self.kiosk.findChild(PinPad)
        self._pin_screen = Screen.PIN
        self._busy_screen = Screen.BUSY
        self._began = 0.0
        self._seen = 0.0
        self._typing = 0.0
        self.kiosk.screen_changed.connect(self._screen)
        self.kiosk.session_started.connect(self._signed_in)
        self.kiosk.problem_shown.connect(self._problem)

    def start(self) -> None:
        self.environment.key.touch.auto = True
        self._began = time.perf_counter()
        self.environment.plug_key(True)

    def _screen(self, screen: object) -> None:
        if screen is self._busy_screen and not self._seen:
            self._seen = time.perf_counter()
        if screen is self._pin_screen:
            asked = time.perf_counter()
            self._pin_pad.field.setText(KEY_PIN)
            self._pin_pad.submit()
            self._typing += time.perf_counter() - asked

    def _signed_in(self, info: Any) -> None:
        done = time.perf_counter()
        total = (done - self._began - self._typing) * 1000
        after_seen = (done - self._seen - self._typing) * 1000
        print(
            f"demo script: signed in as {info.username} in {total:.0f} ms "
            f"({after_seen:.0f} ms after the kiosk saw the key)",
            flush=True,
        )
        self.environment.plug_key(False)

    def _problem(self, problem: Any) -> None:
        print(f"demo script: the kiosk says: {problem.text}", flush=True)


# -- the entry point ------------------------------------------------------------------------


SCRIPT_ENV = "TOKENSTILE_DEMO_SCRIPT"
NO_DISPLAY = (
    "There is no display (DISPLAY and WAYLAND_DISPLAY are unset), so here is the terminal "
    "demo instead: the token service with a demo person."
)


def has_display() -> bool:
    """A screen to show the kiosk on (or a Qt platform chosen outright, e.g. offscreen)."""
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def run_kiosk_demo(args: argparse.Namespace) -> int:
    """``tokenstile kiosk --demo``; the exit status."""
    if not has_display():
        print(NO_DISPLAY, flush=True)
        from tokenstile.demo.headless import run_demo

        return run_demo()
    from tokenstile.config import load_settings
    from tokenstile.demo.sample_app import SAMPLE_APP_ENV, SampleApp
    from tokenstile.demo.session import DemoSession, open_demo_store
    from tokenstile.kiosk.app import application, dispose

    settings = load_settings(getattr(args, "config", None))
    app = application(sys.argv[:1], locale=settings.kiosk_locale)
    environment = start_demo(auto_touch=bool(os.environ.get(AUTO_TOUCH_ENV)), resource_server=True)
    window: Any = None
    published: DemoSession | None = None
    sample: SampleApp | None = None
    try:
        demo_store = open_demo_store(settings)
        window = build_demo_window(environment, settings, store=demo_store.store)
        published = DemoSession(window.broker, environment.server_url, shared=demo_store.shared)
        published.publish()
        if environment.resource_url is not None and os.environ.get(SAMPLE_APP_ENV) != "off":
            sample = SampleApp(environment.resource_url)
        _print_opening(environment, demo_store, sample)
        if getattr(args, "fullscreen", False):
            window.showFullScreen()
        else:
            window.resize(1400, 820)
            window.move(0, 0)
            window.show()
        window.kiosk.start()
        if sample is not None and sample.available and demo_store.shared:
            sample.start()
        return _run_window(app, environment, window)
    finally:
        if window is not None:
            window.kiosk.shutdown()
        if published is not None:
            published.withdraw()  # while the service still runs: the session is revoked
        if sample is not None:
            sample.stop()
        if window is not None:
            dispose(window)
        environment.close()
        print("The demo has ended.", flush=True)


def _print_opening(environment: DemoEnvironment, demo_store: Any, sample: Any) -> None:
    from tokenstile.demo.session import other_terminal_lines

    for line in environment.describe():
        print(line)
    shown_app = sample.command if sample is not None and sample.available else None
    for line in other_terminal_lines(demo_store, sample_app=shown_app):
        print(line)
    if sample is not None and not sample.available:
        print(f"The sample desktop app is not here ({sample.script}): it comes with the source.")
    print("Close the window (or press Ctrl+C here) to end the demo.", flush=True)


def _run_window(app: Any, environment: DemoEnvironment, window: Any) -> int:
    """The event loop, with the test hooks; Ctrl+C and SIGTERM end it cleanly."""
    import signal

    from PySide6.QtCore import QTimer

    layout = os.environ.get(LAYOUT_ENV)
    if layout:
        DemoLayout(window, Path(layout))
    script = None
    if os.environ.get(SCRIPT_ENV) == "key":
        script = DemoScript(environment, window)
        QTimer.singleShot(0, script.start)
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: app.quit())
    wake = QTimer()  # lets Python see the signal
    wake.timeout.connect(lambda: None)
    wake.start(200)
    status = int(app.exec())
    wake.stop()
    return status


LAYOUT_ENV = "TOKENSTILE_DEMO_LAYOUT"


class DemoLayout:
    """``TOKENSTILE_DEMO_LAYOUT=FILE``: where the demo's buttons are on the screen.

    For the test that drives the demo with real X mouse and key events: a JSON object of
    ``name: [x, y, width, height]`` in screen pixels (the visible ones only), written
    again whenever the kiosk changes screen or the panel changes state.
    """

    def __init__(self, window: Any, path: Path) -> None:
        from PySide6.QtCore import QTimer

        self.window = window
        self.path = path
        self._last = ""
        self._timer = QTimer(window)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self.write)
        self._timer.start()
        window.kiosk.screen_changed.connect(lambda _screen: self.write())
        self.write()

    def widgets(self) -> dict[str, Any]:
        kiosk, panel = self.window.kiosk, self.window.panel
        return {
            "plug": panel.plug,
            "tap": panel.tap,
            "card": panel.card,
            "pin_field": kiosk._pin.field,
            "sign_out": kiosk._sign_out_button,
            "lock": kiosk._lock_button,
            "enter_code": kiosk._sign_in_code,
        }

    def write(self) -> None:
        import json

        from PySide6.QtCore import QPoint

        shown: dict[str, list[int]] = {}
        for name, widget in self.widgets().items():
            if widget.isVisible():
                corner = widget.mapToGlobal(QPoint(0, 0))
                shown[name] = [corner.x(), corner.y(), widget.width(), widget.height()]
        state = {
            "screen": self.window.kiosk.current_screen.value,
            "key_waiting": self.window.panel.devices.key_waiting,
            "widgets": shown,
        }
        text = json.dumps(state, sort_keys=True)
        if text == self._last:
            return
        self._last = text
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.path)
