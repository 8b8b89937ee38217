"""The kiosk window through an outage (issue 17, offline sign-in): a real token service
process that gives leases, the software key at the window's PIN pad. Signed in online
(the lease is kept), then the service process stops: the same person signs in at the
window against the lease; the service starts again: the window's session becomes the
service's own, and signing out then revokes it there."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from tests.conftest import start_server
from tests.gui.conftest import GUI_RULES, SESSION_LIFETIME, GuiService, RecordingStore, _service
from tests.gui.test_kiosk_flows import WAIT, signed_in_as, type_pin, wait_screen
from tests.unit.virtual.ceremony import PIN as KEY_PIN
from tokenstile.broker import Broker
from tokenstile.clock import FrozenClock, SystemClock
from tokenstile.kiosk import app as kiosk_app
from tokenstile.kiosk.app import OfflineWatch
from tokenstile.kiosk.devices import InProcessCardReader, KeyPresence
from tokenstile.kiosk.offline import OfflineDesk
from tokenstile.kiosk.service import BrokerSignIn
from tokenstile.kiosk.window import KioskWindow, Screen

ENV = {"TOKENSTILE_KIOSK_OFFLINE_HOURS": "8"}


def live(service: GuiService, username: str) -> set[str]:
    """The sids of ``username``'s sessions the service has not ended."""
    return {s.sid for s in service.deployment.store.sessions_of(username) if s.revoked_at is None}


@pytest.fixture
def leasing_service(tmp_path: Path) -> Iterator[GuiService]:
    yield from _service(tmp_path / "leasing", ENV)


def test_an_outage_at_the_window_and_back(
    qtbot: Any, leasing_service: GuiService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kiosk_app, "OFFLINE_TICK_SECONDS", 0.1)
    service = leasing_service
    alice = service.person()
    store = RecordingStore()
    broker = Broker(store=store)
    desk = OfflineDesk(
        broker=broker,
        server=service.base_url,
        client_id="tokenstile-kiosk",
        clock=SystemClock(),
        lease_store=RecordingStore(),
        key_store=RecordingStore(),
        runtime=tmp_path / "run",
    )
    sign_in = BrokerSignIn(service.base_url, broker=broker, offline=desk)
    keys, reader = KeyPresence(), InProcessCardReader()
    window = KioskWindow(
        sign_in,
        reader.devices(keys=keys),
        rules=GUI_RULES,
        clock=FrozenClock(time.time()),
        tick_ms=20,
    )
    qtbot.addWidget(window)
    window.show()
    window.start()
    watch = OfflineWatch(window, sign_in, desk)
    kiosk = type("K", (), {"window": window})()
    try:
        keys.present(alice.key)
        type_pin(qtbot, kiosk, KEY_PIN)
        signed_in_as(qtbot, kiosk, alice)  # type: ignore[arg-type]
        qtbot.waitUntil(lambda: desk.keeper.load() is not None, timeout=WAIT)
        keys.remove()
        qtbot.mouseClick(window._sign_out_button, Qt.MouseButton.LeftButton)
        wait_screen(qtbot, kiosk, Screen.SIGN_IN)  # type: ignore[arg-type]

        service.server.stop()
        keys.present(alice.key)
        type_pin(qtbot, kiosk, KEY_PIN)
        wait_screen(qtbot, kiosk, Screen.SIGNED_IN)  # type: ignore[arg-type]
        offline = window.session
        assert offline is not None
        assert (offline.username, offline.offline) == (alice.username, True)
        assert store.refresh_token is None  # the kiosk's own token, nothing to refresh

        service.server = start_server(
            service.server.settings,
            service.server.log_path,
            {"TOKENSTILE_SESSION_LIFETIME": str(SESSION_LIFETIME), **ENV},
        )
        qtbot.waitUntil(
            lambda: window.session is not None and not window.session.offline, timeout=WAIT
        )
        assert store.refresh_token is not None
        real = window.session.sid
        assert live(service, alice.username) == {real}
        # The person leaves: signing out ends the service's session, not only the screen.
        keys.remove()
        qtbot.mouseClick(window._sign_out_button, Qt.MouseButton.LeftButton)
        wait_screen(qtbot, kiosk, Screen.SIGN_IN)  # type: ignore[arg-type]
        qtbot.waitUntil(lambda: live(service, alice.username) == set(), timeout=WAIT)
    finally:
        watch.stop()
        window.shutdown()
        sign_in.close()
