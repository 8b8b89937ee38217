"""The console on an unattended station, and a search longer than one page, against a
real token service: idle sign-out revokes the session; "Show more" reaches everyone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from tests.gui.admin.conftest import Devices, ScriptedDialogs, Service, sign_in_with_code
from tokenstile.broker.client import TokenServiceClient
from tokenstile.broker.errors import TokenRefused
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.kiosk.admin.console import AdminWindow
from tokenstile.kiosk.admin.session import ADMIN_CLIENT_ID


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def small_window(
    qtbot: QtBot,
    service: Service,
    devices: Devices,
    dialogs: ScriptedDialogs,
    clock: FrozenClock,
) -> Iterator[AdminWindow]:
    win = AdminWindow(
        service.url,
        devices=devices.admin_devices(),
        dialogs=dialogs,
        idle_seconds=600.0,
        clock=clock,
        tick_ms=10,
        people_page_size=3,
    )
    qtbot.addWidget(win)
    win.show()
    admin, seed = service.add_person("admin", admin=True)
    with qtbot.waitSignal(win.people.people_loaded, timeout=10_000):
        sign_in_with_code(qtbot, win, admin, seed)
    yield win
    win.close()


def test_idle_signs_out_and_revokes_and_input_resets_the_timer(
    qtbot: QtBot, service: Service, small_window: AdminWindow, clock: FrozenClock
) -> None:
    window = small_window
    session = window.session
    assert session is not None
    refresh_token = session._grant.refresh_token
    assert refresh_token is not None

    clock.advance(590)
    qtbot.keyClick(window.who, Qt.Key.Key_Shift)  # input: the idle time starts again
    clock.advance(590)  # 1180 s since sign-in, 590 s since the last input
    window._check_idle()
    assert window.session is session
    assert window.stack.currentWidget() is window.console

    clock.advance(10)  # 600 s without input: the next tick signs the admin out
    qtbot.waitUntil(lambda: window.session is None, timeout=10_000)
    assert window.stack.currentWidget() is window.sign_in
    assert window.sign_in.status.text() == "Signed out after 10 minutes without activity."
    assert window.people.table.rowCount() == 0

    # The session was revoked at the service: its refresh token renews nothing.
    client = TokenServiceClient(service.url, client_id=ADMIN_CLIENT_ID)

    def refused() -> bool:
        try:
            client.refresh(refresh_token)
        except TokenRefused:
            return True
        return False

    try:
        qtbot.waitUntil(refused, timeout=10_000)
    finally:
        client.close()


def test_idle_sign_out_can_be_turned_off(
    qtbot: QtBot, small_window: AdminWindow, clock: FrozenClock
) -> None:
    window = small_window
    window.idle_seconds = 0
    clock.advance(24 * 3600)
    window._check_idle()
    assert window.session is not None


def test_the_setting_defaults_to_ten_minutes() -> None:
    assert load_settings().admin_idle_minutes == 10
    assert load_settings(admin_idle_minutes=0).admin_idle_minutes == 0


def test_show_more_fetches_the_next_page_until_everyone_is_listed(
    qtbot: QtBot, service: Service, small_window: AdminWindow
) -> None:
    window = small_window
    page = window.people
    everyone = sorted(service.add_person("showmore")[0] for _ in range(7))
    with qtbot.waitSignal(page.people_loaded, timeout=10_000):
        page.search.setText("showmore")
    shown = [p["username"] for p in page.table.records()]
    assert len(shown) == 3
    assert page.count.text() == "3 of 7 people"
    assert page.more_button.isVisible()

    with qtbot.waitSignal(page.people_loaded, timeout=10_000):
        page.more_button.click()
    assert page.count.text() == "6 of 7 people"
    with qtbot.waitSignal(page.people_loaded, timeout=10_000):
        page.more_button.click()
    assert page.count.text() == "7 of 7 people"
    assert not page.more_button.isVisible()
    assert sorted(p["username"] for p in page.table.records()) == everyone

    # A new search starts again at the first page.
    with qtbot.waitSignal(page.people_loaded, timeout=10_000):
        page.search.setText(everyone[0])
    assert [p["username"] for p in page.table.records()] == [everyone[0]]
    assert not page.more_button.isVisible()
