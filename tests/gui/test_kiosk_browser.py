"""``tokenstile kiosk --browser URL``: the browser opened at each sign-in with a throwaway
profile, killed by its PID and its profile removed at sign-out. The browser here is a
small executable that records its arguments and stays alive (a real process, in its own
process group, as Chromium would be)."""

from __future__ import annotations

import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt

from tests.conftest import free_port
from tests.gui.conftest import GuiService
from tests.gui.test_kiosk_flows import enter_code, settled, signed_in_as
from tokenstile.config import load_settings
from tokenstile.kiosk.app import start_companions
from tokenstile.kiosk.web_browser import KioskBrowser

URL = "https://records.example/start"


def fake_browser(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that writes its argv (one per line) to a file, then sleeps."""
    record = tmp_path / "argv.txt"
    script = tmp_path / "chromium"
    script.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\n' \"$@\" > {record}.part\n"
        f"mv {record}.part {record}\n"
        "exec sleep 600\n"
    )
    script.chmod(0o755)
    return script, record


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_browser_opens_at_sign_in_and_is_wiped_at_sign_out(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService, tmp_path: Path
) -> None:
    executable, record = fake_browser(tmp_path)
    settings = load_settings(kiosk_browser_path=executable)
    kiosk = make_kiosk(gui_service)
    companions = start_companions(kiosk.window, settings, kiosk.service, URL)
    try:
        browser = companions.browser
        assert browser is not None
        alice = gui_service.person()
        enter_code(qtbot, kiosk, alice.username, alice.code())
        signed_in_as(qtbot, kiosk, alice)
        qtbot.waitUntil(record.exists, timeout=10_000)
        argv = record.read_text().splitlines()
        profile = browser.profile
        pid = browser.pid
        assert profile is not None
        assert pid is not None
        assert f"--app={URL}" in argv
        assert f"--user-data-dir={profile}" in argv
        assert stat.S_IMODE(profile.stat().st_mode) == 0o700
        (profile / "Cookies").write_text("the provider session's cookie")
        assert alive(pid)

        qtbot.mouseClick(kiosk.window._sign_out_button, Qt.MouseButton.LeftButton)
        settled(qtbot, kiosk)
        assert not profile.exists()
        assert not alive(pid)
        assert browser.pid is None
    finally:
        companions.stop()


def test_each_sign_in_gets_a_new_profile(tmp_path: Path) -> None:
    executable, _record = fake_browser(tmp_path)
    browser = KioskBrowser(URL, executable=executable)
    assert browser.open()
    first, first_pid = browser.profile, browser.pid
    assert browser.open()  # another person switched in: the first browser goes first
    assert first is not None
    assert first_pid is not None
    assert not first.exists()
    assert not alive(first_pid)
    assert browser.profile not in (None, first)
    browser.close()


def test_a_missing_browser_is_said_and_the_kiosk_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    browser = KioskBrowser(URL, executable=tmp_path / "no-such-chromium")
    with caplog.at_level(logging.WARNING):
        assert not browser.open()
    assert "missing or not executable" in caplog.text
    assert browser.pid is None
    assert browser.profile is None
    browser.close()


def test_the_kiosk_listens_for_single_sign_on_and_says_when_it_cannot(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService, caplog: pytest.LogCaptureFixture
) -> None:
    """With ``kiosk_sso_port`` the kiosk's broker answers on 127.0.0.1 (sending the
    browser back to its own service); a port another process holds is said, and the
    kiosk goes on without single sign-on."""
    kiosk = make_kiosk(gui_service)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        with caplog.at_level(logging.WARNING):
            held = start_companions(
                kiosk.window, load_settings(kiosk_sso_port=taken), kiosk.service, None
            )
        assert held.listener is None
        assert f"127.0.0.1:{taken} cannot be listened on" in caplog.text
    port = free_port()
    companions = start_companions(
        kiosk.window, load_settings(kiosk_sso_port=port), kiosk.service, None
    )
    try:
        assert companions.listener is not None
        handoff = "A" * 43
        answer = httpx.get(f"http://127.0.0.1:{port}/sso", params={"handoff": handoff})
        assert answer.status_code == 303
        assert answer.headers["location"] == (
            f"{gui_service.base_url}/authorize/sso/continue?handoff={handoff}"
        )
    finally:
        companions.stop()
