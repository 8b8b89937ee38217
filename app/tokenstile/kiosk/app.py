"""The kiosk's Qt application: style sheet, font, translations, and the entry points.

``run_kiosk`` is ``tokenstile kiosk``; ``self_test`` is ``tokenstile kiosk --self-test``
(builds everything, draws once, needs no server, no keychain and no devices).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QLocale,
    QMargins,
    QObject,
    QRect,
    QTimer,
    QTranslator,
    Signal,
)
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

from tokenstile.config import Settings
from tokenstile.kiosk.assets import style_sheet, translations_dir
from tokenstile.kiosk.confirm import ConfirmDesk
from tokenstile.kiosk.confirm_channel import ConfirmChannel
from tokenstile.kiosk.devices import KioskDevices
from tokenstile.kiosk.offline import OfflineDesk
from tokenstile.kiosk.rules import KioskRules
from tokenstile.kiosk.service import BrokerSignIn, SignInService
from tokenstile.kiosk.web_browser import KioskBrowser
from tokenstile.kiosk.window import KioskWindow

if TYPE_CHECKING:
    from tokenstile.broker.sso import KioskSsoListener

logger = logging.getLogger(__name__)
OFFLINE_TICK_SECONDS = 10.0

FONT_FAMILIES = ["DejaVu Sans", "Noto Sans", "Cantarell", "Segoe UI", "Helvetica Neue"]


def application(argv: Sequence[str] | None = None, *, locale: str | None = None) -> QApplication:
    """The one ``QApplication`` (made here the first time), dressed for the kiosk."""
    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication(list(argv) if argv is not None else sys.argv[:1])
    )
    QCoreApplication.setOrganizationName("Tokenstile")
    QCoreApplication.setApplicationName("Tokenstile kiosk")
    QGuiApplication.setDesktopFileName("tokenstile-kiosk")
    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    font.setPointSize(13)
    app.setFont(font)
    install_translator(app, locale)
    app.setStyleSheet(style_sheet("kiosk"))
    return app


def install_translator(app: QCoreApplication, locale: str | None = None) -> QTranslator | None:
    """Load ``resources/translations/tokenstile_<locale>.qm`` when there is one."""
    folder = translations_dir()
    if folder is None or not folder.is_dir():
        return None
    translator = QTranslator(app)
    wanted = QLocale(locale) if locale else QLocale.system()
    if not translator.load(wanted, "tokenstile", "_", str(folder)):
        return None
    app.installTranslator(translator)
    return translator


def run_kiosk(
    settings: Settings,
    *,
    server: str | None = None,
    fullscreen: bool = False,
    devices: KioskDevices | None = None,
    service: SignInService | None = None,
    argv: Sequence[str] | None = None,
    browser: str | None = None,
) -> int:
    """Show the kiosk until it is closed; the exit status. ``browser``: the URL to open
    after each sign-in (default: the ``kiosk_browser_url`` setting)."""
    if service is None:
        from tokenstile.broker import Broker
        from tokenstile.broker.origin import webauthn_origin

        url = server or settings.kiosk_server or settings.issuer_url()
        if settings.kiosk_rp_id is not None:  # a pin for another site: refuse to start
            webauthn_origin(url, None, settings.kiosk_rp_id)
        broker = Broker(settings=settings)
        offline = None
        if settings.kiosk_offline:
            from tokenstile.clock import SystemClock
            from tokenstile.paths import runtime_dir

            offline = OfflineDesk(
                broker=broker,
                server=url,
                client_id="tokenstile-kiosk",
                clock=SystemClock(),
                runtime=runtime_dir(),
            )
        service = BrokerSignIn(url, broker=broker, rp_id=settings.kiosk_rp_id, offline=offline)
        service = BrokerSignIn(
            url,
            broker=Broker(settings=settings),
            rp_id=settings.kiosk_rp_id,
            tap_and_go=settings.kiosk_tap_and_go,
        )
    app = application(argv, locale=settings.kiosk_locale)
    window = KioskWindow(
        service,
        devices if devices is not None else KioskDevices.system(),
        rules=KioskRules.from_settings(settings),
    )
    screen = app.primaryScreen()
    how = fit_window(window, screen.availableGeometry()) if screen is not None else "normal"
    if fullscreen or how == "fullscreen":
        window.showFullScreen()
    elif how == "maximized":
        window.showMaximized()
    else:
        window.show()
    companions = start_companions(window, settings, service, browser)
    if isinstance(service, BrokerSignIn) and service.offline is not None:
        companions.offline = OfflineWatch(window, service, service.offline)
    window.start()
    try:
        return int(app.exec())
    finally:
        window.shutdown()
        companions.stop()
        dispose(window)


@dataclass
class Companions:
    """What runs beside the window while a person is signed in: the browser of
    ``--browser``/``kiosk_browser_url`` (opened at each sign-in, wiped at each end) and
    the broker's loopback endpoint for kiosk single sign-on (``kiosk_sso_port``)."""

    browser: KioskBrowser | None = None
    listener: KioskSsoListener | None = None
    offline: OfflineWatch | None = None
    confirm: ConfirmChannel | None = None  # "confirm with your key" (kiosk/confirm.py)
    desk: ConfirmDesk | None = None

    def stop(self) -> None:
        if self.offline is not None:
            self.offline.stop()
        if self.confirm is not None:
            self.confirm.stop()
        if self.desk is not None:
            self.desk.shutdown()
        if self.listener is not None:
            self.listener.stop()
        if self.browser is not None:
            self.browser.close()


def start_companions(
    window: KioskWindow, settings: Settings, service: SignInService, browser_url: str | None
) -> Companions:
    """Start the :class:`Companions` the settings ask for, tied to ``window``'s sessions."""
    found = Companions()
    url = browser_url or settings.kiosk_browser_url
    if url:
        browser = KioskBrowser(url, executable=settings.kiosk_browser_path)
        if not browser.available():
            logger.warning(
                "No browser at %s: the kiosk will not open %s (set kiosk_browser_path).",
                settings.kiosk_browser_path,
                url,
            )
        window.session_started.connect(lambda _info: browser.open())
        window.session_ended.connect(lambda _reason: browser.close())
        found.browser = browser
    if settings.kiosk_sso_port and isinstance(service, BrokerSignIn):
        from tokenstile.broker.sso import KioskSsoListener

        try:
            listener = KioskSsoListener(
                service.broker,
                server=service.server,
                port=settings.kiosk_sso_port,
                available=lambda: window.session is not None and not window.locked,
            )
        except OSError as exc:  # another process holds the port: no single sign-on
            logger.warning(
                "Kiosk single sign-on is off: 127.0.0.1:%s cannot be listened on (%s).",
                settings.kiosk_sso_port,
                exc.strerror,
            )
        else:
            listener.start()
            found.listener = listener
    if settings.kiosk_confirm and isinstance(service, BrokerSignIn):
        found.desk, found.confirm = start_confirm(window, service)
    return found


def start_confirm(
    window: KioskWindow, service: BrokerSignIn, *, path: Path | None = None
) -> tuple[ConfirmDesk, ConfirmChannel | None]:
    """The confirm prompt and its channel (``confirm.sock`` in the runtime directory);
    the channel is None when the socket cannot be made (logged: no confirms here)."""
    devices = window.devices
    desk = ConfirmDesk(window, service, devices.keys, devices.open_card, parent=window)
    window.held_card_inserted.connect(desk.card_inserted)
    channel = ConfirmChannel(desk.handle, path=path)
    try:
        channel.start()
    except OSError as exc:
        logger.warning(
            "Confirm with your key is off: %s cannot be listened on (%s).",
            channel.path,
            exc.strerror,
        )
        return desk, None
    return desk, channel


WINDOW_SIZE = (1280, 800)  # the kiosk's window where the screen has room for it


def fit_window(window: QWidget, available: QRect, usual: tuple[int, int] = WINDOW_SIZE) -> str:
    """Size and place ``window`` inside ``available`` (a screen's available geometry) and
    say how to show it: ``"normal"`` at its ``usual`` size where that fits; ``"maximized"``
    when it had to shrink (the window manager then fits the frame); ``"fullscreen"`` when
    even the window's minimum leaves no room for a frame (an 800x480 panel): it then has
    all of ``available``."""
    window.create()  # the frame (title bar, borders), where the platform knows it already
    handle = window.windowHandle()
    frame = handle.frameMargins() if handle is not None else QMargins()
    room = available.marginsRemoved(frame)
    if room.width() < window.minimumWidth() or room.height() < window.minimumHeight():
        window.setGeometry(available)
        return "fullscreen"
    width, height = min(usual[0], room.width()), min(usual[1], room.height())
    window.resize(width, height)
    window.move(available.topLeft())  # the frame's corner
    return "normal" if (width, height) == usual else "maximized"


def dispose(widget: QWidget) -> None:
    """Delete a top-level widget the Qt way (letting Python's collector do it at exit,
    after the application, crashes PySide)."""
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


class _NoService:
    """What the self-test's window is built with: it never asks anything."""

    server = "https://self-test.invalid"
    client_id = "tokenstile-kiosk"

    def __getattr__(self, name: str) -> object:
        raise AttributeError(name)


def self_test(argv: Sequence[str] | None = None) -> int:
    """Build the application and the sign-in window, draw it once; 0 when all is well."""
    app = application(argv)
    window = KioskWindow(_NoService())  # type: ignore[arg-type]
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    ok = window.grab().width() > 0 and bool(app.styleSheet())
    window.close()
    dispose(window)
    if not ok:
        print("kiosk self-test: the window or its style sheet is missing", file=sys.stderr)
        return 1
    print("kiosk ok")
    return 0


class OfflineWatch(QObject):
    """While the kiosk holds an offline session: every ``OFFLINE_TICK_SECONDS`` on a
    daemon thread, :meth:`OfflineDesk.tick` (the offline token signed again, the way
    back tried); the window is told when the session came back or ended."""

    _outcome = Signal(str)

    def __init__(self, window: KioskWindow, service: BrokerSignIn, desk: OfflineDesk) -> None:
        super().__init__(window)
        self._window = window
        self._service = service
        self._desk = desk
        self._busy = threading.Lock()
        self._outcome.connect(self._answered)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(int(OFFLINE_TICK_SECONDS * 1000))

    def _tick(self) -> None:
        if not self._desk.offline or not self._busy.acquire(blocking=False):
            return

        def work() -> None:
            try:
                self._outcome.emit(self._desk.tick(self._service.client))
            except Exception:
                logger.exception("kiosk: the offline session's check failed")
            finally:
                self._busy.release()

        threading.Thread(target=work, name="offline-watch", daemon=True).start()

    def _answered(self, outcome: str) -> None:
        if outcome == "online":
            info = self._service.session()
            if info is not None:
                self._window.back_online(info)
        elif outcome == "ended":
            self._window.offline_ended(
                self.tr(
                    "Signed out: back online, the sign-in service refused the offline sign-in (%1)."
                ).replace("%1", self._desk.ended_because or "")
            )

    def stop(self) -> None:
        self._timer.stop()
