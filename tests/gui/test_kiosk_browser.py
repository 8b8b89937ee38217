"""``tokenstile kiosk --browser URL``: the browser opened at each sign-in with a throwaway
profile, killed by its PID and its profile removed at sign-out. The browser here is a
small executable that records its arguments and stays alive (a real process, in its own
process group, as Chromium would be)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

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
    stop = start_companions(kiosk.window, settings, kiosk.service, URL)
    try:
        browser = _browser_of(kiosk)
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
        stop()


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


def _browser_of(kiosk: Any) -> KioskBrowser:
    """The KioskBrowser start_companions connected (reached through the signal's slot)."""
    found = [obj for obj in _gc_browsers() if obj.url == URL]
    assert found
    return found[-1]


def _gc_browsers() -> list[KioskBrowser]:
    import gc

    return [obj for obj in gc.get_objects() if isinstance(obj, KioskBrowser)]
