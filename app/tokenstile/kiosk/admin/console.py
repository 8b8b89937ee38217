"""The admin console window and its entry point, ``tokenstile admin [--server URL]``.

The admin signs in with their own hardware factor (:mod:`.signin`); the console then
offers People (find, add, disable, credentials, enrollment), Sessions, Clients (the web
and native apps that sign in through Tokenstile) and the Audit log, all through the admin
HTTP API. Signing out, closing the window or a session that can no
longer be renewed revokes the session and forgets its tokens (they were never stored).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import httpx
from PySide6.QtCore import QSize, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tokenstile.broker.client import TokenServiceClient
from tokenstile.clock import Clock, SystemClock
from tokenstile.errors import TokenstileError
from tokenstile.kiosk import assets
from tokenstile.kiosk.admin.audit import AuditPage
from tokenstile.kiosk.admin.clients import ClientsPage
from tokenstile.kiosk.admin.environment import (
    AdminDevices,
    CardAdministration,
    Dialogs,
    QtDialogs,
)
from tokenstile.kiosk.admin.people import PeoplePage
from tokenstile.kiosk.admin.session import ADMIN_CLIENT_ID, AdminSession
from tokenstile.kiosk.admin.sessions import SessionsPage
from tokenstile.kiosk.admin.signin import SignInPage
from tokenstile.kiosk.admin.widgets import ApiPage, button
from tokenstile.kiosk.idle import InputWatch
from tokenstile.kiosk.tasks import TaskRunner
from tokenstile.kiosk.widgets import header_bar, icon
from tokenstile.protocol.roles import Permission

logger = logging.getLogger(__name__)


def style_sheet() -> str:
    """The kiosk's style sheet, then the console's additions (either may be missing)."""
    return "\n".join(
        part for part in (assets.style_sheet("kiosk"), assets.style_sheet("admin")) if part
    )


class AdminWindow(QMainWindow):
    """Sign-in, then the console; back to sign-in on sign-out or an ended session."""

    def __init__(
        self,
        server: str,
        *,
        devices: AdminDevices | None = None,
        dialogs: Dialogs | None = None,
        transport: httpx.BaseTransport | None = None,
        idle_seconds: float = 600.0,
        clock: Clock | None = None,
        tick_ms: int = 1000,
        people_page_size: int = 200,
        rp_id: str | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("adminWindow")
        self.setWindowTitle(self.tr("Tokenstile administration"))
        self.setAccessibleName(self.windowTitle())
        self.server = server
        self.devices = devices or AdminDevices()
        self.dialogs: Dialogs = dialogs or QtDialogs()
        self.runner = TaskRunner(self)
        self.session: AdminSession | None = None
        self.idle_seconds = idle_seconds  # 0: never sign out for want of input
        self.input = InputWatch(clock or SystemClock(), self)
        self.input.start()
        self._idle_tick = QTimer(self)
        self._idle_tick.setInterval(tick_ms)
        self._idle_tick.timeout.connect(self._check_idle)

        def connect() -> TokenServiceClient:
            return TokenServiceClient(server, client_id=ADMIN_CLIENT_ID, transport=transport)

        self.connect_service: Callable[[], TokenServiceClient] = connect
        self.sign_in = SignInPage(
            server=server, connect=connect, devices=self.devices, runner=self.runner, rp_id=rp_id
        )
        self.sign_in.signed_in.connect(self.enter)

        self.people = PeoplePage(
            self.runner,
            server=server,
            devices=self.devices,
            dialogs=self.dialogs,
            page_size=people_page_size,
        )
        self.sessions = SessionsPage(self.runner, dialogs=self.dialogs)
        self.clients = ClientsPage(self.runner, dialogs=self.dialogs)
        self.audit = AuditPage(self.runner, dialogs=self.dialogs)
        self.pages: tuple[ApiPage, ...] = (self.people, self.sessions, self.clients, self.audit)
        for page in self.pages:
            page.session_ended.connect(self.session_ended)

        self._build()
        self.resize(1100, 760)
        QShortcut(QKeySequence.StandardKey.Refresh, self, self.refresh_current)

    def _build(self) -> None:
        header, row = header_bar(self.tr("Administration"))
        self.who = QLabel()
        self.who.setObjectName("signedInAs")
        self.who.setAccessibleName(self.tr("Signed in as"))
        self.sign_out_button = button(self.tr("Sign &out"), "signOut", icon_name="sign-out-dark")
        self.sign_out_button.clicked.connect(self.sign_out)
        row.addWidget(self.who)
        row.addWidget(self.sign_out_button)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("adminTabs")
        self.tabs.setAccessibleName(self.tr("Sections"))
        self.tabs.setIconSize(QSize(22, 22))
        self.tabs.addTab(self.people, icon("admin-people"), self.tr("&People"))
        self.tabs.addTab(self.sessions, icon("admin-sessions"), self.tr("&Sessions"))
        self.tabs.addTab(self.clients, icon("admin-clients"), self.tr("&Clients"))
        self.tabs.addTab(self.audit, icon("admin-audit"), self.tr("&Audit log"))
        self.tabs.currentChanged.connect(self._tab_changed)
        self.console = QWidget()
        self.console.setObjectName("adminConsole")
        console_layout = QVBoxLayout(self.console)
        console_layout.setContentsMargins(24, 12, 24, 16)
        console_layout.addWidget(self.tabs)

        self.stack = QStackedWidget()
        self.stack.setObjectName("adminScreens")
        self.stack.addWidget(self.sign_in)
        self.stack.addWidget(self.console)
        root = QWidget()
        root.setObjectName("adminRoot")
        outer = QVBoxLayout(root)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(header)
        outer.addWidget(self.stack, 1)
        self.setCentralWidget(root)
        self._signed_in_parts(visible=False)

    # -- signing in and out ---------------------------------------------------------------

    def enter(self, session: AdminSession) -> None:
        self.session = session
        for page in self.pages:
            page.set_session(session)
        self.people.search.clear()
        # Only the sections the person's roles allow (``protocol.roles``).
        for page, permission in (
            (self.sessions, Permission.SESSIONS_READ),
            (self.clients, Permission.CLIENTS_MANAGE),
            (self.audit, Permission.AUDIT_READ),
        ):
            self.tabs.setTabVisible(self.tabs.indexOf(page), session.may(permission))
        roles = ", ".join(session.roles) or self.tr("no role")
        self.who.setText(
            self.tr("Signed in as {username} ({roles})").format(
                username=session.username, roles=roles
            )
        )
        self.who.setAccessibleName(self.who.text())
        self._signed_in_parts(visible=True)
        self.stack.setCurrentWidget(self.console)
        self.tabs.setCurrentWidget(self.people)
        self.people.refresh()
        self.people.search.setFocus()
        self.input.touch()
        if self.idle_seconds > 0:
            self._idle_tick.start()

    def sign_out(self, message: str = "") -> None:
        """Back to sign-in, every page's open dialog closed first: whatever the last
        admin was doing (a person half added, a secret on screen) is not left for the
        next person at the desk, however the session ended."""
        self._close_dialogs()
        self._idle_tick.stop()
        session, self.session = self.session, None
        for page in self.pages:
            page.set_session(None)
        if session is not None:
            self.runner.start(lambda _ctx: session.sign_out())
        self.sign_in.reset(message or self.tr("Signed out."))
        self._signed_in_parts(visible=False)
        self.stack.setCurrentWidget(self.sign_in)

    def _signed_in_parts(self, *, visible: bool) -> None:
        self.who.setVisible(visible)
        self.sign_out_button.setVisible(visible)

    def session_ended(self) -> None:
        if self.session is not None:
            self.sign_out(self.tr("Your admin session has ended: sign in again."))

    def _check_idle(self) -> None:
        if self.session is None or self.idle_seconds <= 0:
            return
        if self.input.idle_seconds() >= self.idle_seconds:
            minutes = max(1, round(self.idle_seconds / 60))
            self.sign_out(
                self.tr("Signed out after {n} minutes without activity.").format(n=minutes)
                if minutes != 1
                else self.tr("Signed out after 1 minute without activity.")
            )

    def _tab_changed(self, _index: int) -> None:
        self.refresh_current()

    def refresh_current(self) -> None:
        if self.session is None:
            return
        page = self.tabs.currentWidget()
        if page is self.sessions:
            self.sessions.refresh()
        elif page is self.clients:
            self.clients.refresh()
        elif page is self.audit:
            self.audit.refresh()
        else:
            self.people.refresh()

    def _close_dialogs(self) -> None:
        for page in self.pages:
            dialog = getattr(page, "dialog", None)
            if dialog is not None:
                dialog.reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self._close_dialogs()
        self._idle_tick.stop()
        self.input.stop()
        session, self.session = self.session, None
        if session is not None:
            self.runner.start(lambda _ctx: session.sign_out())
        self.runner.shutdown()
        super().closeEvent(event)


def run_admin_console(server: str, *, argv: list[str]) -> int:
    """``tokenstile admin``: the console window until it is closed; the exit status."""
    from tokenstile.broker.client import check_server_url
    from tokenstile.config import load_settings
    from tokenstile.kiosk.app import application, dispose

    try:
        server = check_server_url(server)
        settings = load_settings()
        cards = CardAdministration.from_settings(settings)
    except TokenstileError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    # The kiosk's fonts and translations; its style sheet, then the console's.
    app = application(argv, locale=settings.kiosk_locale)
    app.setApplicationName("Tokenstile administration")
    app.setStyleSheet(style_sheet())
    window = AdminWindow(
        server,
        devices=AdminDevices(cards=cards),
        idle_seconds=settings.admin_idle_minutes * 60.0,
        rp_id=settings.kiosk_rp_id,  # the machine's own pin, checked against ``server``
    )
    window.show()
    try:
        return int(app.exec())
    finally:
        dispose(window)
