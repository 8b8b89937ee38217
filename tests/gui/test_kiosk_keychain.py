"""The kiosk's session in the real OS keychain: gnome-keyring's Secret Service on a private
D-Bus session, read back from outside Python with ``secret-tool``."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt

from tests.conftest import SecretService
from tests.gui.conftest import GuiService
from tests.gui.test_kiosk_flows import enter_code, settled, signed_in_as
from tokenstile.broker import KeyringStore


def lookup(secret_service: SecretService) -> str:
    """What ``secret-tool`` (libsecret, outside Python) finds for the session item."""
    return secret_service.secret_tool(
        "lookup", "service", "tokenstile", "username", "session"
    ).stdout


def test_signed_in_session_is_in_the_keychain_and_sign_out_wipes_it(
    qtbot: Any,
    make_kiosk: Any,
    gui_service: GuiService,
    secret_service: SecretService,
    keychain: KeyringStore,
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service, store=keychain)
    enter_code(qtbot, kiosk, alice.username, alice.code())
    signed_in_as(qtbot, kiosk, alice)
    settled(qtbot, kiosk)
    stored = json.loads(lookup(secret_service))
    assert stored["server"] == gui_service.base_url
    assert stored["claims"]["sub"] == alice.username
    refresh = stored["refresh_token"]

    qtbot.mouseClick(kiosk.window._sign_out_button, Qt.MouseButton.LeftButton)
    settled(qtbot, kiosk)
    assert lookup(secret_service) == ""
    assert not gui_service.refresh_works(refresh)
