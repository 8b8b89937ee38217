"""Confirm with your key, end to end: ``tokenstile confirm`` as a real subprocess asks the
kiosk (real Qt offscreen, in this process) over its real socket; the person taps the
virtual key and types the PIN in the prompt; the real token service (a ``tokenstile
server`` process) checks the ceremony and issues the confirm token, which a resource
server then introspects once.

The attacks: someone else's key tapped on the signed-in person's kiosk, the prompt
closed, a second app while a prompt is open, nobody signed in, and a reason full of
markup and control characters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import CARD_PIN, GuiService, Kiosk, Person
from tests.gui.test_kiosk_flows import WAIT, settled, signed_in_as, type_pin
from tests.unit.virtual.ceremony import PIN as KEY_PIN
from tokenstile.broker.confirm import ask_kiosk
from tokenstile.broker.errors import ConfirmFailed
from tokenstile.config import load_settings
from tokenstile.kiosk.app import start_companions, start_confirm
from tokenstile.kiosk.confirm import ConfirmDesk, ConfirmPrompt
from tokenstile.kiosk.confirm_channel import ConfirmChannel
from tokenstile.protocol.confirm import socket_path
from tokenstile.store.admin_repository import AdminRepository
from tokenstile.tokens.model import LOCAL_AUDIENCE

REASON = "approve refund #1234"


@pytest.fixture
def confirming(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> Iterator[tuple[Kiosk, ConfirmDesk, Person]]:
    """A kiosk with alice signed in by her key (then taken away), and its confirm desk."""
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    kiosk.keys.present(alice.key)
    type_pin(qtbot, kiosk, KEY_PIN)
    signed_in_as(qtbot, kiosk, alice)
    settled(qtbot, kiosk)
    kiosk.keys.remove()
    desk, channel = start_confirm(kiosk.window, kiosk.service)
    assert isinstance(channel, ConfirmChannel)
    yield kiosk, desk, alice
    channel.stop()
    desk.shutdown()


def confirm_command(*args: str) -> subprocess.Popen[str]:
    """``tokenstile confirm`` in its own process (this user, so the kiosk takes it)."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("tokenstile")), "confirm", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def opened(qtbot: Any, desk: ConfirmDesk) -> ConfirmPrompt:
    qtbot.waitUntil(lambda: desk.prompt is not None, timeout=WAIT)
    prompt = desk.prompt
    assert prompt is not None
    return prompt


def finished(qtbot: Any, proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=30_000)
    out, err = proc.communicate(timeout=10)
    return proc.returncode, out, err


def enter_pin(qtbot: Any, prompt: ConfirmPrompt, pin: str = KEY_PIN) -> None:
    qtbot.waitUntil(prompt.pin.isVisible, timeout=WAIT)
    qtbot.keyClicks(prompt.pin, pin)
    qtbot.mouseClick(prompt.ok_button, Qt.MouseButton.LeftButton)


def confirms(service: GuiService) -> list[dict[str, Any]]:
    return [e for e in service.deployment.store.audit_entries() if e["event"] == "confirm"]


def test_the_command_gets_a_single_use_token_after_a_touch_and_the_pin(
    qtbot: Any,
    gui_service: GuiService,
    confirming: tuple[Kiosk, ConfirmDesk, Person],
) -> None:
    kiosk, desk, alice = confirming
    sid = kiosk.window.session.sid if kiosk.window.session else None
    proc = confirm_command("--reason", REASON, "--json")
    prompt = opened(qtbot, desk)
    # Who asks is the asking process's name; the reason is the app's words, as text.
    assert prompt.heading.text() == "tokenstile wants you to confirm:"
    assert prompt.reason.text() == REASON
    assert prompt.reason.textFormat() is Qt.TextFormat.PlainText
    kiosk.keys.present(alice.key)  # the tap: the prompt has the key, not a new sign-in
    enter_pin(qtbot, prompt)
    status, out, err = finished(qtbot, proc)
    assert status == 0, err
    answer = json.loads(out)
    assert answer["reason"] == REASON
    assert answer["acr"] == "phr"  # the project's software key
    claims = jwt.decode(answer["confirm_token"], options={"verify_signature": False})
    assert claims["sub"] == alice.username
    assert claims["sid"] == sid
    assert claims["confirm"] == {"reason": REASON, "app": "tokenstile"}
    assert claims["auth_time"] == answer["auth_time"]
    # The window kept its session: the tap was not a sign-in or a switch.
    assert kiosk.window.session is not None
    assert kiosk.window.session.sid == sid
    assert not kiosk.window.devices_held
    [row] = [r for r in confirms(gui_service) if r["username"] == alice.username]
    assert row["outcome"] == "success"
    assert row["detail"]["reason"] == REASON
    assert row["detail"]["credential"].startswith("fido2:")
    # A resource server sees it active once, never again.
    rs, secret = gui_service.deployment.add_client(
        f"rs-{alice.username}", kind="resource-server", audiences=[LOCAL_AUDIENCE], scopes=[]
    )
    assert secret is not None

    def introspect() -> dict[str, Any]:
        response = httpx.post(
            f"{gui_service.base_url}/introspect",
            data={"token": answer["confirm_token"]},
            auth=(rs.client_id, secret),
            timeout=10,
        )
        body: dict[str, Any] = response.json()
        return body

    assert introspect()["active"] is True
    assert introspect() == {"active": False}


def test_someone_elses_key_is_refused_and_audited(
    qtbot: Any,
    gui_service: GuiService,
    confirming: tuple[Kiosk, ConfirmDesk, Person],
) -> None:
    kiosk, desk, alice = confirming
    bob = gui_service.person()
    proc = confirm_command("--reason", REASON, "--json")
    prompt = opened(qtbot, desk)
    kiosk.keys.present(bob.key)
    enter_pin(qtbot, prompt)
    status, out, err = finished(qtbot, proc)
    assert status == 1
    assert json.loads(out)["error"] == "refused"
    assert "someone other than the person signed in" in err
    [row] = [r for r in confirms(gui_service) if r["username"] == bob.username]
    assert row["outcome"] == "failure"
    assert row["detail"]["refused"] == "other_person"
    assert row["detail"]["reason"] == REASON
    assert kiosk.window.session is not None
    assert kiosk.window.session.username == alice.username  # bob's tap switched nobody


def test_closing_the_prompt_is_cancelled_for_the_app_and_in_the_audit(
    qtbot: Any,
    gui_service: GuiService,
    confirming: tuple[Kiosk, ConfirmDesk, Person],
) -> None:
    kiosk, desk, alice = confirming
    proc = confirm_command("--reason", REASON, "--json")
    prompt = opened(qtbot, desk)
    # A second app while the prompt is open hears "busy" at once.
    with pytest.raises(ConfirmFailed) as busy:
        ask_kiosk("something else")
    assert busy.value.reason == "busy"
    qtbot.mouseClick(prompt.cancel_button, Qt.MouseButton.LeftButton)
    status, out, err = finished(qtbot, proc)
    assert status == 1
    assert json.loads(out)["error"] == "cancelled"
    assert err.strip() == "tokenstile: The person cancelled the confirmation at the kiosk."
    [row] = [r for r in confirms(gui_service) if r["username"] == alice.username]
    assert row["outcome"] == "failure"
    assert row["detail"] == {"reason": REASON, "app": "tokenstile", "refused": "cancelled"}
    assert desk.prompt is None
    assert not kiosk.window.devices_held


def test_markup_and_control_characters_are_shown_as_plain_text(
    qtbot: Any, confirming: tuple[Kiosk, ConfirmDesk, Person]
) -> None:
    _kiosk, desk, _alice = confirming
    reason = "<b>Pay</b> <img src=x>\x1b[2J\nall\u202e now\u200b"
    proc = confirm_command("--reason", reason)
    prompt = opened(qtbot, desk)
    assert prompt.reason.text() == "<b>Pay</b> <img src=x>[2J all now"
    assert prompt.reason.textFormat() is Qt.TextFormat.PlainText
    prompt.close()  # the window's close button: cancelled too
    status, _out, err = finished(qtbot, proc)
    assert status == 1
    assert "cancelled" in err


def test_nobody_signed_in_no_prompt(qtbot: Any, make_kiosk: Any, gui_service: GuiService) -> None:
    kiosk = make_kiosk(gui_service)
    desk, channel = start_confirm(kiosk.window, kiosk.service)
    assert channel is not None
    try:
        status, out, err = finished(qtbot, confirm_command("--reason", REASON, "--json"))
    finally:
        channel.stop()
        desk.shutdown()
    assert status == 2
    assert json.loads(out)["error"] == "not_signed_in"
    assert err.strip() == "tokenstile: Nobody is signed in at the kiosk."
    assert desk.prompt is None


def test_a_card_inserted_during_the_prompt_confirms_and_signs_nobody_in(
    qtbot: Any,
    gui_service: GuiService,
    confirming: tuple[Kiosk, ConfirmDesk, Person],
) -> None:
    kiosk, desk, alice = confirming
    sid = kiosk.window.session.sid if kiosk.window.session else None
    proc = confirm_command("--reason", REASON, "--json")
    prompt = opened(qtbot, desk)
    kiosk.reader.insert(alice.card)  # the window leaves it to the prompt
    qtbot.waitUntil(prompt.pin.isVisible, timeout=WAIT)
    assert prompt.status.text().startswith("Enter your card's PIN.")
    enter_pin(qtbot, prompt, CARD_PIN)
    status, out, err = finished(qtbot, proc)
    assert status == 0, err
    answer = json.loads(out)
    assert (answer["acr"], answer["amr"]) == ("phrh", ["sc", "pin", "mfa"])
    assert kiosk.window.session is not None
    assert kiosk.window.session.sid == sid
    assert kiosk.window.session_reader is None  # still the key's session, not a card's
    [row] = [r for r in confirms(gui_service) if r["username"] == alice.username]
    assert row["detail"]["credential"].startswith("piv:")


def test_the_card_that_signed_in_confirms_with_its_pin(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService
) -> None:
    alice = gui_service.person()
    kiosk = make_kiosk(gui_service)
    kiosk.reader.insert(alice.card)
    type_pin(qtbot, kiosk, CARD_PIN)
    signed_in_as(qtbot, kiosk, alice)
    settled(qtbot, kiosk)
    desk, channel = start_confirm(kiosk.window, kiosk.service)
    assert channel is not None
    try:
        proc = confirm_command("--reason", REASON)
        answers: list[Any] = []
        desk.answered.connect(answers.append)
        prompt = opened(qtbot, desk)
        # No tap: the card is in the reader already. It still holds the PIN of the
        # sign-in, yet the confirm asks for it afresh (it once confirmed without asking).
        qtbot.waitUntil(lambda: bool(answers) or prompt.pin.isVisible(), timeout=WAIT)
        assert not answers, answers
        enter_pin(qtbot, prompt, CARD_PIN)
        status, out, err = finished(qtbot, proc)
    finally:
        channel.stop()
        desk.shutdown()
    assert status == 0, err
    claims = jwt.decode(out.strip(), options={"verify_signature": False})
    assert (claims["sub"], claims["acr"]) == (alice.username, "phrh")
    assert claims["confirm"]["reason"] == REASON


def test_the_kiosk_serves_confirm_sock_unless_the_setting_says_not(
    make_kiosk: Any, gui_service: GuiService
) -> None:
    kiosk = make_kiosk(gui_service)
    for on in (False, True):
        companions = start_companions(
            kiosk.window, load_settings(kiosk_confirm=on), kiosk.service, None
        )
        try:
            assert (companions.confirm is not None) is on
            assert socket_path().exists() is on
        finally:
            companions.stop()
        assert not socket_path().exists()


def test_four_eyes_a_second_person_with_the_role_confirms_with_their_own_key(
    qtbot: Any,
    gui_service: GuiService,
    confirming: tuple[Kiosk, ConfirmDesk, Person],
) -> None:
    kiosk, desk, alice = confirming
    bob = gui_service.person()
    AdminRepository(gui_service.deployment.store, clock=gui_service.deployment.clock).set_role(
        bob.username, "supervisor", True, by="test", origin=None
    )
    proc = confirm_command("--reason", REASON, "--second-person", "supervisor", "--json")
    prompt = opened(qtbot, desk)
    kiosk.keys.present(alice.key)
    enter_pin(qtbot, prompt)
    qtbot.waitUntil(
        lambda: prompt.status.text().startswith("Now someone with the role supervisor"),
        timeout=WAIT,
    )
    kiosk.keys.present(bob.key)  # alice's key stays ignored: a second pair of eyes
    enter_pin(qtbot, prompt)
    status, out, err = finished(qtbot, proc)
    assert status == 0, err
    answer = json.loads(out)
    assert answer["second_person"] == bob.username
    claims = jwt.decode(answer["confirm_token"], options={"verify_signature": False})
    assert claims["sub"] == alice.username
    assert claims["confirm"]["second_person"]["role"] == "supervisor"
    rows = [r for r in confirms(gui_service) if r["username"] in (alice.username, bob.username)]
    assert [(r["username"], r["detail"]["stage"]) for r in rows] == [
        (alice.username, "first"),
        (bob.username, "second"),
    ]
    assert kiosk.window.session is not None
    assert kiosk.window.session.username == alice.username
