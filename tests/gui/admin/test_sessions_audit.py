"""Sessions and the audit log in the console, against a real token service; and what the
admin sees when the service is down or their own session ends."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import httpx
from PySide6.QtCore import QDateTime
from pytestqt.qtbot import QtBot

from tests.conftest import free_port
from tests.gui.admin.conftest import Devices, ScriptedDialogs, Service, code_now
from tokenstile.kiosk.admin.console import AdminWindow


def person_logs_in(service: Service, username: str, seed: bytes) -> dict[str, str]:
    answer = httpx.post(
        f"{service.url}/login/totp", json={"username": username, "code": code_now(seed)}
    )
    assert answer.status_code == 200, answer.text
    tokens: dict[str, str] = answer.json()
    return tokens


def show_sessions(qtbot: QtBot, window: AdminWindow, username: str) -> None:
    page = window.sessions
    with qtbot.waitSignal(page.sessions_loaded, timeout=10_000):
        window.tabs.setCurrentWidget(page)
    with qtbot.waitSignal(page.sessions_loaded, timeout=10_000):
        page.person.setText(username)


def test_list_and_revoke_a_session(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, dialogs: ScriptedDialogs
) -> None:
    window = admin_window
    name, seed = service.add_person("worker")
    tokens = person_logs_in(service, name, seed)
    show_sessions(qtbot, window, name)
    page = window.sessions
    rows = page.table.records()
    assert [(r["username"], r["client_id"]) for r in rows] == [(name, "tokenstile-kiosk")]
    assert page.table.item(0, 6).text() == "Live"
    page.table.selectRow(0)
    with qtbot.waitSignal(page.sessions_loaded, timeout=10_000):
        page.revoke_button.click()
    assert any(name in text for text in dialogs.asked)
    assert page.table.rowCount() == 0  # live sessions only
    assert page.status.text() == "The session has ended."
    with qtbot.waitSignal(page.sessions_loaded, timeout=10_000):
        page.active_only.setChecked(False)
    assert page.table.item(0, 6).text().startswith("Revoked")
    page.table.selectRow(0)
    assert not page.revoke_button.isEnabled()
    refresh = httpx.post(
        f"{service.url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "tokenstile-kiosk",
        },
    )
    assert refresh.status_code == 400


def test_the_consoles_own_session_is_marked_and_not_revoked_here(
    qtbot: QtBot, admin_window: AdminWindow
) -> None:
    window = admin_window
    session = window.session
    assert session is not None
    show_sessions(qtbot, window, session.username)
    page = window.sessions
    assert page.table.item(0, 6).text() == "Live (this console)"
    page.table.selectRow(0)
    page.revoke_button.click()
    qtbot.waitUntil(lambda: page.status.kind == "error", timeout=10_000)
    assert page.status.text() == "This is the session you are using: sign out instead."
    assert window.session is session


def test_a_session_ended_elsewhere_returns_to_sign_in(
    qtbot: QtBot, service: Service, admin_window: AdminWindow
) -> None:
    window = admin_window
    session = window.session
    assert session is not None
    # A dialog left open on People (someone was adding a person) ...
    window.people.add_button.click()
    dialog = window.people.dialog
    assert dialog is not None
    dialog.username.setText("half-typed")
    closed: list[int] = []
    dialog.finished.connect(closed.append)
    # Another admin ends this console's session.
    other, seed = service.add_person("otheradmin", admin=True)
    login = httpx.post(
        f"{service.url}/login/totp",
        json={"username": other, "code": code_now(seed), "client_id": "tokenstile-admin-console"},
    )
    token = login.json()["access_token"]
    revoked = httpx.post(
        f"{service.url}/admin/sessions/revoke",
        json={"sid": session.identity.sid},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert revoked.json() == {"revoked": True}
    # The console's next call is refused, its refresh token too: back to sign-in.
    window.people.refresh()
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.sign_in, timeout=10_000)
    assert window.session is None
    assert window.sign_in.status.text() == "Your admin session has ended: sign in again."
    # ... is closed with the session (and may be deleted by now): the next person at the
    # desk does not find it.
    assert closed
    assert window.people.dialog is None


def test_audit_filters_pages_and_exports(
    qtbot: QtBot,
    service: Service,
    admin_window: AdminWindow,
    dialogs: ScriptedDialogs,
    tmp_path: Path,
) -> None:
    window = admin_window
    name, seed = service.add_person("audited")
    person_logs_in(service, name, seed)
    page = window.audit
    with qtbot.waitSignal(page.events_loaded, timeout=10_000):
        window.tabs.setCurrentWidget(page)
    assert page.table.rowCount() > 0

    page.person.setText(name)
    page.page_size = 3
    with qtbot.waitSignal(page.events_loaded, timeout=10_000):
        page.search_button.click()
    first = page.table.records()
    assert len(first) == 3
    assert all(e["username"] == name for e in first)
    ids = [e["id"] for e in first]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert page.older_button.isEnabled()
    with qtbot.waitSignal(page.events_loaded, timeout=10_000):
        page.older_button.click()
    older = page.table.records()
    assert older
    assert max(e["id"] for e in older) < min(ids)
    assert page.page_label.text().startswith("Page 2")
    everything = {e["event"] for e in first + older}
    assert {"user_added", "otp_login"} <= everything

    page.page_size = 100
    page.event_name.setCurrentText("user_added")
    with qtbot.waitSignal(page.events_loaded, timeout=10_000):
        page.search_button.click()
    assert [(e["event"], e["username"]) for e in page.table.records()] == [("user_added", name)]

    page.outcome.setCurrentIndex(page.outcome.findData("failure"))
    with qtbot.waitSignal(page.events_loaded, timeout=10_000):
        page.search_button.click()
    assert page.table.rowCount() == 0
    page.outcome.setCurrentIndex(0)

    page.use_since.setChecked(True)
    page.since.setDateTime(QDateTime.currentDateTime().addDays(1))
    with qtbot.waitSignal(page.events_loaded, timeout=10_000):
        page.search_button.click()
    assert page.table.rowCount() == 0
    page.use_since.setChecked(False)

    # Export what the filters select: CSV, then JSON lines, through the save dialog.
    dialogs.export = tmp_path / "audit.csv"
    with qtbot.waitSignal(page.exported, timeout=10_000):
        page.export_button.click()
    assert dialogs.asked[-1] == "tokenstile-audit.csv"
    with dialogs.export.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["event"], r["username"]) for r in rows] == [("user_added", name)]
    assert page.status.text() == f"Saved the audit log to {dialogs.export}."

    page.format.setCurrentIndex(page.format.findData("jsonl"))
    page.event_name.setCurrentText("")
    dialogs.export = tmp_path / "audit.jsonl"
    with qtbot.waitSignal(page.exported, timeout=10_000):
        page.export_button.click()
    lines = [json.loads(line) for line in dialogs.export.read_text().splitlines()]
    assert {line["event"] for line in lines} >= {"user_added", "otp_login"}
    assert all(line["username"] == name for line in lines)


def test_a_service_that_is_down_is_one_sentence(
    qtbot: QtBot, service: Service, devices: Devices, dialogs: ScriptedDialogs
) -> None:
    window = AdminWindow(
        f"http://127.0.0.1:{free_port()}", devices=devices.admin_devices(), dialogs=dialogs
    )
    qtbot.addWidget(window)
    page = window.sign_in
    page.username.setText("anyone")
    page.code.setText("123456")
    page.code_submit.click()
    qtbot.waitUntil(lambda: page.status.kind == "error", timeout=10_000)
    assert page.status.text() == (
        "The token service cannot be reached: check the network, then try again."
    )
    assert page.code_submit.isEnabled()
    window.close()
