"""Clients: the web and native apps that sign people in through Tokenstile (issue 15).

List them, register one, change its redirect URIs, post-logout URIs and back-channel
logout URI, give a web client a new secret, and disable or enable one: all through
``/admin/clients``, which checks every URI as ``tokenstile manage client`` does. The
console checks only that a name and a redirect URI were given; what may be registered is
the service's call, and its sentence is what the admin reads. The API deletes no client:
disabling one is how it stops.

A web client's secret is in the answer of its registration and of a rotation only: the
console shows it once (:class:`SecretDialog`), never keeps it in a table record and
never logs it; the service keeps only its hash.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from tokenstile.kiosk.admin.environment import Dialogs
from tokenstile.kiosk.admin.messages import describe
from tokenstile.kiosk.admin.widgets import ApiPage, StatusLine, Table, button, field
from tokenstile.kiosk.tasks import TaskRunner

CLIENTS_PATH = "/admin/clients"


def uri_lines(text: str) -> list[str]:
    """The URIs of a one-per-line field: trimmed, blank lines dropped, order kept."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def without_secret(answer: dict[str, Any]) -> dict[str, Any]:
    """A client as a table may keep it: the secret of an answer taken out."""
    return {k: v for k, v in answer.items() if k != "client_secret"}


def uri_field(name: str, accessible: str, placeholder: str) -> QPlainTextEdit:
    """A few URIs, one a line; Tab leaves the field (it types no tab)."""
    widget = QPlainTextEdit()
    widget.setObjectName(name)
    widget.setAccessibleName(accessible)
    widget.setPlaceholderText(placeholder)
    widget.setTabChangesFocus(True)
    widget.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    widget.setFixedHeight(84)
    return widget


class ClientDialog(QDialog):
    """Register a client (name, kind, URIs), or change the URIs of ``client``."""

    saved = Signal(dict)

    def __init__(self, page: ClientsPage, client: dict[str, Any] | None = None) -> None:
        super().__init__(page)
        self._page = page
        self.client = client
        editing = client is not None
        self.setObjectName("editClientDialog" if editing else "addClientDialog")
        self.setWindowTitle(
            self.tr("Change the URIs of {name}").format(name=client["name"])
            if client is not None
            else self.tr("Register a web or native app")
        )
        self.setAccessibleName(self.windowTitle())
        self.setMinimumWidth(620)
        self.name = field(self.tr("e.g. Records"), "clientName", self.tr("Name"))
        self.kind = QComboBox()
        self.kind.setObjectName("clientKind")
        self.kind.setAccessibleName(self.tr("Kind"))
        self.kind.addItem(self.tr("Web app (a server: gets a secret)"), "web")
        self.kind.addItem(self.tr("Native app (desktop or mobile: no secret, PKCE)"), "native")
        self.kind.currentIndexChanged.connect(lambda _i: self._kind_changed())
        self.kind_hint = QLabel()
        self.kind_hint.setObjectName("clientKindHint")
        self.kind_hint.setWordWrap(True)
        self.redirect_uris = uri_field(
            "clientRedirectUris",
            self.tr("Redirect URIs, one a line"),
            self.tr("https://app.example/callback"),
        )
        self.post_logout_uris = uri_field(
            "clientPostLogoutUris",
            self.tr("Post-logout redirect URIs, one a line"),
            self.tr("Optional: https://app.example/signed-out"),
        )
        self.backchannel = field(
            self.tr("Optional: https://app.example/backchannel-logout"),
            "clientBackchannelUri",
            self.tr("Back-channel logout URI"),
        )
        self.status = StatusLine("clientDialogStatus")
        self.buttons = QDialogButtonBox()
        self.save_button = button(
            self.tr("Save") if editing else self.tr("Register"),
            "clientSave",
            default=True,
            role="primary",
        )
        self.buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = button(self.tr("Cancel"), "clientCancel")
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.save_button.clicked.connect(self.save)
        self.cancel_button.clicked.connect(self.reject)

        self.form = form = QFormLayout()
        form.addRow(self.tr("&Name"), self.name)
        form.addRow(self.tr("&Kind"), self.kind)
        form.addRow("", self.kind_hint)
        form.addRow(self.tr("&Redirect URIs"), self.redirect_uris)
        form.addRow(self.tr("&Post-logout URIs"), self.post_logout_uris)
        form.addRow(self.tr("&Back-channel logout"), self.backchannel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        if client is not None:
            self._fill(client)
        self._kind_changed()

    def _fill(self, client: dict[str, Any]) -> None:
        """The client's values; its name and kind are shown, not changed (the API keeps
        them)."""
        self.name.setText(str(client.get("name", "")))
        self.name.setReadOnly(True)
        self.name.setEnabled(False)
        self.kind.setCurrentIndex(max(0, self.kind.findData(client.get("kind"))))
        self.kind.setEnabled(False)
        self.redirect_uris.setPlainText("\n".join(client.get("redirect_uris", [])))
        self.post_logout_uris.setPlainText("\n".join(client.get("post_logout_redirect_uris", [])))
        self.backchannel.setText(client.get("backchannel_logout_uri") or "")

    def kind_value(self) -> str:
        return str(self.kind.currentData())

    def _kind_changed(self) -> None:
        web = self.kind_value() == "web"
        self.kind_hint.setText(
            self.tr(
                "Redirect URIs: https:// (http:// only on 127.0.0.1 or [::1], for "
                "development). The secret is shown once, after registering."
            )
            if web
            else self.tr(
                "Redirect URIs: http://127.0.0.1/path or http://[::1]/path (any port "
                "matches), or a claimed https:// URI. Native apps have no back-channel "
                "logout."
            )
        )
        self.kind_hint.setAccessibleName(self.kind_hint.text())
        self.backchannel.setEnabled(web)
        if not web:
            self.backchannel.clear()

    def save(self) -> None:
        body = self._body()
        if body is None:
            return
        self.save_button.setEnabled(False)

        def done(answer: dict[str, Any]) -> None:
            self.save_button.setEnabled(True)
            self.saved.emit(answer)
            self.accept()

        def failed(exc: BaseException) -> None:
            self.save_button.setEnabled(True)
            self.status.show_error(describe(exc))

        path = CLIENTS_PATH if self.client is None else f"{CLIENTS_PATH}/update"
        self._page.call(lambda s: s.post(path, body), done, on_error=failed)

    def _body(self) -> dict[str, Any] | None:
        """What to send, or ``None`` after saying what is missing or that nothing changed."""
        redirect_uris = uri_lines(self.redirect_uris.toPlainText())
        post_logout = uri_lines(self.post_logout_uris.toPlainText())
        backchannel = self.backchannel.text().strip() or None
        if self.client is None:
            name = self.name.text().strip()
            if not name:
                self.status.show_error(self.tr("Enter the app's name."))
                self.name.setFocus()
                return None
        if not redirect_uris:
            self.status.show_error(self.tr("Enter at least one redirect URI."))
            self.redirect_uris.setFocus()
            return None
        if self.client is None:
            body: dict[str, Any] = {
                "name": name,
                "kind": self.kind_value(),
                "redirect_uris": redirect_uris,
                "post_logout_redirect_uris": post_logout,
            }
            if backchannel is not None:
                body["backchannel_logout_uri"] = backchannel
            return body
        # Only what changed: the audit log then names just that.
        client = self.client
        body = {"client_id": client["client_id"]}
        if redirect_uris != client.get("redirect_uris"):
            body["redirect_uris"] = redirect_uris
        if post_logout != client.get("post_logout_redirect_uris"):
            body["post_logout_redirect_uris"] = post_logout
        if backchannel != client.get("backchannel_logout_uri"):
            body["backchannel_logout_uri"] = backchannel
        if len(body) == 1:
            self.status.show_info(self.tr("Nothing has changed."))
            return None
        return body


class SecretDialog(QDialog):
    """A web client's new secret, shown this once, with a button that copies it."""

    def __init__(self, parent: QWidget, client: dict[str, Any], secret: str) -> None:
        super().__init__(parent)
        self.setObjectName("clientSecretDialog")
        self.setWindowTitle(self.tr("The secret of {name}").format(name=client.get("name", "")))
        self.setAccessibleName(self.windowTitle())
        self.setMinimumWidth(620)
        title = QLabel(self.windowTitle())
        title.setObjectName("dialogTitle")
        self.warning = QLabel(
            self.tr(
                "This secret is shown only now. Copy it into the app's configuration before "
                "you close this window: Tokenstile keeps only a hash of it and cannot show "
                "it again. If it is lost, give the app a new secret."
            )
        )
        self.warning.setObjectName("secretWarning")
        self.warning.setWordWrap(True)
        self.warning.setAccessibleName(self.warning.text())
        self.client_id = self._read_only("clientIdShown", str(client.get("client_id", "")))
        self.client_id.setAccessibleName(self.tr("Client ID"))
        self.secret = self._read_only("clientSecret", secret)
        self.secret.setAccessibleName(self.tr("Client secret"))
        self.copy_button = button(self.tr("&Copy secret"), "copySecret", role="primary")
        self.copy_button.clicked.connect(self.copy)
        self.copy_id_button = button(self.tr("Copy client &ID"), "copyClientId")
        self.copy_id_button.clicked.connect(self.copy_client_id)
        self.status = StatusLine("clientSecretStatus")
        # Not the default button: an Enter pressed by habit does not close the secret away.
        self.done_button = button(self.tr("&Done"), "secretDone")
        self.done_button.clicked.connect(self.accept)
        form = QFormLayout()
        form.addRow(self._row(self.tr("Client ID"), self.client_id, self.copy_id_button))
        form.addRow(self._row(self.tr("Client secret"), self.secret, self.copy_button))
        # A plain row, not a button box: a box would make Done the default button.
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.done_button)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.warning)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.finished.connect(lambda _result: self._forget())  # nothing kept after
        self.secret.setFocus()

    @staticmethod
    def _read_only(name: str, text: str) -> QLineEdit:
        widget = QLineEdit(text)
        widget.setObjectName(name)
        widget.setReadOnly(True)
        widget.setCursorPosition(0)
        return widget

    @staticmethod
    def _row(label: str, widget: QLineEdit, action: QWidget) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        caption = QLabel(label)
        caption.setBuddy(widget)
        caption.setMinimumWidth(110)
        layout.addWidget(caption)
        layout.addWidget(widget, 1)
        layout.addWidget(action)
        return row

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.secret.text())
        self.status.show_success(
            self.tr("The secret is on the clipboard until this window closes.")
        )

    def _forget(self) -> None:
        """A shared workstation's clipboard outlives the admin: a secret left there by
        this window goes with it (anything copied since is left alone)."""
        clipboard = QGuiApplication.clipboard()
        if self.secret.text() and clipboard.text() == self.secret.text():
            clipboard.clear()
        self.secret.clear()

    def copy_client_id(self) -> None:
        QGuiApplication.clipboard().setText(self.client_id.text())
        self.status.show_success(self.tr("The client ID is on the clipboard."))


class ClientsPage(ApiPage):
    """The web and native clients, and what can be done to the selected one."""

    clients_loaded = Signal()
    secret_shown = Signal(QDialog)

    def __init__(
        self, runner: TaskRunner, *, dialogs: Dialogs, parent: QWidget | None = None
    ) -> None:
        super().__init__(runner, parent)
        self.setObjectName("clientsPage")
        self.dialogs = dialogs
        self.dialog: QDialog | None = None
        self.table = Table(
            "clientsTable",
            self.tr("Web and native apps"),
            [
                self.tr("Name"),
                self.tr("Kind"),
                self.tr("Client ID"),
                self.tr("Redirect URIs"),
                self.tr("Authentication"),
                self.tr("State"),
            ],
            stretch=3,
        )
        self.table.set_placeholder(self.tr("No web or native apps yet: register one."))
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _index: self.edit_client())
        self.add_button = button(
            self.tr("&Register app…"), "addClient", role="primary", icon_name="admin-add-client"
        )
        self.add_button.setAccessibleName(self.tr("Register a web or native app"))
        self.add_button.clicked.connect(self.add_client)
        self.edit_button = button(self.tr("&Edit URIs…"), "editClient", icon_name="admin-edit")
        self.edit_button.setAccessibleName(self.tr("Change the selected app's URIs"))
        self.edit_button.clicked.connect(self.edit_client)
        self.rotate_button = button(
            self.tr("New secre&t…"), "rotateSecret", role="danger", icon_name="admin-revoke"
        )
        self.rotate_button.setAccessibleName(self.tr("Give the selected app a new secret"))
        self.rotate_button.clicked.connect(self.rotate_secret)
        self.toggle_button = button(self.tr("&Disable"), "toggleClient", icon_name="admin-disable")
        self.toggle_button.clicked.connect(self.toggle_client)
        self.refresh_button = button(
            self.tr("Re&fresh"), "refreshClients", icon_name="admin-refresh"
        )
        self.refresh_button.clicked.connect(self.refresh)
        tools = QHBoxLayout()
        tools.setSpacing(8)
        for widget in (self.add_button, self.edit_button, self.rotate_button, self.toggle_button):
            tools.addWidget(widget)
        tools.addStretch(1)
        tools.addWidget(self.refresh_button)
        self.lay_out(self.table, above=tools)
        self._update_buttons()

    def clear(self) -> None:
        """Forget what the last admin saw, a secret still on screen first."""
        if self.dialog is not None:
            self.dialog.reject()
        self.table.show_rows([])
        self.status.show_info("")
        self._update_buttons()

    def client(self) -> dict[str, Any] | None:
        record = self.table.record()
        return record if isinstance(record, dict) else None

    def select_client(self, client_id: str) -> bool:
        return self.table.select_where(lambda c: c["client_id"] == client_id)

    # -- the list ------------------------------------------------------------------------

    def refresh(self) -> None:
        self.call(lambda s: s.get(CLIENTS_PATH), self._show)

    def _show(self, answer: dict[str, Any]) -> None:
        keep = self.client()
        clients: list[dict[str, Any]] = answer.get("clients", [])
        kinds = {"web": self.tr("Web app"), "native": self.tr("Native app")}
        methods = {
            "client_secret_basic": self.tr("Secret"),
            "client_secret_post": self.tr("Secret"),
            "private_key_jwt": self.tr("Signed key (private_key_jwt)"),
            "none": self.tr("None (PKCE)"),
        }
        rows = [
            (
                without_secret(client),
                [
                    client.get("name", ""),
                    kinds.get(client.get("kind", ""), client.get("kind", "")),
                    client.get("client_id", ""),
                    ", ".join(client.get("redirect_uris", [])),
                    methods.get(method := client.get("token_endpoint_auth_method", ""), method),
                    self.tr("Active") if client.get("enabled", True) else self.tr("Disabled"),
                ],
            )
            for client in sorted(clients, key=lambda c: str(c.get("name", "")).casefold())
        ]
        self.table.blockSignals(True)
        self.table.show_rows(rows)
        if keep is not None:
            self.select_client(keep["client_id"])
        self.table.blockSignals(False)
        self._update_buttons()
        self.clients_loaded.emit()

    # -- registering and changing ----------------------------------------------------------

    def add_client(self) -> None:
        dialog = ClientDialog(self)
        dialog.saved.connect(self._registered)
        self._open(dialog)

    def _registered(self, answer: dict[str, Any]) -> None:
        name = str(answer.get("name", ""))
        secret = answer.get("client_secret")
        self.status.show_success(
            self.tr("Registered {name}: its client ID is {client_id}.").format(
                name=name, client_id=answer.get("client_id", "")
            )
        )
        self._after_change(answer)
        if isinstance(secret, str):
            self._show_secret(without_secret(answer), secret)

    def edit_client(self) -> None:
        client = self.client()
        if client is None:
            return
        dialog = ClientDialog(self, client)
        dialog.saved.connect(self._edited)
        self._open(dialog)

    def _edited(self, answer: dict[str, Any]) -> None:
        self.status.show_success(
            self.tr("Saved the URIs of {name}.").format(name=answer.get("name", ""))
        )
        self._after_change(answer)

    def rotate_secret(self) -> None:
        client = self.client()
        if client is None or client.get("token_endpoint_auth_method") != "client_secret_basic":
            return
        name = client.get("name", "")
        question = self.tr(
            "Give {name} a new secret? Its current secret stops working now: the app "
            "cannot sign anyone in until its configuration has the new one."
        ).format(name=name)
        if not self.dialogs.confirm(self, self.tr("New secret"), question):
            return
        client_id = client["client_id"]

        def done(answer: dict[str, Any]) -> None:
            self.status.show_success(self.tr("{name} has a new secret.").format(name=name))
            self._after_change(answer)
            secret = answer.get("client_secret")
            if isinstance(secret, str):
                self._show_secret(without_secret(answer), secret)

        self.call(lambda s: s.post(f"{CLIENTS_PATH}/rotate-secret", {"client_id": client_id}), done)

    def toggle_client(self) -> None:
        client = self.client()
        if client is None:
            return
        name, client_id = client.get("name", ""), client["client_id"]
        if client.get("enabled", True):
            question = self.tr(
                "Disable {name}? No one can sign in to it through Tokenstile, and its token "
                "requests are refused, until it is enabled again."
            ).format(name=name)
            if not self.dialogs.confirm(self, self.tr("Disable an app"), question):
                return
            path, said = f"{CLIENTS_PATH}/disable", self.tr("Disabled {name}.")
        else:
            path, said = f"{CLIENTS_PATH}/enable", self.tr("Enabled {name}.")

        def done(answer: dict[str, Any]) -> None:
            self.status.show_success(said.format(name=name))
            self._after_change(answer)

        self.call(lambda s: s.post(path, {"client_id": client_id}), done)

    def _after_change(self, answer: dict[str, Any]) -> None:
        """The list again, with the changed client selected."""
        client_id = str(answer.get("client_id", ""))

        def shown() -> None:
            self.clients_loaded.disconnect(shown)
            self.select_client(client_id)

        self.clients_loaded.connect(shown)
        self.refresh()

    # -- dialogs -----------------------------------------------------------------------------

    def _show_secret(self, client: dict[str, Any], secret: str) -> None:
        dialog = SecretDialog(self, client, secret)
        self._open(dialog)
        self.secret_shown.emit(dialog)

    def _open(self, dialog: QDialog) -> None:
        self.dialog = dialog
        dialog.finished.connect(lambda _result: self._closed(dialog))
        dialog.open()

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    def _update_buttons(self) -> None:
        client = self.client()
        has = client is not None
        self.edit_button.setEnabled(has)
        self.toggle_button.setEnabled(has)
        self.rotate_button.setEnabled(
            client is not None and client.get("token_endpoint_auth_method") == "client_secret_basic"
        )
        if client is not None:
            enabled = client.get("enabled", True)
            self.toggle_button.setText(self.tr("&Disable") if enabled else self.tr("E&nable"))
            self.toggle_button.setAccessibleName(
                self.tr("Disable the app") if enabled else self.tr("Enable the app")
            )
