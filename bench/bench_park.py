"""Park -> resume at the kiosk (issue 17), measured from the device event.

Run (a real X server, as on a kiosk; without a display it falls back to offscreen)::

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python bench/bench_park.py

The kiosk window with ``kiosk_park_sessions`` on, over the demo's embedded token service
and the demo's software key (it approves touches at once). Each round: the person is
parked (*Switch user*), then the key is handed to the window (what the key watcher does
when a key appears: the device event) and the clock runs until the signed-in screen
shows their resumed session (the same ``sid``, checked), the PIN typing excluded (set
the moment the pad asks). Baseline in the same run: the same window, a fresh sign-in
from the key handed over to the signed-in screen (nobody parked). Two warm-up rounds of
each. The broker keeps the session in its encrypted file (headless: no desktop keychain).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import machine, today  # noqa: E402


def measure(environment: Any, runs: int) -> dict[str, list[float]]:
    from PySide6.QtCore import QEventLoop, QTimer

    from tokenstile.broker import Broker
    from tokenstile.broker.memory_store import MemorySessionStore
    from tokenstile.demo.people import KEY_PIN
    from tokenstile.kiosk.app import application, dispose
    from tokenstile.kiosk.devices import KioskDevices
    from tokenstile.kiosk.rules import KioskRules
    from tokenstile.kiosk.service import BrokerSignIn
    from tokenstile.kiosk.widgets import PinPad
    from tokenstile.kiosk.window import KioskWindow, Screen

    application(sys.argv[:1])
    environment.key.touch.auto = True
    environment.plug_key(True)
    [key] = environment.key_source().find()
    service = BrokerSignIn(environment.server_url, broker=Broker(store=MemorySessionStore()))
    rules = KioskRules(idle_lock_seconds=0, park_sessions=True)
    window = KioskWindow(service, KioskDevices(), rules=rules)
    window.resize(1280, 800)
    window.show()
    window.start()
    pad = window.findChild(PinPad)
    typing = [0.0]

    def on_screen(screen: object) -> None:
        if screen is Screen.PIN:
            began = time.perf_counter()
            pad.field.setText(KEY_PIN)
            pad.submit()
            typing[0] += time.perf_counter() - began

    window.screen_changed.connect(on_screen)

    def wait_for(condition: Any, timeout: float = 30.0) -> None:
        """Run Qt's own event loop (no busy polling) until ``condition`` holds."""
        loop = QEventLoop()
        check = QTimer()
        check.timeout.connect(loop.quit)
        check.start(1)
        window.screen_changed.connect(loop.quit)
        end = time.monotonic() + timeout
        try:
            while not condition():
                if time.monotonic() > end:
                    raise RuntimeError(f"the kiosk did not get there: {window.problem}")
                loop.exec()
        finally:
            window.screen_changed.disconnect(loop.quit)
            check.stop()

    def key_to_signed_in() -> float:
        typing[0] = 0.0
        began = time.perf_counter()
        window.sign_in_with_key(key)  # the device event
        wait_for(lambda: window.current_screen is Screen.SIGNED_IN and not window.busy)
        return time.perf_counter() - began - typing[0]

    def settle() -> None:
        wait_for(lambda: not window.busy)
        window.wait_for_worker(10_000)

    wait_for(lambda: bool(window._invitation.text()))
    fresh: list[float] = []
    resumed: list[float] = []
    try:
        for index in range(runs + 2):
            took = key_to_signed_in()
            if index >= 2:
                fresh.append(took)
            window.sign_out()
            settle()
        key_to_signed_in()
        settle()
        info = window.session
        if info is None:
            raise RuntimeError("the first sign-in did not happen")
        for index in range(runs + 2):
            window.park()
            settle()
            wait_for(lambda: bool(window.parked))
            took = key_to_signed_in()
            back = window.session
            if back is None or back.sid != info.sid:
                raise RuntimeError("the key opened a new session instead of resuming")
            settle()
            if index >= 2:
                resumed.append(took)
    finally:
        window.sign_out()
        window.shutdown()
        window.close()
        dispose(window)
    environment.plug_key(False)
    return {"fresh": fresh, "resumed": resumed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="rounds measured of each")
    args = parser.parse_args()
    if not any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    platform = os.environ.get("QT_QPA_PLATFORM") or ("xcb" if os.environ.get("DISPLAY") else "?")

    from tokenstile.demo.environment import start_demo

    with tempfile.TemporaryDirectory(prefix="tokenstile-bench-park-") as scratch:
        os.environ["TOKENSTILE_DATA_DIR"] = str(Path(scratch) / "data")
        os.environ["TOKENSTILE_RUNTIME_DIR"] = str(Path(scratch) / "run")
        environment = start_demo(pcsc=False)
        try:
            result = measure(environment, args.runs)
        finally:
            environment.close()

    ms = 1000.0

    def line(name: str, values: list[float]) -> str:
        p90 = sorted(values)[int(len(values) * 0.9) - 1]
        return (
            f"{name}: {statistics.median(values) * ms:.0f} ms median, {p90 * ms:.0f} ms p90 "
            f"of {len(values)}"
        )

    print(f"Machine: {machine()}; Qt platform {platform}; {today()}")
    print(line("key to signed in, resuming a parked session (goal < 300 ms)", result["resumed"]))
    print(line("key to signed in, a fresh sign-in (baseline)", result["fresh"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
