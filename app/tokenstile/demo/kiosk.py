"""``tokenstile kiosk --demo``: the kiosk over a throwaway token service, with software devices.

:func:`~tokenstile.demo.environment.start_demo` makes a fresh folder
``<user data dir>/kiosk-demo`` (replaced on every start; the real embedded database beside
it is never touched), runs the token service under uvicorn on a background thread of this
process at ``127.0.0.1:<free port>`` (:mod:`tokenstile.demo.service`), and enrolls the demo
people there (:mod:`tokenstile.demo.people`):

- ``alex``: the software security key (a real CTAP2 authenticator, PIN ``1234``), plugged
  in and tapped from the demo panel;
- ``casey``: a virtual PIV card (PIN ``123456``) certified by the service's CA, served to
  the machine's pcscd through vpcd when pcscd runs, otherwise read in-process
  (:mod:`tokenstile.demo.devices`);
- ``taylor``: an authenticator app (TOTP; the panel shows its QR and current code);
- ``admin``: the demo admin, with an authenticator app too.

:func:`run_kiosk_demo`, here, opens the kiosk window with the demo panel beside it
(:mod:`tokenstile.demo.window`), and the sample desktop app (``examples/desktop-app/``) as
a second small window. The window reaches the service over HTTP only, exactly as against a
fleet server. The session is kept where real ones are, under the demo's own name
(:mod:`tokenstile.demo.session`), so that ``tokenstile token`` and every app on the machine
see who is signed in at the demo; a small resource server
(:mod:`tokenstile.demo.sample_app`) on another loopback port checks the tokens the sample
app sends it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tokenstile.demo.environment import DemoEnvironment, start_demo
from tokenstile.demo.window import (
    LAYOUT_ENV,
    SCRIPT_ENV,
    DemoLayout,
    DemoScript,
    build_demo_window,
)

# Set to make the software key approve every request at once (tests and benchmarks).
AUTO_TOUCH_ENV = "TOKENSTILE_DEMO_AUTO_TOUCH"
NO_DISPLAY = (
    "There is no display (DISPLAY and WAYLAND_DISPLAY are unset), so here is the terminal "
    "demo instead: the token service with a demo person."
)


def has_display() -> bool:
    """A screen to show the kiosk on (or a Qt platform chosen outright, e.g. offscreen)."""
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def _show(app: Any, window: Any, *, fullscreen: bool) -> None:
    """Full screen when asked; else its usual size where the screen has room, or the whole
    screen (the panel then folds into a drawer): the window never runs off a small screen."""
    screen = app.primaryScreen()
    how = window.fit_to(screen.availableGeometry()) if screen is not None else "normal"
    if fullscreen or how == "fullscreen":
        window.showFullScreen()
    elif how == "maximized":
        window.showMaximized()
    else:
        window.show()


def run_kiosk_demo(args: argparse.Namespace) -> int:
    """``tokenstile kiosk --demo``; the exit status."""
    if not has_display():
        print(NO_DISPLAY, flush=True)
        from tokenstile.demo.headless import run_demo

        return run_demo()
    from tokenstile.config import load_settings
    from tokenstile.demo.sample_app import SAMPLE_APP_ENV, SampleApp
    from tokenstile.demo.session import DemoSession, open_demo_store
    from tokenstile.kiosk.app import application, dispose

    settings = load_settings(getattr(args, "config", None))
    app = application(sys.argv[:1], locale=settings.kiosk_locale)
    environment = start_demo(auto_touch=bool(os.environ.get(AUTO_TOUCH_ENV)), resource_server=True)
    window: Any = None
    published: DemoSession | None = None
    sample: SampleApp | None = None
    try:
        demo_store = open_demo_store(settings)
        window = build_demo_window(environment, settings, store=demo_store.store)
        published = DemoSession(window.broker, environment.server_url, shared=demo_store.shared)
        published.publish()
        if environment.resource_url is not None and os.environ.get(SAMPLE_APP_ENV) != "off":
            sample = SampleApp(environment.resource_url)
        _print_opening(environment, demo_store, sample)
        _show(app, window, fullscreen=bool(getattr(args, "fullscreen", False)))
        window.kiosk.start()
        if sample is not None and sample.available and demo_store.shared:
            sample.start()
        return _run_window(app, environment, window)
    finally:
        if window is not None:
            window.kiosk.shutdown()
        if published is not None:
            published.withdraw()  # while the service still runs: the session is revoked
        if sample is not None:
            sample.stop()
        if window is not None:
            dispose(window)
        environment.close()
        print("The demo has ended.", flush=True)


def _print_opening(environment: DemoEnvironment, demo_store: Any, sample: Any) -> None:
    from tokenstile.demo.session import other_terminal_lines

    for line in environment.describe():
        print(line)
    shown_app = sample.command if sample is not None and sample.available else None
    for line in other_terminal_lines(demo_store, sample_app=shown_app):
        print(line)
    if sample is not None and not sample.available:
        print(f"The sample desktop app is not here ({sample.script}): it comes with the source.")
    print("Close the window (or press Ctrl+C here) to end the demo.", flush=True)


def _run_window(app: Any, environment: DemoEnvironment, window: Any) -> int:
    """The event loop, with the test hooks; Ctrl+C and SIGTERM end it cleanly."""
    import signal

    from PySide6.QtCore import QTimer

    layout = os.environ.get(LAYOUT_ENV)
    if layout:
        DemoLayout(window, Path(layout))
    script = None
    if os.environ.get(SCRIPT_ENV) == "key":
        script = DemoScript(environment, window)
        QTimer.singleShot(0, script.start)
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: app.quit())
    wake = QTimer()  # lets Python see the signal
    wake.timeout.connect(lambda: None)
    wake.start(200)
    status = int(app.exec())
    wake.stop()
    return status
