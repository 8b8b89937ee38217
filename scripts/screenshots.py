"""Render every kiosk and admin-console screen to PNG files (``make screenshots``).

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshots.py docs/screenshots

The screens are the real windows, driven through the real flows of the kiosk demo: the
embedded token service, the software security key, the virtual card (in-process) and
the demo people's one-time codes (see ``tokenstile.demo.kiosk``). Each file is the
window as ``QWidget.grab()`` draws it in the X server it runs in (any Qt platform works,
e.g. ``QT_QPA_PLATFORM=offscreen`` for a quick look; the README's come from Xvfb).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

KIOSK_SIZE = (1280, 800)
ADMIN_SIZE = (1280, 800)
# Every screen size a kiosk has (issue 17): the sign-in and PIN pad screens at each, as
# kiosk-sign-in-<w>x<h>.png and kiosk-pin-pad-<w>x<h>.png; the demo where its panel folds.
SCREEN_SIZES = ((800, 480), (1024, 768), (1280, 800), (1366, 768), (1920, 1080))
DEMO_FOLDED_SIZES = ((1024, 768), (800, 480))
MAX_BYTES = 200 * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where the PNG files go")
    parser.add_argument("--only", action="append", help="render only these screens")
    args = parser.parse_args(argv)
    if not any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        print(
            "No display: run this under xvfb-run (make screenshots does), "
            "or set QT_QPA_PLATFORM=offscreen.",
            file=sys.stderr,
        )
        return 2
    # A private data directory: the demo's folder and broker files never touch yours.
    with tempfile.TemporaryDirectory(prefix="tokenstile-screenshots-") as scratch:
        os.environ["TOKENSTILE_DATA_DIR"] = str(Path(scratch) / "data")
        os.environ["TOKENSTILE_RUNTIME_DIR"] = str(Path(scratch) / "run")
        return Screenshots(args.folder, only=set(args.only or ())).run()


class Screenshots:
    def __init__(self, folder: Path, *, only: set[str]) -> None:
        from tokenstile.kiosk.app import application

        self.folder = folder
        self.only = only
        self.app = application(sys.argv[:1])
        self.saved: list[tuple[str, int]] = []
        folder.mkdir(parents=True, exist_ok=True)

    # -- helpers ----------------------------------------------------------------------------

    def settle(self, condition: Callable[[], bool] | None = None, timeout: float = 0.2) -> bool:
        """Run the event loop until ``condition`` holds (or ``timeout``; without a
        condition, for ``timeout``); then a bit more, so that what changed is painted."""
        deadline = time.monotonic() + timeout
        met = False
        while time.monotonic() < deadline:
            self.app.processEvents()
            if condition is not None and condition():
                met = True
                break
            time.sleep(0.01)
        for _ in range(5):
            self.app.processEvents()
            time.sleep(0.01)
        return met

    def must(self, condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        if not self.settle(condition, timeout):
            raise RuntimeError(f"screenshots: {what} did not happen within {timeout:.0f} s")

    def shot(self, widget: Any, name: str) -> None:
        if self.only and name not in self.only:
            return
        self.settle()
        self.save(widget.grab().toImage(), name)

    def save(self, picture: Any, name: str) -> None:
        from PySide6.QtGui import QImage

        image = picture.convertToFormat(QImage.Format.Format_RGB32)
        path = self.folder / f"{name}.png"
        if not image.save(str(path), "PNG", 0):  # quality 0: smallest file (zlib level 9)
            raise RuntimeError(f"screenshots: cannot write {path}")
        size = path.stat().st_size
        if size > MAX_BYTES:
            # Flat colours and anti-aliased text: 256 colours look the same and weigh less.
            image.convertToFormat(QImage.Format.Format_Indexed8).save(str(path), "PNG", 0)
            size = path.stat().st_size
        self.saved.append((name, size))
        print(f"{path}  {image.width()}x{image.height()}  {size // 1024} KB", flush=True)

    # -- the walk -----------------------------------------------------------------------------

    def run(self) -> int:
        from tokenstile.demo.environment import start_demo

        environment = start_demo(pcsc=False, resource_server=True)
        try:
            self.kiosk_screens(environment)
            self.kiosk_sizes(environment)
            self.demo_screen(environment)
            self.demo_sizes(environment)
            self.demo_with_app(environment)
            self.admin_screens(environment)
        finally:
            environment.close()
        too_big = [name for name, size in self.saved if size > MAX_BYTES]
        if too_big:
            print(f"Over {MAX_BYTES // 1024} KB: {', '.join(too_big)}", file=sys.stderr)
            return 1
        return 0

    def kiosk_screens(self, environment: Any) -> None:
        from tokenstile.broker import Broker
        from tokenstile.broker.memory_store import MemorySessionStore
        from tokenstile.config import load_settings
        from tokenstile.demo.people import KEY_PIN
        from tokenstile.kiosk.app import dispose
        from tokenstile.kiosk.service import BrokerSignIn
        from tokenstile.kiosk.widgets import PinPad
        from tokenstile.kiosk.window import KioskWindow

        settings = load_settings()
        service = BrokerSignIn(
            environment.server_url,
            broker=Broker(settings=settings, store=MemorySessionStore()),
        )
        window = KioskWindow(service, environment.kiosk_devices())
        window.resize(*KIOSK_SIZE)
        window.show()
        window.start()
        pad: PinPad = window.findChild(PinPad)
        try:
            self.must(lambda: "security key" in window._invitation.text(), "the invitation")
            self.shot(window, "kiosk-sign-in")
            self._key_screens(environment, window, pad, KEY_PIN)
            self._code_and_card_screens(environment, window, pad)
        finally:
            window.shutdown()
            window.close()
            dispose(window)

    def _key_screens(self, environment: Any, window: Any, pad: Any, key_pin: str) -> None:
        from tokenstile.kiosk.window import Screen

        # The key: plugged in, it asks for its PIN; a wrong one; then the touch.
        environment.plug_key(True)
        self.must(lambda: window.current_screen is Screen.PIN, "the key's PIN pad")
        pad.field.setText("98")
        self.shot(window, "kiosk-pin-pad")
        pad.field.setText("9876")
        pad.submit()
        self.must(
            lambda: (
                window.current_screen is Screen.PIN
                and pad.question is not None
                and pad.question.wrong
            ),
            "the wrong-PIN pad",
        )
        self.shot(window, "kiosk-wrong-pin")
        pad.field.setText(key_pin)
        pad.submit()
        self.must(lambda: environment.key_waiting, "the key waiting for a touch")
        self.must(lambda: window.current_screen is Screen.BUSY, "the touch prompt")
        self.shot(window, "kiosk-touch-key")
        environment.tap_key()
        self.must(lambda: window.current_screen is Screen.SIGNED_IN, "signing in")
        environment.plug_key(False)
        self.shot(window, "kiosk-signed-in")

        window.lock()
        self.must(lambda: window.current_screen is Screen.LOCKED, "locking")
        self.shot(window, "kiosk-locked")
        window.sign_out()
        self.must(
            lambda: window.current_screen is Screen.SIGN_IN and not window.busy, "signing out"
        )
        window.wait_for_worker(10_000)

    def _code_and_card_screens(self, environment: Any, window: Any, pad: Any) -> None:
        from tokenstile.kiosk.widgets import CodeEntry
        from tokenstile.kiosk.window import Screen

        # The code: username and code; then a wrong code, as an error.
        window.show_code_entry()
        entry: CodeEntry = window.findChild(CodeEntry)
        self.must(lambda: window.current_screen is Screen.CODE, "the code entry")
        _fill_code_entry(entry, "taylor", "")
        self.shot(window, "kiosk-code-entry")
        window.submit_code("taylor", _wrong_code(environment.otp_code("taylor")[0]))
        self.must(lambda: window.problem is not None, "the wrong code's message")
        self.shot(window, "kiosk-error")

        # The card: inserted, its PIN pad.
        environment.insert_card()
        self.must(
            lambda: window.current_screen is Screen.PIN and pad.question is not None,
            "the card's PIN pad",
        )
        pad.field.setText("1234")
        self.shot(window, "kiosk-card-pin")
        window.cancel_sign_in()
        environment.pull_card()
        self.must(lambda: not window.busy, "the card sign-in to end")

    def wanted(self, *names: str) -> bool:
        return not self.only or bool(self.only & set(names))

    def kiosk_sizes(self, environment: Any) -> None:
        """The sign-in and PIN pad screens at every screen size, one window resized."""
        from PySide6.QtCore import QSize

        from tokenstile.broker import Broker
        from tokenstile.broker.memory_store import MemorySessionStore
        from tokenstile.config import load_settings
        from tokenstile.kiosk.app import dispose
        from tokenstile.kiosk.service import BrokerSignIn
        from tokenstile.kiosk.window import KioskWindow, Screen

        sizes = [f"{w}x{h}" for w, h in SCREEN_SIZES]
        if not self.wanted(*(f"kiosk-{s}-{z}" for s in ("sign-in", "pin-pad") for z in sizes)):
            return
        service = BrokerSignIn(
            environment.server_url,
            broker=Broker(settings=load_settings(), store=MemorySessionStore()),
        )
        window = KioskWindow(service, environment.kiosk_devices())
        window.show()
        window.start()

        def each_size(screen: str) -> None:
            for width, height in SCREEN_SIZES:
                window.resize(width, height)
                self.must(lambda w=width, h=height: window.size() == QSize(w, h), "a resize")
                self.shot(window, f"kiosk-{screen}-{width}x{height}")

        try:
            self.must(lambda: "security key" in window._invitation.text(), "the invitation")
            each_size("sign-in")
            environment.plug_key(True)
            self.must(lambda: window.current_screen is Screen.PIN, "the key's PIN pad")
            window._pin.field.setText("98")
            each_size("pin-pad")
            window.cancel_sign_in()
            environment.plug_key(False)
            self.must(lambda: not window.busy, "the key sign-in to end")
        finally:
            window.shutdown()
            window.close()
            dispose(window)

    def demo_sizes(self, environment: Any) -> None:
        """The demo on screens too narrow for the panel beside the kiosk: its drawer open."""
        from PySide6.QtCore import QRect

        from tokenstile.demo.window import build_demo_window
        from tokenstile.kiosk.app import dispose

        for width, height in DEMO_FOLDED_SIZES:
            name = f"demo-{width}x{height}"
            if not self.wanted(name):
                continue
            window = build_demo_window(environment)
            window.fit_to(QRect(0, 0, width, height))
            window.show()
            window.kiosk.start()
            try:
                self.must(lambda w=window: "security key" in w.kiosk._invitation.text(), "invite")
                window.handle.click()
                self.shot(window, name)
            finally:
                window.kiosk.shutdown()
                window.close()
                dispose(window)

    def demo_screen(self, environment: Any) -> None:
        from tokenstile.demo.window import build_demo_window
        from tokenstile.kiosk.app import dispose

        window = build_demo_window(environment)
        window.resize(1400, 820)
        window.show()
        window.kiosk.start()
        try:
            self.must(lambda: "security key" in window.kiosk._invitation.text(), "the invitation")
            window.panel.accounts[0].show_qr.click()
            self.shot(window, "demo")
        finally:
            window.kiosk.shutdown()
            window.close()
            dispose(window)

    def demo_with_app(self, environment: Any) -> None:
        """The demo with the sample desktop app beside it, after Alex signed in: the app
        found the session, asked /userinfo for the name and called the resource server."""
        from PySide6.QtCore import QPoint
        from PySide6.QtGui import QColor, QImage, QPainter

        from tokenstile.broker import Broker
        from tokenstile.demo.people import KEY_PIN
        from tokenstile.demo.window import build_demo_window
        from tokenstile.kiosk.app import dispose
        from tokenstile.kiosk.window import Screen

        if self.only and "demo-desktop-app" not in self.only:
            return
        sample = _sample_app()
        window = build_demo_window(environment)
        window.resize(1400, 820)
        window.show()
        window.kiosk.start()
        # The app in this process over the same (memory) store: what a second process
        # sees through the keychain when the demo runs for real.
        watch = sample.SessionWatch(
            Broker(store=window.broker.store, app_id=sample.APP_ID), environment.resource_url
        )
        app_window = sample.AppWindow(watch, interval=0.2)
        app_window.resize(440, 230)
        app_window.show()
        try:
            environment.key.touch.auto = True
            window.panel.plug.click()
            self.must(lambda: window.kiosk.current_screen is Screen.PIN, "the key's PIN pad")
            window.kiosk._pin.field.setText(KEY_PIN)
            window.kiosk._pin.submit()
            self.must(lambda: window.kiosk.current_screen is Screen.SIGNED_IN, "signing in")
            self.must(lambda: "Hello" in app_window.api.text(), "the sample app's API call")
            window.panel.plug.click()  # unplugged again
            self.settle(timeout=0.5)
            kiosk, app = window.grab().toImage(), app_window.grab().toImage()
            gap = 24
            width = kiosk.width() + gap + app.width()
            canvas = QImage(width, kiosk.height(), QImage.Format.Format_RGB32)
            canvas.fill(QColor("#cfd8e3"))
            painter = QPainter(canvas)
            painter.drawImage(QPoint(0, 0), kiosk)
            painter.drawImage(QPoint(kiosk.width() + gap, 40), app)
            painter.end()
            self.save(canvas, "demo-desktop-app")
        finally:
            environment.key.touch.auto = False
            app_window.close()
            watch.close()
            window.kiosk.shutdown()
            window.close()
            dispose(app_window)
            dispose(window)

    def admin_screens(self, environment: Any) -> None:
        try:
            from tokenstile.kiosk.admin.console import AdminWindow, style_sheet
        except ImportError as exc:  # the console is built alongside; say so, do not fail
            print(f"screenshots: no admin console yet ({exc})", file=sys.stderr)
            return
        from tokenstile.kiosk.app import dispose

        # As `tokenstile admin` dresses it: the kiosk's style sheet, then the console's.
        self.app.setStyleSheet(style_sheet())
        window = AdminWindow(environment.server_url)
        window.resize(*ADMIN_SIZE)
        window.show()
        try:
            self.settle()
            self.shot(window, "admin-sign-in")
            sign_in = window.sign_in
            sign_in.code_button.click()
            sign_in.username.setText("admin")
            sign_in.code.setText(environment.otp_code("admin")[0])
            sign_in.code_submit.click()
            self.must(lambda: window.session is not None, "the admin's sign-in")
            self.must(lambda: window.people.table.rowCount() >= 4, "the people list")
            self.shot(window, "admin-people")
            window.tabs.setCurrentWidget(window.sessions)
            self.settle(timeout=1.0)
            self.shot(window, "admin-sessions")
            self.admin_clients(window)
            window.tabs.setCurrentWidget(window.audit)
            self.settle(timeout=1.0)
            self.shot(window, "admin-audit")
        finally:
            window.close()
            dispose(window)

    def admin_clients(self, window: Any) -> None:
        """Clients, with a web and a native app registered through the console's own
        session (the demo has none), the web app selected."""
        session = window.session
        for body in (
            {
                "name": "Records",
                "kind": "web",
                "redirect_uris": ["https://records.example/callback"],
                "post_logout_redirect_uris": ["https://records.example/signed-out"],
                "backchannel_logout_uri": "https://records.example/backchannel-logout",
            },
            {
                "name": "Field notes (desktop)",
                "kind": "native",
                "redirect_uris": ["http://127.0.0.1/callback"],
            },
        ):
            session.post("/admin/clients", body)  # the secret in the answer is dropped
        page = window.clients
        window.tabs.setCurrentWidget(page)
        self.must(lambda: page.table.rowCount() >= 2, "the clients list")
        page.table.select_where(lambda client: client["kind"] == "web")
        self.shot(window, "admin-clients")


def _sample_app() -> Any:
    """examples/desktop-app/desktop_app.py, imported (it is a script, not a package)."""
    import importlib.util

    from tokenstile.demo.sample_app import SAMPLE_APP

    spec = importlib.util.spec_from_file_location("desktop_app", SAMPLE_APP)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"screenshots: cannot load {SAMPLE_APP}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def _fill_code_entry(entry: Any, username: str, code: str) -> None:
    from PySide6.QtWidgets import QLineEdit

    fields = entry.findChildren(QLineEdit)
    if fields:
        fields[0].setText(username)
    if len(fields) > 1:
        fields[1].setText(code)


def _wrong_code(code: str) -> str:
    return "".join(str((int(digit) + 5) % 10) for digit in code)


if __name__ == "__main__":
    sys.exit(main())
