"""`tokenstile kiosk --demo` (what `make demo` runs): the embedded service, the demo people
and their software devices, the demo panel, and the whole program started offscreen."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import free_port
from tests.integration.pcsc.conftest import Pcscd, card_present, pcscd, wait_until
from tests.unit.server.piv_client import HttpPivServer
from tokenstile import paths
from tokenstile.demo.environment import DemoEnvironment, start_demo
from tokenstile.demo.errors import DemoError
from tokenstile.demo.people import CARD_PIN, KEY_PIN
from tokenstile.devices.errors import CardRemoved
from tokenstile.devices.fido2_client import SecurityKeyClient
from tokenstile.devices.pcsc import open_piv_card
from tokenstile.devices.piv_login import PinRequest, login_with_card

__all__ = ["pcscd"]  # real pcscd with vpcd, the fixture of the PC/SC tests

pytestmark = pytest.mark.server


@pytest.fixture
def demo() -> Iterator[DemoEnvironment]:
    environment = start_demo(pcsc=False)
    yield environment
    environment.close()


def _claims(token_response: Any) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token_response["access_token"], options={"verify_signature": False}
    )
    return claims


def _key_login(demo: DemoEnvironment, pins: list[str]) -> httpx.Response:
    [key] = demo.key_source().find()
    client = SecurityKeyClient(key, origin="https://localhost", on_pin=lambda _: pins.pop(0))
    with httpx.Client(base_url=demo.server_url, timeout=10) as http:
        options = http.post("/login/webauthn/options").json()
        credential = client.authenticate(options["publicKey"])
        return http.post(
            "/login/webauthn", json={"handle": options["handle"], "credential": credential}
        )


def test_every_demo_person_signs_in_at_the_embedded_service(demo: DemoEnvironment) -> None:
    assert httpx.get(f"{demo.server_url}/healthz", timeout=5).status_code == 200
    assert [p.username for p in demo.people] == ["alex", "casey", "taylor", "admin"]
    assert demo.folder == paths.data_dir() / "kiosk-demo"  # beside, never in, a deployment

    # The software key: unplugged it is not there; plugged, the tap from the panel
    # approves the login that waits for it.
    assert demo.key_source().find() == []
    demo.plug_key(True)
    assert not demo.tap_key()  # nothing waits: a tap does nothing
    tapped = threading.Thread(
        target=lambda: wait_until(lambda: demo.key_waiting and demo.tap_key(), 10)
    )
    tapped.start()
    answer = _key_login(demo, [KEY_PIN])
    tapped.join()
    assert answer.status_code == 200, answer.text
    assert _claims(answer.json())["sub"] == "alex"

    # The card, in the in-process reader: its certificate comes from the service's CA.
    demo.insert_card()
    card = demo.open_card()
    asked: list[PinRequest] = []

    def ask(request: PinRequest) -> str:
        asked.append(request)
        return "999999" if len(asked) == 1 else CARD_PIN

    with httpx.Client(base_url=demo.server_url, timeout=10) as http:
        tokens = login_with_card(card, HttpPivServer(http), ask)
    assert _claims(tokens)["sub"] == "casey"
    assert [(r.retries_left, r.wrong_pin) for r in asked] == [(3, False), (2, True)]

    # A card pulled mid-flow breaks the exchange as PC/SC does.
    card = demo.open_card()
    demo.pull_card()
    with pytest.raises(CardRemoved):
        card.read_certificate()

    # The one-time codes the panel shows are the ones the service accepts.
    for username in demo.otp_accounts():
        code, left = demo.otp_code(username)
        assert 0 < left <= 30
        assert demo.otp_qr_png(username).startswith(b"\x89PNG")
        answer = httpx.post(
            f"{demo.server_url}/login/totp",
            json={"username": username, "code": code},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
    admin = next(p for p in demo.people if p.is_admin)
    assert admin.username == "admin"


def test_an_unplugged_key_fails_its_login_and_a_fresh_folder_is_refused_only_when_foreign(
    demo: DemoEnvironment, tmp_path: Any
) -> None:
    demo.plug_key(True)
    outcome: list[BaseException] = []

    def unplug_when_waiting() -> None:
        wait_until(lambda: demo.key_waiting, 10)
        demo.plug_key(False)

    pulling = threading.Thread(target=unplug_when_waiting)
    pulling.start()
    try:
        _key_login(demo, [KEY_PIN])
    except Exception as exc:  # the key client's error for a pulled key
        outcome.append(exc)
    pulling.join()
    assert [type(e).__name__ for e in outcome] == ["KeyRemoved"]

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a demo")
    with pytest.raises(DemoError, match="not a kiosk demo"):
        start_demo(foreign, pcsc=False)
    assert (foreign / "notes.txt").exists()


@pytest.mark.pcsc
def test_with_pcscd_the_card_goes_into_a_vpcd_reader(pcscd: Pcscd) -> None:
    demo = start_demo(pcsc=True)
    try:
        assert demo.card_through_pcscd
        assert demo.card_reader in demo.card_hint
        demo.insert_card()
        assert wait_until(lambda: card_present(demo.card_reader), 10)
        card = open_piv_card(demo.card_reader)
        try:
            assert "Casey Cardholder" in card.read_certificate().subject.rfc4514_string()
        finally:
            card.close()
        demo.pull_card()
        assert wait_until(lambda: not card_present(demo.card_reader), 10)
    finally:
        demo.close()


@pytest.fixture(scope="session")
def offscreen() -> None:
    # Session scope: it must come before pytest-qt's session-wide QApplication.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def test_the_demo_panel_drives_the_software_devices(
    offscreen: None, qtbot: Any, demo: DemoEnvironment
) -> None:
    from PySide6.QtCore import Qt

    from tokenstile.demo.panel import DemoPanel

    panel = DemoPanel(demo)
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.tap.isEnabled()
    qtbot.mouseClick(panel.plug, Qt.MouseButton.LeftButton)
    assert demo.key_plugged
    assert panel.plug.text() == "Unplug"
    assert panel.tap.isEnabled()

    answers: list[httpx.Response] = []
    login = threading.Thread(target=lambda: answers.append(_key_login(demo, [KEY_PIN])))
    login.start()
    qtbot.waitUntil(lambda: panel.tap.property("attention") is True, timeout=10_000)
    assert panel.key_state.text() == "Blinking: it waits for a touch."
    qtbot.mouseClick(panel.tap, Qt.MouseButton.LeftButton)
    login.join(10)
    assert [a.status_code for a in answers] == [200]

    qtbot.mouseClick(panel.card, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: demo.card_inserted and panel.card.text() == "Pull card")
    qtbot.mouseClick(panel.card, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not demo.card_inserted and panel.card.text() == "Insert card")

    [taylor, admin] = panel.accounts
    code, _ = demo.otp_code("taylor")
    qtbot.waitUntil(lambda: taylor.code.text().replace(" ", "") == demo.otp_code("taylor")[0])
    assert len(code) == 6
    qtbot.mouseClick(taylor.show_qr, Qt.MouseButton.LeftButton)
    assert taylor.qr.isVisible()
    assert not taylor.qr.pixmap().isNull()
    assert not admin.qr.isVisible()
    for button in (panel.plug, panel.tap, panel.card, taylor.show_qr):
        assert button.accessibleName()


def _run_until(
    proc: subprocess.Popen[str], done: Callable[[str], bool], timeout: float = 60
) -> list[str]:
    """The lines ``proc`` prints until one satisfies ``done`` (or it ends, or time is up)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if done(line):
            break
    return lines


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM (the demo ends cleanly on it); what it printed after that."""
    if proc.poll() is None:
        proc.terminate()
    try:
        rest, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate(timeout=10)
    return rest


def _demo_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    return {**env, **extra}


@pytest.mark.slow
def test_tokenstile_kiosk_demo_starts_offscreen_and_signs_in_with_the_software_key() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokenstile.cli", "kiosk", "--demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_demo_env(QT_QPA_PLATFORM="offscreen", TOKENSTILE_DEMO_SCRIPT="key"),
    )
    try:
        lines = _run_until(proc, lambda line: line.startswith("demo script: signed in"))
        output = "\n".join(lines)
        url = re.search(r"Demo token service: (http://127\.0\.0\.1:\d+)", output)
        assert url is not None, output
        # Every flow is there for a first-time user: who signs in with what, and the PINs.
        for shown in ("alex", "casey", "taylor", "admin", f"PIN {KEY_PIN}", f"PIN {CARD_PIN}"):
            assert shown in output
        assert lines[-1].startswith("demo script: signed in as alex in "), output
        # The embedded service answers, and invites all three kinds of factor.
        factors = httpx.get(f"{url.group(1)}/login/factors", timeout=10)
        assert factors.status_code == 200
        assert set(factors.json()["factors"]) == {"fido2", "piv", "totp"}
    finally:
        rest = _stop(proc)
    assert proc.returncode == 0, rest
    assert "The demo has ended." in rest
    # The demo has ended: its service is gone (its session, wherever kept, with it).
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url.group(1)}/healthz", timeout=2)


def test_without_a_display_the_kiosk_demo_falls_back_to_the_terminal_demo() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokenstile.cli", "kiosk", "--demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_demo_env(TOKENSTILE_PORT=str(free_port())),
    )
    try:
        lines = _run_until(proc, lambda line: line.strip() == "Ready.", timeout=30)
    finally:
        _stop(proc)
    assert lines[0].startswith("There is no display (DISPLAY and WAYLAND_DISPLAY are unset)")
    assert lines[-1] == "Ready.", lines
