"""The audit log: filters (person, event, outcome, time range), newest first, older pages
by keyset (``before_id``), and export of the filtered rows as CSV or JSON lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QDateTime, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QWidget,
)

from tokenstile.kiosk.admin.environment import Dialogs
from tokenstile.kiosk.admin.widgets import ApiPage, Table, button, field, local_time
from tokenstile.kiosk.tasks import TaskRunner

PAGE_SIZE = 100  # events per page
# The events an admin most often looks for; the field takes any other name too.
KNOWN_EVENTS = (
    "login",
    "refresh",
    "revoke",
    "session_revoked",
    "otp_login",
    "fido2_login",
    "piv_login",
    "user_added",
    "user_disabled",
    "user_enabled",
    "fido2_enrolled",
    "fido2_revoked",
    "piv_enrolled",
    "piv_revoked",
    "otp_enrolled",
    "otp_confirm",
    "otp_import",
    "otp_assigned",
    "otp_revoked",
    "audit_exported",
)
OUTCOMES = ("success", "failure", "alert", "info")
FORMATS = {"csv": "CSV", "jsonl": "JSON lines"}


class AuditPage(ApiPage):
    events_loaded = Signal()
    exported = Signal(object)  # the Path written

    def __init__(  # noqa: PLR0915 - one screen's widgets, in reading order
        self, runner: TaskRunner, *, dialogs: Dialogs, parent: QWidget | None = None
    ) -> None:
        super().__init__(runner, parent)
        self.setObjectName("auditPage")
        self.dialogs = dialogs
        self.person = field(self.tr("Anyone"), "auditPerson", self.tr("Person"))
        self.event_name = QComboBox()
        self.event_name.setObjectName("auditEvent")
        self.event_name.setAccessibleName(self.tr("Event"))
        self.event_name.setEditable(True)
        self.event_name.addItem("")
        self.event_name.addItems(list(KNOWN_EVENTS))
        event_edit = self.event_name.lineEdit()
        assert event_edit is not None  # noqa: S101 - an editable combo box has one
        event_edit.setPlaceholderText(self.tr("Any event"))
        event_edit.returnPressed.connect(self.refresh)
        self.outcome = QComboBox()
        self.outcome.setObjectName("auditOutcome")
        self.outcome.setAccessibleName(self.tr("Outcome"))
        self.outcome.addItem(self.tr("Any outcome"), "")
        for outcome in OUTCOMES:
            self.outcome.addItem(outcome, outcome)
        now = QDateTime.currentDateTime()
        self.use_since = QCheckBox(self.tr("&From"))
        self.use_since.setObjectName("auditUseSince")
        self.use_since.setAccessibleName(self.tr("Only from a time"))
        self.since = QDateTimeEdit(now.addDays(-1))
        self.since.setObjectName("auditSince")
        self.since.setAccessibleName(self.tr("From"))
        self.use_until = QCheckBox(self.tr("&Until"))
        self.use_until.setObjectName("auditUseUntil")
        self.use_until.setAccessibleName(self.tr("Only until a time"))
        self.until = QDateTimeEdit(now)
        self.until.setObjectName("auditUntil")
        self.until.setAccessibleName(self.tr("Until"))
        for edit in (self.since, self.until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setEnabled(False)
        self.use_since.toggled.connect(self.since.setEnabled)
        self.use_until.toggled.connect(self.until.setEnabled)
        self.search_button = button(
            self.tr("&Search"),
            "auditSearch",
            default=True,
            role="primary",
            icon_name="admin-search-light",
        )
        self.search_button.clicked.connect(self.refresh)
        self.person.returnPressed.connect(self.refresh)

        self.table = Table(
            "auditTable",
            self.tr("Audit events"),
            [
                self.tr("Time"),
                self.tr("Event"),
                self.tr("Outcome"),
                self.tr("Person"),
                self.tr("Client"),
                self.tr("Factor"),
                self.tr("Origin"),
                self.tr("Detail"),
            ],
            stretch=7,
            widths={4: 180, 6: 190},  # client, origin
        )
        self.table.set_placeholder(self.tr("No events match these filters."))
        self.newest_button = button(self.tr("&Newest"), "auditNewest")
        self.newest_button.setAccessibleName(self.tr("Newest events"))
        self.newest_button.clicked.connect(self.refresh)
        self.older_button = button(self.tr("&Older"), "auditOlder")
        self.older_button.setAccessibleName(self.tr("Older events"))
        self.older_button.clicked.connect(self.older)
        self.page_label = QLabel()
        self.page_label.setObjectName("auditPageLabel")
        self.format = QComboBox()
        self.format.setObjectName("exportFormat")
        self.format.setAccessibleName(self.tr("Export format"))
        for key, name in FORMATS.items():
            self.format.addItem(name, key)
        self.export_button = button(self.tr("&Export…"), "auditExport", icon_name="admin-export")
        self.export_button.clicked.connect(self.export)

        filters = QGridLayout()
        filters.setHorizontalSpacing(10)
        filters.addWidget(_buddy(self.tr("&Person"), self.person), 0, 0)
        filters.addWidget(self.person, 0, 1)
        filters.addWidget(_buddy(self.tr("E&vent"), self.event_name), 0, 2)
        filters.addWidget(self.event_name, 0, 3)
        filters.addWidget(_buddy(self.tr("Ou&tcome"), self.outcome), 0, 4)
        filters.addWidget(self.outcome, 0, 5)
        filters.addWidget(self.use_since, 1, 0)
        filters.addWidget(self.since, 1, 1)
        filters.addWidget(self.use_until, 1, 2)
        filters.addWidget(self.until, 1, 3)
        filters.addWidget(self.search_button, 1, 5)
        filters.setColumnStretch(1, 2)
        filters.setColumnStretch(3, 2)
        filters.setColumnStretch(5, 1)
        paging = QHBoxLayout()
        paging.addWidget(self.newest_button)
        paging.addWidget(self.older_button)
        paging.addWidget(self.page_label)
        paging.addStretch(1)
        paging.addWidget(self.format)
        paging.addWidget(self.export_button)
        self.lay_out(self.table, above=filters, below=paging)
        self.next_before_id: int | None = None
        self.page_number = 1
        self.page_size = PAGE_SIZE
        self.older_button.setEnabled(False)

    def filters(self) -> dict[str, Any]:
        """The query of the filters as set now (empty ones left out)."""
        params: dict[str, Any] = {}
        person = self.person.text().strip()
        event = self.event_name.currentText().strip()
        outcome = self.outcome.currentData()
        if person:
            params["username"] = person
        if event:
            params["event"] = event
        if outcome:
            params["outcome"] = outcome
        if self.use_since.isChecked():
            params["since"] = self.since.dateTime().toSecsSinceEpoch()
        if self.use_until.isChecked():
            params["until"] = self.until.dateTime().toSecsSinceEpoch()
        return params

    def clear(self) -> None:
        self.table.show_rows([])
        self.status.show_info("")

    def refresh(self) -> None:
        self.page_number = 1
        self._load(None)

    def older(self) -> None:
        if self.next_before_id is None:
            return
        self.page_number += 1
        self._load(self.next_before_id)

    def _load(self, before_id: int | None) -> None:
        params = {**self.filters(), "limit": self.page_size}
        if before_id is not None:
            params["before_id"] = before_id
        self.call(lambda s: s.get("/admin/audit", params), self._show)

    def _show(self, answer: dict[str, Any]) -> None:
        events: list[dict[str, Any]] = answer.get("events", [])
        self.table.show_rows(
            [
                (
                    event,
                    [
                        local_time(event.get("at")),
                        event.get("event", ""),
                        event.get("outcome", ""),
                        event.get("username") or "",
                        event.get("client_id") or "",
                        event.get("factor") or "",
                        event.get("origin") or "",
                        _detail(event.get("detail")),
                    ],
                )
                for event in events
            ]
        )
        next_id = answer.get("next_before_id")
        self.next_before_id = int(next_id) if next_id is not None else None
        self.older_button.setEnabled(self.next_before_id is not None)
        self.page_label.setText(
            self.tr("Page {page}: {n} events").format(page=self.page_number, n=len(events))
        )
        self.events_loaded.emit()

    def export(self) -> None:
        kind = str(self.format.currentData())
        target = self.dialogs.save_export(self, f"tokenstile-audit.{kind}")
        if target is None:
            return
        params = {**self.filters(), "format": kind}

        def work(session: Any) -> Path:
            session.download("/admin/audit/export", params, target)
            return target

        def done(path: Path) -> None:
            self.status.show_success(self.tr("Saved the audit log to {path}.").format(path=path))
            self.exported.emit(path)

        self.call(work, done, busy=self.tr("Exporting…"))


def _buddy(text: str, widget: QWidget) -> QLabel:
    label = QLabel(text)
    label.setBuddy(widget)
    return label


def _detail(detail: Any) -> str:
    if not isinstance(detail, dict) or not detail:
        return ""
    return ", ".join(f"{key}={value}" for key, value in detail.items())
