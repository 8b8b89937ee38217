"""Sessions: who is signed in where (all, or one person's; live only, or every one), and
revoking one — its refresh tokens stop working at once, its access tokens at expiry."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QWidget

from tokenstile.kiosk.admin.environment import Dialogs
from tokenstile.kiosk.admin.session import AdminSession
from tokenstile.kiosk.admin.widgets import (
    ApiPage,
    Table,
    button,
    field,
    local_time,
    search_as_you_type,
)
from tokenstile.kiosk.tasks import TaskRunner
from tokenstile.protocol.roles import Permission


class SessionsPage(ApiPage):
    sessions_loaded = Signal()

    def __init__(
        self, runner: TaskRunner, *, dialogs: Dialogs, parent: QWidget | None = None
    ) -> None:
        super().__init__(runner, parent)
        self.setObjectName("sessionsPage")
        self.dialogs = dialogs
        self.person = field(self.tr("All people"), "sessionsPerson", self.tr("Person"), search=True)
        self.active_only = QCheckBox(self.tr("&Live sessions only"))
        self.active_only.setObjectName("activeOnly")
        self.active_only.setAccessibleName(self.tr("Live sessions only"))
        self.active_only.setChecked(True)
        self.refresh_button = button(
            self.tr("Re&fresh"), "refreshSessions", icon_name="admin-refresh"
        )
        self._debounce = search_as_you_type(self.person, self.refresh, self)
        self.active_only.toggled.connect(lambda _on: self.refresh())
        self.refresh_button.clicked.connect(self.refresh)
        self.table = Table(
            "sessionsTable",
            self.tr("Sessions"),
            [
                self.tr("Person"),
                self.tr("Client"),
                self.tr("Factor"),
                self.tr("Started"),
                self.tr("Last used"),
                self.tr("Ends"),
                self.tr("State"),
            ],
            stretch=6,
        )
        self.table.set_placeholder(self.tr("No sessions to show."))
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.revoke_button = button(
            self.tr("&Revoke session"), "revokeSession", role="danger", icon_name="admin-revoke"
        )
        self.revoke_button.clicked.connect(self.revoke)
        tools = QHBoxLayout()
        tools.setSpacing(8)
        tools.addWidget(self.person, 1)
        tools.addWidget(self.active_only)
        tools.addSpacing(16)
        tools.addWidget(self.refresh_button)
        tools.addWidget(self.revoke_button)
        self.lay_out(self.table, above=tools)
        self._update_buttons()

    def set_session(self, session: AdminSession | None) -> None:
        super().set_session(session)
        self.revoke_button.setVisible(
            session is not None and session.may(Permission.SESSIONS_REVOKE)
        )

    def clear(self) -> None:
        self.table.show_rows([])
        self.status.show_info("")

    def refresh(self) -> None:
        self._debounce.stop()
        params: dict[str, Any] = {"active_only": self.active_only.isChecked(), "limit": 200}
        person = self.person.text().strip()
        if person:
            params["username"] = person
        self.call(lambda s: s.get("/admin/sessions", params), self._show)

    def _show(self, answer: dict[str, Any]) -> None:
        sessions: list[dict[str, Any]] = answer.get("sessions", [])
        rows = []
        for item in sessions:
            if item.get("revoked_at") is not None:
                state = self.tr("Revoked")
                reason = item.get("revoke_reason")
                if reason:
                    state = self.tr("Revoked ({reason})").format(reason=reason)
            elif self.session is not None and item.get("sid") == self.session.identity.sid:
                state = self.tr("Live (this console)")
            else:
                state = self.tr("Live")
            rows.append(
                (
                    item,
                    [
                        item.get("username", ""),
                        item.get("client_id", ""),
                        item.get("factor", ""),
                        local_time(item.get("created_at")),
                        local_time(item.get("last_used_at")),
                        local_time(item.get("expires_at")),
                        state,
                    ],
                )
            )
        self.table.set_placeholder(
            self.tr("No live sessions.")
            if self.active_only.isChecked()
            else self.tr("No sessions to show.")
        )
        self.table.show_rows(rows)
        self._update_buttons()
        self.sessions_loaded.emit()

    def revoke(self) -> None:
        item = self.table.record()
        if not isinstance(item, dict):
            return
        question = self.tr("End the session of {username} on {client} now?").format(
            username=item.get("username", ""), client=item.get("client_id", "")
        )
        if not self.dialogs.confirm(self, self.tr("Revoke a session"), question):
            return
        sid = item["sid"]

        def done(answer: dict[str, Any]) -> None:
            if answer.get("revoked"):
                self.status.show_success(self.tr("The session has ended."))
            else:
                self.status.show_info(self.tr("That session had already ended."))
            self.refresh()

        self.call(lambda s: s.post("/admin/sessions/revoke", {"sid": sid}), done)

    def _update_buttons(self) -> None:
        item = self.table.record()
        self.revoke_button.setEnabled(isinstance(item, dict) and item.get("revoked_at") is None)
