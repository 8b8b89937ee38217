"""Clients in the console against a real token service: registering a web app (its secret
shown once, with a copy button), changing its redirect URIs, a new secret, disabling; and
what bad URIs, a cancelled question and a person who is not an admin get.

Each client's secret is first tried at ``/token`` after its last change, so no assertion
depends on the few seconds the server caches a client.
"""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from tests.admin_tokens import token_for
from tests.conftest import add_user
from tests.gui.admin.conftest import Devices, ScriptedDialogs, Service, sign_in_with_code
from tokenstile.broker.client import TokenServiceClient
from tokenstile.broker.errors import ServiceError
from tokenstile.clock import FrozenClock
from tokenstile.deployment import DEFAULT_ADMIN_CLIENT_ID
from tokenstile.kiosk.admin.clients import ClientDialog, ClientsPage, SecretDialog
from tokenstile.kiosk.admin.console import AdminWindow
from tokenstile.tokens.clients import client_secret_hash

CALLBACK = "https://records.example/callback"
MOVED = "https://records.example/v2/callback"


def open_clients(qtbot: QtBot, window: AdminWindow) -> ClientsPage:
    page = window.clients
    with qtbot.waitSignal(page.clients_loaded, timeout=10_000):
        window.tabs.setCurrentWidget(page)
    # The list's answer (clients_loaded) comes before its task's end: wait for that end, so
    # that a test's "nothing pending" is about what it did (failed once under load).
    qtbot.waitUntil(lambda: page.pending == 0, timeout=10_000)
    return page


def add_dialog(page: ClientsPage) -> ClientDialog:
    page.add_button.click()
    dialog = page.dialog
    assert isinstance(dialog, ClientDialog)
    return dialog


def secret_works(service: Service, client_id: str, secret: str) -> bool:
    """Whether Basic credentials authenticate at /token (a made-up refresh token: a good
    client hears invalid_grant, a bad one invalid_client)."""
    r = httpx.post(
        f"{service.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": "made-up"},
        auth=(client_id, secret),
        timeout=10,
    )
    assert r.json()["error"] in ("invalid_grant", "invalid_client"), r.text
    return bool(r.json()["error"] == "invalid_grant")


def test_register_a_web_app_see_its_secret_once_and_change_its_uris(
    qtbot: QtBot,
    service: Service,
    admin_window: AdminWindow,
    dialogs: ScriptedDialogs,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    page = open_clients(qtbot, admin_window)
    name = service.unique("Records")
    dialog = add_dialog(page)
    assert dialog.kind.currentData() == "web"
    dialog.name.setText(name)
    dialog.redirect_uris.setPlainText(f"  {CALLBACK}  \n\n")
    dialog.post_logout_uris.setPlainText("https://records.example/bye")
    dialog.backchannel.setText("https://records.example/bcl")
    with qtbot.waitSignal(page.secret_shown, timeout=10_000) as shown:
        dialog.save_button.click()
    secret_dialog = shown.args[0]
    assert isinstance(secret_dialog, SecretDialog)
    assert page.dialog is secret_dialog
    assert "shown only now" in secret_dialog.warning.text()
    secret = secret_dialog.secret.text()
    client_id = secret_dialog.client_id.text()
    assert len(secret) >= 32
    secret_dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == secret
    assert secret_dialog.status.text() == "The secret is on the clipboard until this window closes."

    stored = service.deployment.store.find_client(client_id)
    assert stored is not None
    assert stored.name == name
    assert stored.kind == "web"
    assert stored.secret_hash == client_secret_hash(secret)
    assert list(stored.post_logout_redirect_uris) == ["https://records.example/bye"]
    assert stored.backchannel_logout_uri == "https://records.example/bcl"

    secret_dialog.done_button.click()
    assert page.dialog is None
    assert secret_dialog.secret.text() == ""  # not kept once closed
    assert QGuiApplication.clipboard().text() != secret  # nor left on the desk's clipboard
    qtbot.waitUntil(lambda: page.client() is not None, timeout=10_000)
    selected = page.client()
    assert selected is not None
    assert selected["client_id"] == client_id
    assert "client_secret" not in selected  # the table never holds the secret
    row = page.table.selectionModel().selectedRows()[0].row()
    cells = [page.table.item(row, c).text() for c in range(page.table.columnCount())]
    assert cells == [name, "Web app", client_id, CALLBACK, "Secret", "Active"]
    assert secret not in json.dumps(page.table.records())

    # Change the redirect URIs (two now) and drop the back-channel URI.
    page.edit_button.click()
    edit = page.dialog
    assert isinstance(edit, ClientDialog)
    assert not edit.name.isEnabled()
    assert not edit.kind.isEnabled()
    assert edit.redirect_uris.toPlainText() == CALLBACK
    edit.redirect_uris.setPlainText(f"{MOVED}\n{CALLBACK}")
    edit.backchannel.clear()
    with qtbot.waitSignal(page.clients_loaded, timeout=10_000):
        edit.save_button.click()
    assert page.dialog is None
    assert page.status.text() == f"Saved the URIs of {name}."
    changed = service.deployment.store.find_client(client_id)
    assert changed is not None
    assert list(changed.redirect_uris) == [MOVED, CALLBACK]
    assert changed.backchannel_logout_uri is None
    assert list(changed.post_logout_redirect_uris) == ["https://records.example/bye"]
    assert changed.secret_hash == client_secret_hash(secret)
    (event,) = [
        e
        for e in service.deployment.store.audit_entries()
        if e["event"] == "client_updated" and e["client_id"] == client_id
    ]
    session = admin_window.session
    assert session is not None
    assert event["detail"]["by"] == f"admin:{session.username}"
    assert event["detail"]["redirect_uris"] == [MOVED, CALLBACK]
    assert "post_logout_redirect_uris" not in event["detail"]  # only what changed was sent

    # A new secret: asked first, shown once; the old one stops.
    qtbot.waitUntil(lambda: page.client() is not None, timeout=10_000)
    assert page.rotate_button.isEnabled()
    with qtbot.waitSignal(page.secret_shown, timeout=10_000) as rotated:
        page.rotate_button.click()
    assert any(name in text and "new secret" in text for text in dialogs.asked)
    new_dialog = rotated.args[0]
    assert isinstance(new_dialog, SecretDialog)
    new_secret = new_dialog.secret.text()
    assert new_secret != secret
    qtbot.keyClick(new_dialog.secret, Qt.Key.Key_Return)  # Enter by habit: still shown
    assert new_dialog.isVisible()
    assert new_dialog.secret.text() == new_secret
    new_dialog.done_button.click()
    assert not secret_works(service, client_id, secret)
    assert secret_works(service, client_id, new_secret)

    # No secret reached a log line or the audit log.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in logged
    assert new_secret not in logged
    audit = json.dumps(service.deployment.store.audit_entries())
    assert secret not in audit
    assert new_secret not in audit
    assert secret not in service.server.log_path.read_text()


def test_a_native_app_gets_no_secret_and_no_back_channel(
    qtbot: QtBot, service: Service, admin_window: AdminWindow
) -> None:
    page = open_clients(qtbot, admin_window)
    dialog = add_dialog(page)
    dialog.kind.setCurrentIndex(dialog.kind.findData("native"))
    assert not dialog.backchannel.isEnabled()
    name = service.unique("Desk")
    dialog.name.setText(name)
    dialog.redirect_uris.setPlainText("http://127.0.0.1/callback")
    with qtbot.waitSignal(page.clients_loaded, timeout=10_000):
        dialog.save_button.click()
    assert page.dialog is None  # no secret to show
    stored = service.deployment.store.find_client_by_name(name)
    assert stored is not None
    assert stored.kind == "native"
    assert stored.secret_hash is None
    qtbot.waitUntil(lambda: page.client() is not None, timeout=10_000)
    assert not page.rotate_button.isEnabled()


def test_bad_uris_are_refused_with_the_services_sentence_and_nothing_is_stored(
    qtbot: QtBot, service: Service, admin_window: AdminWindow
) -> None:
    page = open_clients(qtbot, admin_window)
    dialog = add_dialog(page)
    name = service.unique("Sneaky")
    dialog.name.setText(name)

    # Nothing given: said at once, nothing sent.
    dialog.redirect_uris.setPlainText("   \n")
    dialog.save_button.click()
    assert dialog.status.text() == "Enter at least one redirect URI."
    assert page.pending == 0

    for bad in (
        "https://records.example/callback#frag",  # a fragment
        "http://records.example/callback",  # http off loopback, for a web app
        "https://*.example/callback",  # a wildcard
    ):
        dialog.redirect_uris.setPlainText(bad)
        dialog.status.show_info("")
        dialog.save_button.click()
        qtbot.waitUntil(lambda: dialog.status.kind == "error", timeout=10_000)
        said = dialog.status.text()
        assert "is not a redirect URI this client may register" in said, said
        assert "a web client registers https:// URIs" in said, said
        assert page.dialog is dialog  # still open, to correct it
        assert dialog.save_button.isEnabled()
    dialog.redirect_uris.setPlainText(CALLBACK)
    dialog.backchannel.setText("http://records.example/bcl")
    dialog.status.show_info("")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: dialog.status.kind == "error", timeout=10_000)
    assert "is not a back-channel logout URI" in dialog.status.text()
    dialog.reject()
    assert service.deployment.store.find_client_by_name(name) is None

    # The same refusals when changing an existing client; it keeps its URIs.
    kept = service.deployment.add_client(
        service.unique("Kept"), kind="web", audiences=[], scopes=[], redirect_uris=[CALLBACK]
    )[0]
    with qtbot.waitSignal(page.clients_loaded, timeout=10_000):
        page.refresh_button.click()
    assert page.select_client(kept.client_id)
    page.edit_button.click()
    edit = page.dialog
    assert isinstance(edit, ClientDialog)
    # The list's answer (clients_loaded) comes before its task's end: wait for that end,
    # so that what is pending below is only what saving an unchanged client started.
    qtbot.waitUntil(lambda: page.pending == 0, timeout=10_000)
    edit.save_button.click()
    assert edit.status.text() == "Nothing has changed."
    assert page.pending == 0
    edit.redirect_uris.setPlainText(f"{CALLBACK}\nhttps://records.example/other#x")
    edit.save_button.click()
    qtbot.waitUntil(lambda: edit.status.kind == "error", timeout=10_000)
    assert "'https://records.example/other#x' is not a redirect URI" in edit.status.text()
    edit.reject()
    unchanged = service.deployment.store.find_client(kept.client_id)
    assert unchanged is not None
    assert list(unchanged.redirect_uris) == [CALLBACK]


def test_disabling_asks_first_and_can_be_called_off(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, dialogs: ScriptedDialogs
) -> None:
    client, _ = service.deployment.add_client(
        service.unique("Old app"), kind="web", audiences=[], scopes=[], redirect_uris=[CALLBACK]
    )
    page = open_clients(qtbot, admin_window)
    assert page.select_client(client.client_id)
    dialogs.answer = False
    page.toggle_button.click()
    page.rotate_button.click()
    assert len(dialogs.asked) == 2
    assert page.pending == 0  # nothing was sent
    still = service.deployment.store.find_client(client.client_id)
    assert still is not None
    assert still.enabled
    assert still.secret_hash == client.secret_hash

    dialogs.answer = True
    assert page.toggle_button.accessibleName() == "Disable the app"
    with qtbot.waitSignal(page.clients_loaded, timeout=10_000):
        page.toggle_button.click()
    qtbot.waitUntil(lambda: page.client() is not None, timeout=10_000)
    assert page.status.text() == f"Disabled {client.name}."
    off = service.deployment.store.find_client(client.client_id)
    assert off is not None
    assert not off.enabled
    assert page.toggle_button.accessibleName() == "Enable the app"
    with qtbot.waitSignal(page.clients_loaded, timeout=10_000):
        page.toggle_button.click()
    on = service.deployment.store.find_client(client.client_id)
    assert on is not None
    assert on.enabled


def test_a_person_who_is_not_an_admin_cannot_list_or_register_clients(
    service: Service,
) -> None:
    person = add_user(service.deployment, service.unique("clerk"))
    # A token of this person for the console's own client: the scope is not there.
    token = token_for(service.deployment, person, DEFAULT_ADMIN_CLIENT_ID)
    api = TokenServiceClient(service.url, client_id=DEFAULT_ADMIN_CLIENT_ID)
    try:
        with pytest.raises(ServiceError) as listed:
            api.admin_get("/admin/clients", token)
        assert listed.value.status == 403
        with pytest.raises(ServiceError) as added:
            api.admin_post(
                "/admin/clients",
                token,
                {"name": "Planted", "kind": "web", "redirect_uris": [CALLBACK]},
            )
        assert added.value.status == 403
    finally:
        api.close()
    headers = {"Authorization": f"Bearer {token}"}
    answer = httpx.get(f"{service.url}/admin/clients", headers=headers, timeout=10)
    assert answer.status_code == 403
    assert "clients" not in answer.json()
    assert service.deployment.store.find_client_by_name("Planted") is None


def test_a_secret_left_on_an_unattended_console_goes_with_the_idle_sign_out(
    qtbot: QtBot, service: Service, devices: Devices, dialogs: ScriptedDialogs
) -> None:
    clock = FrozenClock()
    window = AdminWindow(
        service.url,
        devices=devices.admin_devices(),
        dialogs=dialogs,
        idle_seconds=600.0,
        clock=clock,
        tick_ms=10,
    )
    qtbot.addWidget(window)
    window.show()
    try:
        admin, seed = service.add_person("admin", admin=True)
        with qtbot.waitSignal(window.people.people_loaded, timeout=10_000):
            sign_in_with_code(qtbot, window, admin, seed)
        page = open_clients(qtbot, window)
        dialog = add_dialog(page)
        dialog.name.setText(service.unique("Left open"))
        dialog.redirect_uris.setPlainText(CALLBACK)
        with qtbot.waitSignal(page.secret_shown, timeout=10_000) as shown:
            dialog.save_button.click()
        secret_dialog = shown.args[0]
        assert isinstance(secret_dialog, SecretDialog)
        assert secret_dialog.isVisible()
        left: list[str] = []
        secret_dialog.finished.connect(lambda _r: left.append(secret_dialog.secret.text()))
        clock.advance(600)
        qtbot.waitUntil(lambda: window.session is None, timeout=10_000)
        assert left == [""]  # closed, and the secret gone from its field
        assert page.dialog is None
        assert page.table.rowCount() == 0
    finally:
        window.close()


def mnemonic(text: str) -> str | None:
    """The letter after a single ``&`` of a label (Alt+letter), if it has one."""
    at = text.replace("&&", "").find("&")
    return text.replace("&&", "")[at + 1].lower() if at >= 0 else None


def test_every_action_on_the_page_has_its_own_alt_letter(
    qtbot: QtBot, service: Service, admin_window: AdminWindow
) -> None:
    page = open_clients(qtbot, admin_window)
    tabs = [admin_window.tabs.tabText(i) for i in range(admin_window.tabs.count())]
    buttons = [
        page.add_button.text(),
        page.edit_button.text(),
        page.rotate_button.text(),
        page.refresh_button.text(),
        "&Disable",  # the toggle's two labels
        "E&nable",
        admin_window.sign_out_button.text(),
    ]
    letters = [mnemonic(text) for text in tabs + buttons]
    assert None not in letters
    assert len(set(letters)) == len(letters), letters
    dialog = add_dialog(page)
    try:
        # Each field is reached by its label's letter (a buddy), and Tab leaves a URI list.
        fields = (
            dialog.name,
            dialog.kind,
            dialog.redirect_uris,
            dialog.post_logout_uris,
            dialog.backchannel,
        )
        labels = [dialog.form.labelForField(w) for w in fields]
        assert all(isinstance(label, QLabel) for label in labels)
        assert [label.buddy() for label in labels if isinstance(label, QLabel)] == list(fields)
        keys = [mnemonic(label.text()) for label in labels if isinstance(label, QLabel)]
        assert None not in keys
        assert len(set(keys)) == len(keys), keys
        assert dialog.redirect_uris.tabChangesFocus()
        assert dialog.post_logout_uris.tabChangesFocus()
        assert dialog.save_button.isDefault()
    finally:
        dialog.reject()
