"""Admin sign-in against a real token service: a one-time code, and who is refused."""

from __future__ import annotations

import httpx
import pytest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QDateTimeEdit,
    QLineEdit,
    QTabBar,
    QWidget,
)
from pytestqt.qtbot import QtBot

from tests.gui.admin.conftest import Service, code_now, sign_in_with_code
from tokenstile.kiosk.admin.console import AdminWindow, run_admin_console


def test_an_admin_signs_in_with_a_code_and_sees_people(
    qtbot: QtBot, service: Service, window: AdminWindow
) -> None:
    username, seed = service.add_person("admin", admin=True)
    with qtbot.waitSignal(window.people.people_loaded, timeout=10_000):
        sign_in_with_code(qtbot, window, username, seed)
    assert window.stack.currentWidget() is window.console
    assert username in window.who.text()
    assert username in [p["username"] for p in window.people.table.records()]
    session = window.session
    assert session is not None
    assert session.username == username

    window.sign_out()
    assert window.stack.currentWidget() is window.sign_in
    assert window.people.table.rowCount() == 0
    # Signing out revoked the session at the service: the token no longer opens the API.
    token = session._grant.access_token

    def refused() -> bool:
        answer = httpx.get(
            f"{service.url}/admin/users", headers={"Authorization": f"Bearer {token}"}
        )
        return answer.status_code == 401

    qtbot.waitUntil(refused, timeout=10_000)


def test_a_person_who_is_not_an_admin_is_refused_in_one_sentence(
    qtbot: QtBot, service: Service, window: AdminWindow
) -> None:
    username, seed = service.add_person("clerk")
    page = window.sign_in
    page.code_button.click()
    page.username.setText(username)
    page.code.setText(code_now(seed))
    page.code_submit.click()
    qtbot.waitUntil(lambda: page.status.kind == "error", timeout=10_000)
    assert page.status.text() == (
        "This person is not an administrator: sign in with an administrator's key, card or code."
    )
    assert window.stack.currentWidget() is page
    assert window.session is None
    # Their session was revoked at once.
    sessions = [
        s
        for s in service.deployment.store.audit_entries()
        if s["event"] in ("revoke", "session_revoked") and s["username"] == username
    ]
    assert sessions


def test_a_wrong_code_is_one_sentence_and_nothing_opens(
    qtbot: QtBot, service: Service, window: AdminWindow
) -> None:
    username, _seed = service.add_person("admin", admin=True)
    page = window.sign_in
    page.code_button.click()
    page.username.setText(username)
    page.code.setText("000000")
    page.code_submit.click()
    qtbot.waitUntil(lambda: page.status.kind == "error", timeout=10_000)
    assert page.status.text() == "The username or the code is not valid."
    assert page.code.text() == ""
    assert window.session is None


def test_every_control_has_an_accessible_name(admin_window: AdminWindow) -> None:
    window = admin_window
    kinds = (QAbstractButton, QLineEdit, QComboBox, QAbstractItemView, QDateTimeEdit)
    unnamed = [
        f"{type(w).__name__} {w.objectName()!r}"
        for w in window.findChildren(QWidget)
        if isinstance(w, kinds)
        and not w.accessibleName()
        # parts Qt builds inside a field, a combo box (and its popup), a tab bar or a table
        and w.window() is window
        and not isinstance(
            w.parent(), QLineEdit | QComboBox | QAbstractSpinBox | QTabBar | QAbstractItemView
        )
        and not w.objectName().startswith("qt_")
    ]
    assert unnamed == []


def test_the_entry_point_refuses_a_plain_http_server_elsewhere(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_admin_console("http://auth.example", argv=["tokenstile"]) == 1
    assert "HTTPS" in capsys.readouterr().err
