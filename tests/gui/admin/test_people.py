"""People in the console against a real token service: search, add, disable, enable,
and revoking a credential."""

from __future__ import annotations

from typing import Any

import httpx
from pytestqt.qtbot import QtBot

from tests.gui.admin.conftest import ScriptedDialogs, Service, code_now
from tokenstile.kiosk.admin.console import AdminWindow
from tokenstile.kiosk.admin.people import AddPersonDialog, Credential


def usernames(window: AdminWindow) -> list[str]:
    return [p["username"] for p in window.people.table.records()]


def search(qtbot: QtBot, window: AdminWindow, text: str) -> None:
    """Type into the search field; the list follows once typing pauses (debounced)."""
    with qtbot.waitSignal(window.people.people_loaded, timeout=10_000):
        window.people.search.setText(text)


def select(qtbot: QtBot, window: AdminWindow, username: str) -> None:
    with qtbot.waitSignal(window.people.credentials_loaded, timeout=10_000):
        assert window.people.select_person(username)


def test_search_is_debounced_and_finds_by_name(
    qtbot: QtBot, service: Service, admin_window: AdminWindow
) -> None:
    window = admin_window
    someone, _ = service.add_person("searchable")
    other, _ = service.add_person("unrelated")
    calls: list[str] = []
    original = window.people.refresh

    def counting() -> None:
        calls.append(window.people.search.text())
        original()

    window.people._debounce.timeout.disconnect()
    window.people._debounce.timeout.connect(counting)
    with qtbot.waitSignal(window.people.people_loaded, timeout=10_000):
        for end in range(1, len(someone) + 1):
            window.people.search.setText(someone[:end])  # one keystroke at a time
    assert calls == [someone]  # one request for the whole word
    assert usernames(window) == [someone]
    search(qtbot, window, someone.title()[:-1])  # display name, any case, a substring
    assert someone in usernames(window)
    assert other not in usernames(window)


def test_add_disable_and_enable_a_person(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, dialogs: ScriptedDialogs
) -> None:
    window = admin_window
    page = window.people
    page.add_button.click()
    dialog = page.dialog
    assert isinstance(dialog, AddPersonDialog)
    name = service.unique("newcomer")
    dialog.username.setText(name)
    dialog.display_name.setText("Nina Newcomer")
    with qtbot.waitSignal(page.people_loaded, timeout=10_000):
        dialog.save_button.click()
    assert page.dialog is None
    assert usernames(window) == [name]
    assert page.status.text() == f"Added {name}."

    # The same username again: one sentence in the dialog, which stays open.
    page.add_button.click()
    again = page.dialog
    assert isinstance(again, AddPersonDialog)
    again.username.setText(name)
    again.save_button.click()
    qtbot.waitUntil(lambda: again.status.kind == "error", timeout=10_000)
    assert "taken" in again.status.text() or "exists" in again.status.text()
    again.reject()

    select(qtbot, window, name)
    assert page.toggle_button.accessibleName() == "Disable the person"
    with qtbot.waitSignal(page.people_loaded, timeout=10_000):
        page.toggle_button.click()
    assert any(name in text for text in dialogs.asked)
    person = page.person()
    assert person is not None
    assert person["enabled"] is False
    assert page.table.item(0, 3).text() == "Disabled"
    assert not page.enroll_button.isEnabled()

    with qtbot.waitSignal(page.people_loaded, timeout=10_000):
        page.toggle_button.click()
    person = page.person()
    assert person is not None
    assert person["enabled"] is True


def test_disabling_can_be_called_off(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, dialogs: ScriptedDialogs
) -> None:
    window = admin_window
    name, _ = service.add_person("kept")
    search(qtbot, window, name)
    select(qtbot, window, name)
    dialogs.answer = False
    qtbot.waitUntil(lambda: window.people.pending == 0, timeout=10_000)
    window.people.toggle_button.click()
    assert dialogs.asked
    assert window.people.pending == 0  # nothing was sent
    user = service.deployment.store.find_user(name)
    assert user is not None
    assert user.enabled


def test_revoke_a_credential(qtbot: QtBot, service: Service, admin_window: AdminWindow) -> None:
    window = admin_window
    name, seed = service.add_person("fobholder")
    search(qtbot, window, name)
    select(qtbot, window, name)
    page = window.people
    rows: list[Any] = page.credentials.records()
    assert [(c.kind, c.state) for c in rows] == [("otp", "active")]
    page.credentials.selectRow(0)
    assert page.revoke_button.isEnabled()
    with qtbot.waitSignal(page.credentials_loaded, timeout=10_000):
        page.revoke_button.click()
    revoked = page.credentials.records()
    assert isinstance(revoked[0], Credential)
    assert revoked[0].state == "revoked"
    page.credentials.selectRow(0)
    assert not page.revoke_button.isEnabled()
    # The fob no longer signs in.
    answer = httpx.post(
        f"{service.url}/login/totp", json={"username": name, "code": code_now(seed)}
    )
    assert answer.status_code == 400
