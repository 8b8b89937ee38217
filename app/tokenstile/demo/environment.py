"""The running demo: the embedded service, the people and the software devices, and how it starts.

:func:`start_demo` makes a fresh folder ``<user data dir>/kiosk-demo`` (replaced on every
start; the real embedded database beside it is never touched), runs the token service
under uvicorn on a background thread of this process at ``127.0.0.1:<free port>``, and
enrolls the demo people there (:mod:`tokenstile.demo.people`). The
:class:`DemoEnvironment` it returns is what the demo panel drives and what the kiosk
window gets its devices from.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from tokenstile import paths
from tokenstile.composition import Services, bind_loopback
from tokenstile.demo.devices import DemoCard, DemoKeySource, DemoTouch, PluggableKey, place_card
from tokenstile.demo.errors import DemoError
from tokenstile.demo.people import CARD_PIN, KEY_PIN, DemoPerson, OtpSecret, enroll_people
from tokenstile.demo.service import EmbeddedService, LoopbackServer
from tokenstile.devices.piv import PivCard
from tokenstile.factors.otp import totp_code
from tokenstile.kiosk.devices import KioskDevices
from tokenstile.virtual.ctap2_authenticator import Ctap2Authenticator
from tokenstile.virtual.key_file import KeyFile

DEMO_FOLDER = "kiosk-demo"


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
        # The demo's key is the software key: allowed here, and its logins say so (swk).
        webauthn_allow_software_keys=True,
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
        people = enroll_people(services, key, folder)
        applet, otp = people.applet, people.otp
        timings["people"] = time.perf_counter() - started
        touch.auto = auto_touch
        card = place_card(applet, pcsc=pcsc)
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
