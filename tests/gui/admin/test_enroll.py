"""Enrollment of each factor from the console, against a real token service: the software
FIDO2 key (its first PIN set here), the virtual PIV card in-process (its certificate, or a
new key certified by the service's CA), an authenticator app (QR code, one code), and fobs
from a PSKC file. The enrolled key and card then sign an admin in."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from pytestqt.qtbot import QtBot

from tests.gui.admin.conftest import PIV_PIN, Devices, ScriptedDialogs, Service
from tokenstile.devices import DirectConnection, PivCard
from tokenstile.devices.fido2_client import SecurityKeyClient
from tokenstile.devices.piv_setup import CardSetup, on_factory_management_key, set_up_card
from tokenstile.factors.otp import totp_code
from tokenstile.kiosk.admin.console import AdminWindow
from tokenstile.kiosk.admin.enroll import EnrollCardDialog, EnrollKeyDialog
from tokenstile.kiosk.admin.enroll_frame import EnrollDialog
from tokenstile.kiosk.admin.enroll_otp import EnrollAppDialog, ImportPskcDialog, qr_image

PSKC_FILE = Path(__file__).parents[2] / "unit" / "factors" / "data" / "totp-fobs.pskcxml"
KEY_PIN = "2468"
NEW_CARD_PIN = "97531864"


def open_person(qtbot: QtBot, window: AdminWindow, username: str) -> None:
    page = window.people
    with qtbot.waitSignal(page.people_loaded, timeout=10_000):
        page.search.setText(username)
    with qtbot.waitSignal(page.credentials_loaded, timeout=10_000):
        assert page.select_person(username)


def wait_done(qtbot: QtBot, dialog: EnrollDialog) -> None:
    qtbot.waitUntil(lambda: dialog.status.kind in ("success", "error"), timeout=15_000)
    assert dialog.status.kind == "success", dialog.status.text()


def credentials(window: AdminWindow) -> list[tuple[str, str, str]]:
    return [(c.kind, c.label, c.state) for c in window.people.credentials.records()]


def close_and_find(
    qtbot: QtBot, window: AdminWindow, dialog: EnrollDialog, enrolled: tuple[str, str, str]
) -> None:
    """Close the finished dialog; the person's list then shows what was enrolled."""
    with qtbot.waitSignal(window.people.credentials_loaded, timeout=10_000):
        dialog.cancel_button.click()  # now "Close"
    assert enrolled in credentials(window)


def sign_in_with(qtbot: QtBot, window: AdminWindow, device: str, pin: str, holder: str) -> None:
    """Sign out, then sign ``holder`` in with their ``device`` ("key" or "card")."""
    window.sign_out()
    assert window.stack.currentWidget() is window.sign_in
    page = window.sign_in
    if device == "key":
        choice, start, asked = page.key_button, page.key_start, "PIN of your security key"
    else:
        choice, start, asked = page.card_button, page.card_start, "PIN of your card"
    choice.click()
    start.click()
    qtbot.waitUntil(page.pin.isVisible, timeout=10_000)
    assert asked in page.prompt.text()
    page.pin.setText(pin)
    with qtbot.waitSignal(page.signed_in, timeout=10_000):
        page.pin_submit.click()
    assert window.session is not None
    assert window.session.username == holder


def test_enroll_a_security_key_with_its_first_pin_then_sign_in_with_it(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, devices: Devices
) -> None:
    window = admin_window
    holder, _ = service.add_person("keyholder", admin=True)
    open_person(qtbot, window, holder)
    window.people.enroll_key_action.trigger()
    dialog = window.people.dialog
    assert isinstance(dialog, EnrollKeyDialog)
    dialog.label.setText("Blue key")
    dialog.start_button.click()
    # The software key has no PIN: the person chooses one, typed twice.
    qtbot.waitUntil(lambda: dialog.pins.kind == "new-pin", timeout=10_000)
    assert "no PIN yet" in dialog.prompt.text()
    dialog.pins.pin.setText(KEY_PIN)
    dialog.pins.repeat.setText("1357")
    dialog.pins.submit.click()
    assert dialog.status.text() == "The two PINs differ: type them again."
    assert dialog.pins.kind == "new-pin"
    dialog.pins.open_rows("new-pin")
    dialog.pins.pin.setText(KEY_PIN)
    dialog.pins.repeat.setText(KEY_PIN)
    dialog.pins.submit.click()
    wait_done(qtbot, dialog)
    assert dialog.status.text() == f"Enrolled the key “Blue key” for {holder.title()}."
    with SecurityKeyClient(devices.key, origin="https://localhost") as key:
        assert key.info().pin_set
    close_and_find(qtbot, window, dialog, ("fido2", "Blue key", "active"))
    # The holder is an admin: the key (with its new PIN) signs them in.
    sign_in_with(qtbot, window, "key", KEY_PIN, holder)


def test_enroll_the_certificate_on_a_card_then_sign_in_with_the_card(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, devices: Devices
) -> None:
    window = admin_window
    holder, _ = service.add_person("cardholder", admin=True)
    open_person(qtbot, window, holder)
    window.people.enroll_card_action.trigger()
    dialog = window.people.dialog
    assert isinstance(dialog, EnrollCardDialog)
    assert dialog.use_existing.isChecked()
    dialog.label.setText("Badge 7")
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.pins.kind == "card-pin", timeout=10_000)
    assert "(3 tries left)" in dialog.prompt.text()
    dialog.pins.pin.setText("999999")
    dialog.pins.submit.click()
    qtbot.waitUntil(lambda: "Wrong PIN" in dialog.prompt.text(), timeout=10_000)
    assert "(2 tries left)" in dialog.prompt.text()
    dialog.pins.pin.setText(PIV_PIN)
    dialog.pins.submit.click()
    wait_done(qtbot, dialog)
    assert "(its certificate)" in dialog.status.text()
    assert "still has its factory management key" in dialog.status.text()
    close_and_find(qtbot, window, dialog, ("piv", "Badge 7", "active"))
    sign_in_with(qtbot, window, "card", PIV_PIN, holder)


def test_a_card_with_its_own_management_key_is_not_flagged(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, devices: Devices
) -> None:
    window = admin_window
    devices.card.state.management_key = bytes(range(24))  # an issuer's key, not the factory's
    holder, _ = service.add_person("ownkey")
    open_person(qtbot, window, holder)
    window.people.enroll_card_action.trigger()
    dialog = window.people.dialog
    assert isinstance(dialog, EnrollCardDialog)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.pins.kind == "card-pin", timeout=10_000)
    dialog.pins.pin.setText(PIV_PIN)
    dialog.pins.submit.click()
    wait_done(qtbot, dialog)
    assert "(its certificate)" in dialog.status.text()
    assert "factory management key" not in dialog.status.text()


def test_generate_on_a_card_set_up_with_its_key_under_the_pin(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, devices: Devices
) -> None:
    window = admin_window
    station = PivCard(DirectConnection(devices.card))
    station.verify_pin(PIV_PIN)
    assert on_factory_management_key(station)
    set_up_card(station, CardSetup(new_pin=None, puk="block"), pin=PIV_PIN)
    station.logout()
    holder, _ = service.add_person("setupcard")
    open_person(qtbot, window, holder)
    window.people.enroll_card_action.trigger()
    dialog = window.people.dialog
    assert isinstance(dialog, EnrollCardDialog)
    dialog.generate.setChecked(True)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.pins.kind == "card-pin", timeout=10_000)
    dialog.pins.pin.setText(PIV_PIN)
    dialog.pins.submit.click()
    wait_done(qtbot, dialog)
    # The station's configured key no longer works; the key under the PIN does.
    assert "(a new key and certificate)" in dialog.status.text()
    assert "factory management key" not in dialog.status.text()


def test_generate_a_key_on_a_card_and_issue_its_certificate(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, devices: Devices
) -> None:
    window = admin_window
    holder, _ = service.add_person("newcard")
    before = PivCard(DirectConnection(devices.card)).read_certificate()
    open_person(qtbot, window, holder)
    window.people.enroll_card_action.trigger()
    dialog = window.people.dialog
    assert isinstance(dialog, EnrollCardDialog)
    dialog.generate.setChecked(True)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.pins.kind == "card-pin", timeout=10_000)
    dialog.pins.pin.setText(PIV_PIN)
    dialog.pins.submit.click()
    # A factory card is set up on the way: the factory PIN is refused as the new one.
    qtbot.waitUntil(lambda: dialog.pins.kind == "new-card-pin", timeout=10_000)
    assert "still has its factory PIN" in dialog.prompt.text()
    dialog.pins.pin.setText(PIV_PIN)
    dialog.pins.repeat.setText(PIV_PIN)
    dialog.pins.submit.click()
    assert "not the factory PIN" in dialog.status.text()
    assert dialog.pins.kind == "new-card-pin"
    dialog.pins.pin.setText(NEW_CARD_PIN)
    dialog.pins.repeat.setText(NEW_CARD_PIN)
    dialog.pins.submit.click()
    wait_done(qtbot, dialog)
    assert "(a new key and certificate)" in dialog.status.text()
    # This service has no attestation roots, and the card no attestation key.
    assert "Not attested: the station sent no attestation" in dialog.status.text()
    assert "Card set up: new PIN, PUK blocked, random AES192 management key" in (
        dialog.status.text()
    )
    assert "factory management key" not in dialog.status.text()
    after = PivCard(DirectConnection(devices.card)).read_certificate()
    assert after.public_key() != before.public_key()
    assert "Tokenstile PIV Issuing CA" in after.issuer.rfc4514_string()
    cards = httpx.get(
        f"{service.url}/admin/piv/cards",
        params={"username": holder},
        headers={"Authorization": f"Bearer {window.session._grant.access_token}"},  # type: ignore[union-attr]
    ).json()["cards"]
    assert [c["source"] for c in cards] == ["issued"]


def test_set_up_an_authenticator_app_with_a_qr_code_and_one_code(
    qtbot: QtBot, service: Service, admin_window: AdminWindow
) -> None:
    window = admin_window
    holder, _ = service.add_person("apphold")
    open_person(qtbot, window, holder)
    window.people.enroll_app_action.trigger()
    dialog = window.people.dialog
    assert isinstance(dialog, EnrollAppDialog)
    dialog.label.setText("Phone")
    dialog.start_button.click()
    qtbot.waitUntil(dialog.qr.isVisible, timeout=10_000)
    assert dialog.uri is not None
    assert dialog.uri.startswith("otpauth://totp/")
    pixmap = dialog.qr.pixmap()
    assert not pixmap.isNull()
    assert pixmap.toImage() == qr_image(dialog.uri, scale=6)
    secret = parse_qs(urlsplit(dialog.uri).query)["secret"][0]
    assert secret[:4] in dialog.secret.text()
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))

    dialog.code.setText("000000" if totp_code(seed, time.time()) != "000000" else "111111")
    dialog.confirm_button.click()
    qtbot.waitUntil(lambda: dialog.status.kind == "error", timeout=10_000)
    dialog.code.setText(totp_code(seed, time.time()))
    dialog.confirm_button.click()
    wait_done(qtbot, dialog)
    assert dialog.confirmed
    close_and_find(qtbot, window, dialog, ("otp", "Phone", "active"))


def test_an_app_left_unconfirmed_is_revoked(
    qtbot: QtBot, service: Service, admin_window: AdminWindow
) -> None:
    window = admin_window
    holder, _ = service.add_person("appquit")
    open_person(qtbot, window, holder)
    window.people.enroll_app_action.trigger()
    dialog = window.people.dialog
    assert isinstance(dialog, EnrollAppDialog)
    dialog.start_button.click()
    qtbot.waitUntil(dialog.qr.isVisible, timeout=10_000)
    serial = dialog.serial
    dialog.cancel_button.click()

    def revoked() -> bool:
        window.people.load_credentials()
        return any(
            c.ident == serial and c.state == "revoked" for c in window.people.credentials.records()
        )

    qtbot.waitUntil(revoked, timeout=10_000)


def test_import_fobs_from_a_pskc_file_and_hand_one_out(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, dialogs: ScriptedDialogs
) -> None:
    window = admin_window
    holder, _ = service.add_person("fobgetter")
    open_person(qtbot, window, holder)
    dialogs.pskc = PSKC_FILE
    window.people.import_button.click()
    dialog = window.people.dialog
    assert isinstance(dialog, ImportPskcDialog)
    assert dialog.assignee.text() == holder
    dialog.start_button.click()
    qtbot.waitUntil(dialog.report.isVisible, timeout=10_000)
    assert dialog.report.text() == "Imported 2 fobs from 2 key packages."
    assert [f["serial"] for f in dialog.fobs.records()] == ["FW-0001", "FW-0002"]
    assert dialog.fobs.item(0, 1).text() == "FobWorks T8-60"
    assert dialog.fobs.item(0, 3).text() == "not handed out"
    dialog.fobs.selectRow(0)
    dialog.assign_button.click()
    qtbot.waitUntil(lambda: dialog.fobs.item(0, 3).text() == holder, timeout=10_000)
    assert dialog.status.text() == f"Handed FW-0001 to {holder}."
    with qtbot.waitSignal(window.people.credentials_loaded, timeout=10_000):
        dialog.cancel_button.click()
    fobs = [c.ident for c in window.people.credentials.records() if c.kind == "otp"]
    assert "FW-0001" in fobs
    assert "FW-0002" not in fobs
