"""People: find (as you type), add, disable and enable; each person's keys, cards and fobs,
with revoke; and the doors to enrollment. A security key shows its model (from the server's
FIDO metadata, else its AAGUID), and a suspended one why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from tokenstile.kiosk.admin.environment import AdminDevices, Dialogs
from tokenstile.kiosk.admin.messages import describe
from tokenstile.kiosk.admin.session import AdminSession
from tokenstile.kiosk.admin.widgets import (
    DevicePage,
    StatusLine,
    Table,
    button,
    field,
    local_time,
    search_as_you_type,
)
from tokenstile.kiosk.tasks import TaskRunner
from tokenstile.protocol.roles import Permission


@dataclass(frozen=True, slots=True, kw_only=True)
class Credential:
    """One key, card or fob of a person, as the list shows it."""

    kind: str  # fido2 | piv | otp
    ident: str  # credential ID, certificate fingerprint or fob serial
    label: str
    state: str
    created_at: float | None
    last_used_at: float | None
    model: str | None = None  # a security key's model, or its AAGUID when unknown
    state_reason: str | None = None  # why it is suspended or revoked
    metadata_status: str | None = None  # the model's latest status in the FIDO metadata

    @property
    def active(self) -> bool:
        return self.state not in ("revoked",)

    def revoke(self, session: AdminSession) -> Any:
        if self.kind == "fido2":
            return session.post("/admin/fido2/revoke", {"credential_id": self.ident})
        if self.kind == "piv":
            return session.post("/admin/piv/revoke", {"fingerprint": self.ident})
        return session.post("/admin/otp/revoke", {"serial": self.ident})


# kind: (list path, list member, identifier member)
_CREDENTIAL_LISTS = (
    ("fido2", "/admin/fido2/credentials", "credentials", "credential_id"),
    ("piv", "/admin/piv/cards", "cards", "fingerprint"),
    ("otp", "/admin/otp/credentials", "credentials", "serial"),
)


def load_credentials(session: AdminSession, username: str) -> list[Credential]:
    """Every key, card and fob of ``username`` (three calls of the admin API)."""
    found: list[Credential] = []
    for kind, path, member, ident in _CREDENTIAL_LISTS:
        items = session.get(path, {"username": username})[member]
        found.extend(
            Credential(
                kind=kind,
                ident=item[ident],
                label=item["label"],
                state=item["state"],
                created_at=item.get("created_at"),
                last_used_at=item.get("last_used_at"),
                model=(item.get("model") or item.get("aaguid")) if kind == "fido2" else None,
                state_reason=item.get("state_reason"),
                metadata_status=item.get("metadata_status"),
            )
            for item in items
        )
    return found


class AddPersonDialog(QDialog):
    """Username, display name, administrator or not."""

    added = Signal(dict)

    def __init__(self, page: PeoplePage) -> None:
        super().__init__(page)
        self.setObjectName("addPersonDialog")
        self.setWindowTitle(self.tr("Add a person"))
        self.setAccessibleName(self.windowTitle())
        self._page = page
        self.username = field(self.tr("e.g. jdoe"), "newUsername", self.tr("Username"))
        self.display_name = field(self.tr("e.g. Jane Doe"), "newDisplayName", self.tr("Name"))
        self.is_admin = QCheckBox(self.tr("&Administrator (may use this console)"))
        self.is_admin.setObjectName("newIsAdmin")
        self.is_admin.setAccessibleName(self.tr("Administrator"))
        self.status = StatusLine("addPersonStatus")
        self.buttons = QDialogButtonBox()
        self.save_button = button(self.tr("Add"), "addPersonSave", default=True)
        self.buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = button(self.tr("Cancel"), "addPersonCancel")
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.save_button.clicked.connect(self.save)
        self.cancel_button.clicked.connect(self.reject)
        form = QFormLayout()
        form.addRow(self.tr("&Username"), self.username)
        form.addRow(self.tr("&Name"), self.display_name)
        form.addRow("", self.is_admin)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def save(self) -> None:
        username = self.username.text().strip()
        if not username:
            self.status.show_error(self.tr("Enter a username."))
            return
        body = {
            "username": username,
            "display_name": self.display_name.text().strip(),
            "is_admin": self.is_admin.isChecked(),
        }
        self.save_button.setEnabled(False)

        def done(person: dict[str, Any]) -> None:
            self.save_button.setEnabled(True)
            self.added.emit(person)
            self.accept()

        def failed(exc: BaseException) -> None:
            self.save_button.setEnabled(True)
            self.status.show_error(describe(exc))

        self._page.call(lambda s: s.post("/admin/users", body), done, on_error=failed)


class PeoplePage(DevicePage):
    """Search, the list of people, and the selected person's credentials."""

    people_loaded = Signal()
    credentials_loaded = Signal()

    def __init__(
        self,
        runner: TaskRunner,
        *,
        server: str,
        devices: AdminDevices,
        dialogs: Dialogs,
        page_size: int = 200,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(runner, parent)
        self.setObjectName("peoplePage")
        self.server = server  # a key's WebAuthn origin is derived from it
        self.devices = devices
        self.dialogs = dialogs
        self.dialog: QDialog | None = None

        self.search = field(
            self.tr("Search by username or name"),
            "peopleSearch",
            self.tr("Search people"),
            search=True,
        )
        self.show_disabled = QCheckBox(self.tr("Show &disabled people"))
        self.show_disabled.setObjectName("showDisabled")
        self.show_disabled.setAccessibleName(self.tr("Show disabled people"))
        self.show_disabled.setChecked(True)
        self._debounce = search_as_you_type(self.search, self.refresh, self)
        self.show_disabled.toggled.connect(lambda _on: self.refresh())

        self.table = Table(
            "peopleTable",
            self.tr("People"),
            [
                self.tr("Username"),
                self.tr("Name"),
                self.tr("Role"),
                self.tr("Status"),
                self.tr("Keys"),
                self.tr("Cards"),
                self.tr("Fobs"),
            ],
            stretch=1,
        )
        self.table.itemSelectionChanged.connect(self._selected)
        self._paging(page_size)

        self.add_button = button(
            self.tr("&Add person…"), "addPerson", role="primary", icon_name="admin-add-person"
        )
        self.add_button.clicked.connect(self.add_person)
        self.toggle_button = button(self.tr("D&isable"), "togglePerson", icon_name="admin-disable")
        self.toggle_button.clicked.connect(self.toggle_person)
        self.enroll_button = button(self.tr("&Enroll"), "enroll", icon_name="admin-enroll")
        self.enroll_button.setAccessibleName(self.tr("Enroll a key, card or app"))
        self.enroll_menu = QMenu(self.enroll_button)
        self.enroll_menu.setObjectName("enrollMenu")
        self.enroll_key_action = self.enroll_menu.addAction(self.tr("Security key (FIDO2)…"))
        self.enroll_card_action = self.enroll_menu.addAction(self.tr("Smart card (PIV)…"))
        self.enroll_app_action = self.enroll_menu.addAction(self.tr("Authenticator app (TOTP)…"))
        self.enroll_key_action.triggered.connect(self.enroll_key)
        self.enroll_card_action.triggered.connect(self.enroll_card)
        self.enroll_app_action.triggered.connect(self.enroll_app)
        self.enroll_button.setMenu(self.enroll_menu)
        self.import_button = button(
            self.tr("&Import fobs (PSKC)…"), "importPskc", icon_name="admin-import"
        )
        self.import_button.clicked.connect(self.import_pskc)
        self.code_button = button(self.tr("Access &code…"), "issueAccessCode")
        self.code_button.setAccessibleName(self.tr("Issue a temporary access code"))
        self.code_button.clicked.connect(self.issue_access_code)

        self.person_title = QLabel()
        self.person_title.setObjectName("personTitle")
        self.credentials = Table(
            "credentialTable",
            self.tr("Keys, cards and fobs"),
            [
                self.tr("Kind"),
                self.tr("Name"),
                self.tr("State"),
                self.tr("Enrolled"),
                self.tr("Last used"),
                self.tr("Identifier"),
            ],
            stretch=5,
        )
        self.credentials.set_placeholder(
            self.tr("Select a person to see their keys, cards and fobs.")
        )
        self.revoke_button = button(
            self.tr("&Revoke"), "revokeCredential", role="danger", icon_name="admin-revoke"
        )
        self.revoke_button.setAccessibleName(self.tr("Revoke the selected credential"))
        self.revoke_button.clicked.connect(self.revoke_credential)
        self.credentials.itemSelectionChanged.connect(self._update_buttons)

        self._lay_out()
        self._selected()

    def _paging(self, page_size: int) -> None:
        """The count ("3 of 7 people"), the button for the next page, and what is listed."""
        self.page_size = page_size
        self._people: list[dict[str, Any]] = []
        self._query: dict[str, Any] = {}
        self._search_id = 0  # an answer to an older search is dropped
        self.count = QLabel()
        self.count.setObjectName("peopleCount")
        self.more_button = button(self.tr("Show &more"), "showMorePeople")
        self.more_button.setAccessibleName(self.tr("Show more people"))
        self.more_button.clicked.connect(self.show_more)
        self.more_button.setVisible(False)

    def _lay_out(self) -> None:
        # A tool bar (search and actions), the people, then the selected person's keys,
        # cards and fobs with the one thing to do to them.
        bar = QWidget()
        bar.setObjectName("peopleTools")
        tools = QHBoxLayout(bar)
        tools.setContentsMargins(0, 0, 0, 0)
        tools.setSpacing(8)
        tools.addWidget(self.search, 1)
        tools.addWidget(self.show_disabled)
        tools.addSpacing(16)
        for widget in (
            self.add_button,
            self.enroll_button,
            self.import_button,
            self.code_button,
            self.toggle_button,
        ):
            tools.addWidget(widget)
        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 8)
        upper_layout.addWidget(bar)
        upper_layout.addWidget(self.table, 1)
        footer = QHBoxLayout()
        footer.addStretch(1)
        footer.addWidget(self.count)
        footer.addWidget(self.more_button)
        upper_layout.addLayout(footer)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 8, 0, 0)
        heading = QHBoxLayout()
        heading.addWidget(self.person_title, 1)
        heading.addWidget(self.revoke_button)
        lower_layout.addLayout(heading)
        lower_layout.addWidget(self.credentials, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("peopleSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(upper)
        splitter.addWidget(lower)
        splitter.setSizes([330, 270])
        self.lay_out(splitter)

    def clear(self) -> None:
        self._search_id += 1
        self._people = []
        self.more_button.setVisible(False)
        self.table.show_rows([])
        self.credentials.show_rows([])
        self.status.show_info("")

    # -- people --------------------------------------------------------------------------

    def person(self) -> dict[str, Any] | None:
        record = self.table.record()
        return record if isinstance(record, dict) else None

    def refresh(self) -> None:
        self._debounce.stop()
        query = self.search.text().strip()
        params: dict[str, Any] = {
            "include_disabled": "true" if self.show_disabled.isChecked() else "false",
            "limit": self.page_size,
        }
        if query:
            params["q"] = query
        self._query = params
        self._search_id += 1
        self._fetch(offset=0)

    def show_more(self) -> None:
        """The next page of the same search, added below the people already shown."""
        self.more_button.setEnabled(False)
        self._fetch(offset=len(self._people))

    def _fetch(self, *, offset: int) -> None:
        search_id, params = self._search_id, {**self._query, "offset": offset}

        def answered(answer: dict[str, Any]) -> None:
            if search_id != self._search_id:
                return
            found: list[dict[str, Any]] = answer.get("users", [])
            self._people = found if offset == 0 else [*self._people, *found]
            self._show_people(int(answer.get("total", len(self._people))))

        def failed(exc: BaseException) -> None:
            self.more_button.setEnabled(True)  # try again
            self.status.show_error(describe(exc))

        self.call(lambda s: s.get("/admin/users", params), answered, on_error=failed)

    def _show_people(self, total: int) -> None:
        keep = self.person()
        people = self._people
        rows = []
        for person in people:
            factors = person.get("factors", {})
            rows.append(
                (
                    person,
                    [
                        person["username"],
                        person.get("display_name", ""),
                        self.tr("Administrator") if person.get("is_admin") else self.tr("Person"),
                        self.tr("Active") if person.get("enabled", True) else self.tr("Disabled"),
                        str(factors.get("fido2", 0)),
                        str(factors.get("piv", 0)),
                        str(factors.get("otp", 0)),
                    ],
                )
            )
        self.table.blockSignals(True)
        self.table.show_rows(rows)
        if keep is not None:
            self.table.select_where(lambda p: p["username"] == keep["username"])
        self.table.blockSignals(False)
        more = len(people) < total
        self.more_button.setVisible(more)
        self.more_button.setEnabled(more)
        self.count.setText(self.tr("{n} of {total} people").format(n=len(people), total=total))
        query = self.search.text().strip()
        self.table.set_placeholder(
            self.tr("No one matches “{query}”.").format(query=query)
            if query
            else self.tr("No one here yet: add a person.")
        )
        self._selected()
        self.people_loaded.emit()

    def select_person(self, username: str) -> bool:
        return self.table.select_where(lambda p: p["username"] == username)

    def add_person(self) -> None:
        dialog = AddPersonDialog(self)
        dialog.added.connect(self._added)
        self._open(dialog)

    def _added(self, person: dict[str, Any]) -> None:
        self.status.show_success(
            self.tr("Added {username}.").format(username=person.get("username", ""))
        )
        self.search.setText(str(person.get("username", "")))
        self.refresh()

    def toggle_person(self) -> None:
        person = self.person()
        if person is None:
            return
        username = person["username"]
        if person.get("enabled", True):
            question = self.tr(
                "Disable {username}? They can no longer sign in, and their sessions end now."
            ).format(username=username)
            if not self.dialogs.confirm(self, self.tr("Disable a person"), question):
                return
            path, said = "/admin/users/disable", self.tr("Disabled {username}.")
        else:
            path, said = "/admin/users/enable", self.tr("Enabled {username}.")

        def done(_: Any) -> None:
            self.status.show_success(said.format(username=username))
            self.refresh()

        self.call(lambda s: s.post(path, {"username": username}), done)

    # -- credentials ---------------------------------------------------------------------

    def _selected(self) -> None:
        person = self.person()
        self._update_buttons()
        if person is None:
            self.person_title.setText(self.tr("Keys, cards and fobs"))
            self.credentials.set_placeholder(
                self.tr("Select a person to see their keys, cards and fobs.")
            )
            self.credentials.show_rows([])
            return
        name = person.get("display_name") or person["username"]
        self.person_title.setText(self.tr("Keys, cards and fobs of {name}").format(name=name))
        self.credentials.set_placeholder(
            self.tr("{name} has no keys, cards or fobs yet: use Enroll.").format(name=name)
        )
        self.load_credentials()

    def load_credentials(self) -> None:
        person = self.person()
        if person is None:
            return
        username = person["username"]
        self.call(lambda s: load_credentials(s, username), self._show_credentials)

    def _show_credentials(self, found: list[Credential]) -> None:
        kinds = {
            "fido2": self.tr("Security key"),
            "piv": self.tr("Smart card"),
            "otp": self.tr("One-time codes"),
        }
        self.credentials.show_rows(
            [
                (
                    item,
                    [
                        self._kind_text(kinds.get(item.kind, item.kind), item),
                        item.label,
                        self._state_text(item),
                        local_time(item.created_at),
                        local_time(item.last_used_at),
                        item.ident,
                    ],
                )
                for item in found
            ]
        )
        self._update_buttons()
        self.credentials_loaded.emit()

    def _kind_text(self, kind: str, item: Credential) -> str:
        return f"{kind}: {item.model}" if item.model else kind

    def _state_text(self, item: Credential) -> str:
        if item.state != "suspended":
            return item.state
        if item.state_reason == "metadata_status":
            return self.tr("suspended: the FIDO metadata reports {status} for this model").format(
                status=item.metadata_status or self.tr("a refused status")
            )
        if item.state_reason == "counter_regression":
            return self.tr("suspended: its signature counter went back (a cloned key?)")
        return item.state

    def revoke_credential(self) -> None:
        item = self.credentials.record()
        if not isinstance(item, Credential):
            return
        question = self.tr(
            "Revoke “{label}” for good? It can no longer be used to sign in."
        ).format(label=item.label)
        if not self.dialogs.confirm(self, self.tr("Revoke"), question):
            return

        def done(_: Any) -> None:
            self.status.show_success(self.tr("Revoked “{label}”.").format(label=item.label))
            self.refresh()

        self.call(item.revoke, done)

    def set_session(self, session: AdminSession | None) -> None:
        """Offer only what the signed-in person's roles allow (``protocol.roles``)."""
        super().set_session(session)
        for widget, permission in (
            (self.add_button, Permission.PEOPLE_MANAGE),
            (self.toggle_button, Permission.PEOPLE_MANAGE),
            (self.enroll_button, Permission.FACTORS_ENROLL),
            (self.import_button, Permission.FACTORS_IMPORT),
            (self.code_button, Permission.ACCESS_CODES_ISSUE),
            (self.revoke_button, Permission.FACTORS_REVOKE),
        ):
            widget.setVisible(session is not None and session.may(permission))

    def issue_access_code(self) -> None:
        """A temporary access code for the selected person (shown once, here)."""
        person = self.person()
        if person is None:
            return
        username = person["username"]
        question = self.tr(
            "Issue {username} a temporary access code? It works for 8 hours, once, and "
            "ends any earlier code of theirs."
        ).format(username=username)
        if not self.dialogs.confirm(self, self.tr("Temporary access code"), question):
            return

        def done(issued: Any) -> None:
            self.status.show_success(
                self.tr(
                    "Temporary access code for {username}: {code} — tell it to them; it is "
                    "not shown again."
                ).format(username=username, code=issued["code"])
            )

        self.call(lambda s: s.post("/admin/access-codes", {"username": username}), done)

    def _update_buttons(self) -> None:
        person = self.person()
        has = person is not None
        self.toggle_button.setEnabled(has)
        self.code_button.setEnabled(has and bool(person and person.get("enabled", True)))
        self.enroll_button.setEnabled(has and bool(person and person.get("enabled", True)))
        if person is not None:
            enabled = person.get("enabled", True)
            self.toggle_button.setText(self.tr("D&isable") if enabled else self.tr("E&nable"))
            self.toggle_button.setAccessibleName(
                self.tr("Disable the person") if enabled else self.tr("Enable the person")
            )
        item = self.credentials.record()
        self.revoke_button.setEnabled(isinstance(item, Credential) and item.active)

    # -- enrollment ----------------------------------------------------------------------

    def _open(self, dialog: QDialog) -> None:
        self.dialog = dialog
        dialog.finished.connect(lambda _result: self._closed(dialog))
        dialog.open()

    def _enroll(self, dialog: Callable[[DevicePage, dict[str, Any]], QDialog]) -> None:
        """Open an enrollment ``dialog`` for the selected person (none: nothing happens)."""
        person = self.person()
        if person is not None:
            self._open(dialog(self, person))

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()
        self.refresh()

    def enroll_key(self) -> None:
        from tokenstile.kiosk.admin.enroll import EnrollKeyDialog

        self._enroll(EnrollKeyDialog)

    def enroll_card(self) -> None:
        from tokenstile.kiosk.admin.enroll import EnrollCardDialog

        self._enroll(EnrollCardDialog)

    def enroll_app(self) -> None:
        from tokenstile.kiosk.admin.enroll_otp import EnrollAppDialog

        self._enroll(EnrollAppDialog)

    def import_pskc(self) -> None:
        from tokenstile.kiosk.admin.enroll_otp import ImportPskcDialog

        path = self.dialogs.open_pskc(self)
        if path is None:
            return
        person = self.person()
        self._open(ImportPskcDialog(self, path, person["username"] if person else ""))
