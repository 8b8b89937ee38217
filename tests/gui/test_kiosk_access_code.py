"""A person who lost their key signs in at the kiosk with a temporary access code, typed
into the same code screen as a fob's code, against a real token service."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from tests.gui.conftest import GuiService
from tests.gui.test_kiosk_flows import banner, enter_code, signed_in_as
from tokenstile.kiosk.messages import Severity
from tokenstile.kiosk.window import Screen
from tokenstile.store.access_codes import AccessCodeRepository

WAIT = 20_000


def tac_mode(qtbot: Any, kiosk: Any) -> None:
    """Open the code screen and switch it to a temporary access code."""
    window = kiosk.window
    qtbot.mouseClick(window._sign_in_code, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.current_screen is Screen.CODE, timeout=WAIT)
    entry = window._code
    qtbot.mouseClick(entry.tac_button, Qt.MouseButton.LeftButton)
    assert entry.tac_mode
    assert entry.title.text() == "Enter your temporary access code"


def test_a_temporary_access_code_signs_in_once(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    lost = gui_service.person()
    dep = gui_service.deployment
    code = (
        AccessCodeRepository(dep.store, clock=dep.clock)
        .issue(lost.username, hours=1, uses=1, by="test", origin=None)
        .code
    )
    kiosk = make_kiosk(gui_service)
    tac_mode(qtbot, kiosk)
    enter_code(qtbot, kiosk, lost.username, code.lower())
    signed_in_as(qtbot, kiosk, lost)
    session = kiosk.window.session
    assert session is not None
    kiosk.window.sign_out()
    # The same code again: the kiosk says the code does not match, nothing more.
    tac_mode(qtbot, kiosk)
    enter_code(qtbot, kiosk, lost.username, code)
    qtbot.waitUntil(lambda: kiosk.window.problem is not None, timeout=WAIT)
    assert kiosk.window.problem is not None
    assert kiosk.window.problem.severity is Severity.ERROR
    assert "do not match" in banner(kiosk)
    logins = [
        e
        for e in dep.store.audit_entries()
        if e["event"] == "login" and e["username"] == lost.username and e["factor"] == "tac"
    ]
    assert [e["outcome"] for e in logins] == ["success", "failure"]
