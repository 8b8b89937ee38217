"""The kiosk's session in the real OS keychain: gnome-keyring's Secret Service on a private
D-Bus session, read back from outside Python with ``secret-tool``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
from PySide6.QtCore import Qt

from tests.conftest import SecretService
from tests.gui.conftest import GUI_RULES, GuiService
from tests.gui.test_kiosk_flows import enter_code, settled, signed_in_as, type_pin
from tests.unit.virtual.ceremony import PIN as KEY_PIN
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


def test_a_parked_person_is_not_served_to_another_process_until_they_come_back(
    qtbot: Any,
    make_kiosk: Any,
    gui_service: GuiService,
    secret_service: SecretService,
    keychain: KeyringStore,
) -> None:
    """Parking on: the kiosk parks Alice in the keychain; `tokenstile token` in its own
    process says "parked" (exit status 3); her key again, and it prints her token."""
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service, store=keychain, rules=replace(GUI_RULES, park_sessions=True))
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    kiosk.keys.remove()
    settled(qtbot, kiosk)
    sid = json.loads(lookup(secret_service))["claims"]["sid"]

    qtbot.mouseClick(kiosk.window._switch_button, Qt.MouseButton.LeftButton)
    settled(qtbot, kiosk)
    stored = json.loads(lookup(secret_service))
    assert stored["parked_until"]
    assert stored["access"]["access_token"] == ""
    parked = tokenstile_token(secret_service)
    assert parked.returncode == 3, parked
    assert f"Parked: {alice.display_name} stepped away" in parked.stderr
    assert parked.stdout == ""

    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    settled(qtbot, kiosk)
    served = tokenstile_token(secret_service)
    assert served.returncode == 0, served.stderr
    assert jwt.decode(served.stdout.strip(), options={"verify_signature": False})["sid"] == sid


def tokenstile_token(secret_service: SecretService) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("tokenstile")), "token"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **secret_service.env},
    )
