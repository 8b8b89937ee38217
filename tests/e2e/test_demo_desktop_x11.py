"""The whole promise of the demo, driven as a person would, in a real X server.

``tokenstile kiosk --demo`` runs as its own process on an Xvfb display this module starts
(and stops by its PID), with the real keychain (gnome-keyring's Secret Service on a
private D-Bus, ``secret_service`` of ``tests/conftest.py``). It is driven only with real X
events from ``xdotool`` (XTEST): mouse clicks on the demo panel and the kiosk, the PIN
typed on the keyboard without ever clicking its field, F4 for the card. Another process,
``tokenstile token``, must then print the signed-in person's token (verified against the
demo service's JWKS) and be told "Not signed in" (exit 2) after a sign-out and a card
pull; the sample desktop app's window must follow, by its X window title.

Where the buttons are comes from the demo itself (``TOKENSTILE_DEMO_LAYOUT``): widgets
are not X windows, and coordinates written into a test would break with every font.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SecretService
from tokenstile.broker.store import DEMO_SESSION_ITEM, SERVICE, SESSION_ITEM, KeyringStore
from tokenstile.demo.people import CARD_PIN, KEY_PIN
from tokenstile.tokens.model import LOCAL_AUDIENCE
from tokenstile.tokens.verifier import AccessTokenVerifier

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.x11]

SCREEN = (1920, 1080)
SAMPLE_TITLE = "Tokenstile sample app"


@dataclass(frozen=True)
class XServer:
    display: str
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def xserver() -> Iterator[XServer]:
    """Xvfb on a display number it picks itself (``-displayfd``); stopped by its PID."""
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run `make test`, which installs it")
    read, write = os.pipe()
    process = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write),
            "-screen",
            "0",
            f"{SCREEN[0]}x{SCREEN[1]}x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read, "rb") as pipe:
            number = pipe.readline().decode().strip()
        if not number.isdigit():
            pytest.fail("Xvfb did not say which display it took")
        yield XServer(display=f":{number}", process=process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass
class RunningDemo:
    process: subprocess.Popen[str]
    env: dict[str, str]
    layout_path: Path
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                found = re.search(pattern, line)
                if found is not None:
                    return found
            seen = len(self.lines)
            if self.process.poll() is not None and seen == len(self.lines):
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(self.lines))

    def layout(self) -> dict[str, Any]:
        try:
            found: dict[str, Any] = json.loads(self.layout_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"screen": None, "widgets": {}}
        return found

    def wait_screen(self, screen: str, timeout: float = 20) -> dict[str, Any]:
        return _wait(lambda: self.layout()["screen"] == screen, f"the {screen} screen", timeout)

    def xdotool(self, *args: str) -> str:
        answer = subprocess.run(
            ["xdotool", *args],
            env=self.env,
            check=False,
            capture_output=True,
            text=True,
            timeout=20,
        )
        return answer.stdout

    def click(self, name: str) -> None:
        """A real mouse click in the middle of the demo's widget ``name``."""
        widgets = _wait(lambda: self.layout()["widgets"].get(name), f"the {name} button")
        x, y, width, height = widgets
        # One command: XTEST's motion and button events reach the server in this order.
        # (No --sync: xdotool waits for a motion that never comes when already there.)
        self.xdotool("mousemove", str(x + width // 2), str(y + height // 2), "click", "1")

    def type_keys(self, text: str) -> None:
        self.xdotool("type", "--delay", "40", text)

    def key(self, name: str) -> None:
        self.xdotool("key", name)

    def window_titled(self, title: str) -> bool:
        return bool(self.xdotool("search", "--name", f"^{re.escape(title)}$").strip())

    def tokenstile(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``tokenstile ...`` as another process on the machine: no flags, no settings."""
        return subprocess.run(
            [sys.executable, "-m", "tokenstile.cli", *args],
            env=self.env,
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )


def _wait(condition: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


@pytest.fixture
def demo_on_x(
    xserver: XServer, keychain: KeyringStore, secret_service: SecretService, tmp_path: Path
) -> Iterator[RunningDemo]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "PYTHON_KEYRING_BACKEND")
    }
    env.update(secret_service.env)
    env["DISPLAY"] = xserver.display
    env["TOKENSTILE_DEMO_LAYOUT"] = str(tmp_path / "layout.json")
    process = subprocess.Popen(
        [sys.executable, "-m", "tokenstile.cli", "kiosk", "--demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    demo = RunningDemo(process, env, tmp_path / "layout.json")
    demo.reader = threading.Thread(target=demo.read, daemon=True)
    demo.reader.start()
    try:
        yield demo
    finally:
        if process.poll() is None:
            process.terminate()  # by its PID; the demo ends cleanly on SIGTERM
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        demo.reader.join(10)
        if process.stdout is not None:
            process.stdout.close()


def _verified(token: str, issuer: str) -> dict[str, Any]:
    """The token's claims, checked against the demo service's JWKS (fetched here)."""
    jwks = httpx.get(f"{issuer}/jwks.json", timeout=10).json()
    return AccessTokenVerifier(issuer, LOCAL_AUDIENCE, jwks).verify(token)


def test_the_demo_person_reaches_other_programs_driven_by_real_x_events(
    demo_on_x: RunningDemo, keychain: KeyringStore
) -> None:
    demo = demo_on_x
    # A real session of this user is in the keychain before the demo: it must survive it.
    real = KeyringStore(item=SESSION_ITEM)
    real.save('{"a real session": "never touched by the demo"}')

    issuer = demo.wait_line(r"Demo token service: (http://127\.0\.0\.1:\d+)").group(1)
    demo.wait_line(r"Close the window")
    opening = "\n".join(demo.lines)
    assert "Try it from another terminal while someone is signed in here:" in opening
    assert re.search(r"tokenstile token +# their access token", opening), opening
    assert f"item {DEMO_SESSION_ITEM!r}" in opening
    demo.wait_screen("sign_in")
    _wait(lambda: demo.window_titled(f"Not signed in — {SAMPLE_TITLE}"), "the sample app")
    not_yet = demo.tokenstile("token")
    assert (not_yet.returncode, not_yet.stdout) == (2, "")
    assert "Not signed in" in not_yet.stderr

    # The key, with the mouse on the panel; the PIN page takes the keyboard by itself. A
    # click on "Tap the key" while it shows (too early: nothing waits for a touch) must
    # not take the focus away from the PIN field.
    demo.click("plug")
    demo.wait_screen("pin")
    demo.click("tap")
    demo.type_keys(KEY_PIN)
    demo.key("Return")
    _wait(lambda: demo.layout().get("key_waiting"), "the key to wait for a touch")
    demo.click("tap")  # now the key waits for it
    demo.wait_screen("signed_in")

    # Another process on the machine: the token of Alex, signed by the demo service.
    printed = demo.tokenstile("token")
    assert printed.returncode == 0, printed.stderr
    claims = _verified(printed.stdout.strip(), issuer)
    assert claims["sub"] == "alex"
    assert "pin" in claims["amr"], claims
    status = demo.tokenstile("status")
    assert status.returncode == 0, status.stderr
    assert "alex (Alex Keyholder)" in status.stdout
    assert f"item {DEMO_SESSION_ITEM!r}" in status.stdout
    # The sample app: its window shows Alex (by name, from /userinfo) and the resource
    # server accepted the token it sent.
    _wait(lambda: demo.window_titled(f"Alex Keyholder — {SAMPLE_TITLE}"), "the app to see Alex")
    demo.wait_line(r"desktop app: signed in as alex \(Alex Keyholder\); the API says: Hello, alex")

    # Sign out with the mouse: the other process is told at once.
    demo.click("sign_out")
    demo.wait_screen("sign_in")
    gone = _wait(
        lambda: (answer := demo.tokenstile("token")).returncode == 2 and answer,
        "tokenstile token to say Not signed in",
    )
    assert gone.stdout == ""
    assert gone.stderr.startswith("tokenstile: Not signed in")
    _wait(lambda: demo.window_titled(f"Not signed in — {SAMPLE_TITLE}"), "the app to sign out")

    # The card, from the keyboard (F4), its PIN typed; then pulled (F4 again).
    demo.key("F4")
    demo.wait_screen("pin")
    demo.type_keys(CARD_PIN)
    demo.key("Return")
    demo.wait_screen("signed_in")
    card = demo.tokenstile("token")
    assert card.returncode == 0, card.stderr
    assert _verified(card.stdout.strip(), issuer)["sub"] == "casey"
    _wait(lambda: demo.window_titled(f"Casey Cardholder — {SAMPLE_TITLE}"), "the app to see Casey")
    demo.key("F4")
    demo.wait_screen("sign_in")
    pulled = _wait(
        lambda: (answer := demo.tokenstile("token")).returncode == 2 and answer,
        "tokenstile token to say Not signed in after the card was pulled",
    )
    assert "Not signed in" in pulled.stderr
    _wait(lambda: demo.window_titled(f"Not signed in — {SAMPLE_TITLE}"), "the app to sign out")

    # The end: the demo's item is gone, the real session is as it was, nobody is left.
    demo.process.terminate()
    demo.process.wait(30)
    assert demo.process.returncode == 0, "\n".join(demo.lines)
    demo.wait_line(r"The demo has ended\.")
    assert KeyringStore(item=DEMO_SESSION_ITEM).load() is None
    assert real.load() == '{"a real session": "never touched by the demo"}'
    assert not demo.window_titled(f"Not signed in — {SAMPLE_TITLE}")
    lookup = subprocess.run(
        ["secret-tool", "lookup", "service", SERVICE, "username", DEMO_SESSION_ITEM],
        env=demo.env,
        check=False,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert lookup.stdout == ""
