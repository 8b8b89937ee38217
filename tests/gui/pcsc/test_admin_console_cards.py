"""The admin console enrolls smart cards through the machine's card readers: real pcscd,
the virtual card served into a vpcd reader, and a real ``tokenstile server`` that trusts
one test maker's attestation root and requires attestation (``piv_require_attestation``).

The console asks the card to attest its key and sends what it answered; the service
judges it and the dialog shows the verdict. A factory card on the generate path is set
up on the way (the factory PIN refused, a new PIN typed twice, the PUK blocked or set, a
random management key under the PIN) and the service records it. A card that refuses
the attestation instruction enrolls nothing, and its PIN and management key stay as
they were.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from tests.conftest import free_port, start_server
from tests.gui.admin.conftest import (
    PIV_PIN,
    ScriptedDialogs,
    Service,
    admin_window,
    dialogs,
    window,
)
from tests.gui.admin.test_enroll import open_person, wait_done
from tests.integration.pcsc.conftest import READERS, VpcdSlot, vpcd_slot
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.devices import PukBlocked, WrongPin
from tokenstile.devices.pcsc import open_piv_card
from tokenstile.devices.piv import PivCard
from tokenstile.devices.piv_setup import (
    management_key_is_protected,
    on_factory_management_key,
    protected_management_key,
)
from tokenstile.devices.security_keys import KeyFinder
from tokenstile.kiosk.admin.console import AdminWindow
from tokenstile.kiosk.admin.enroll import EnrollCardDialog
from tokenstile.kiosk.admin.environment import AdminDevices, CardAdministration
from tokenstile.virtual.apdu import SW, CommandApdu, StatusWordError
from tokenstile.virtual.piv_attestation import AttestationAuthority
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_provision import create_piv_card

pytestmark = pytest.mark.pcsc
__all__ = ["ScriptedDialogs", "admin_window", "dialogs", "vpcd_slot", "window"]

MAKER = AttestationAuthority.create("Console Test Card Maker Root")
NEW_PIN, NEW_PUK, FACTORY_PUK = "86429753", "31415926", "12345678"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A token service that trusts MAKER's attestation root only, and requires it."""
    folder = tmp_path_factory.mktemp("attesting-service")
    roots = folder / "maker.pem"
    roots.write_bytes(MAKER.pem())
    port = free_port()
    settings = load_settings(
        db=f"sqlite:///{folder / 'ts.db'}",
        kek_file=folder / "kek.key",
        port=port,
        issuer=f"http://127.0.0.1:{port}",
        piv_attestation_roots=[roots],
        piv_require_attestation=True,
    )
    deployment = Deployment(settings)
    deployment.init()
    server = start_server(
        settings,
        folder / "server.log",
        {
            "TOKENSTILE_PIV_ATTESTATION_ROOTS": json.dumps([str(roots)]),
            "TOKENSTILE_PIV_REQUIRE_ATTESTATION": "true",
        },
    )
    try:
        yield Service(server=server, settings=settings, deployment=deployment)
    finally:
        server.stop()
        deployment.close()


@dataclass
class ReaderDevices:
    """The console's devices as ``tokenstile admin`` has them: the card in vpcd reader 0
    through pcscd (no security key here)."""

    cards: CardAdministration

    def admin_devices(self) -> AdminDevices:
        return AdminDevices(
            key_finder=KeyFinder([]),
            open_card=lambda: open_piv_card(READERS[0], exclusive=True),
            cards=self.cards,
        )


@pytest.fixture
def devices(request: pytest.FixtureRequest) -> ReaderDevices:
    """The default card administration, or a test's (``@pytest.mark.parametrize`` with
    ``indirect``)."""
    return ReaderDevices(cards=getattr(request, "param", CardAdministration()))


def audit(service: Service, event: str, username: str) -> list[dict[str, Any]]:
    return [
        e
        for e in service.deployment.store.audit_entries()
        if e["event"] == event and e["username"] == username
    ]


def start_enrollment(
    qtbot: QtBot, window: AdminWindow, holder: str, *, generate: bool
) -> EnrollCardDialog:
    """The card dialog for ``holder``, started, its PIN typed."""
    open_person(qtbot, window, holder)
    window.people.enroll_card_action.trigger()
    dialog = window.people.dialog
    assert isinstance(dialog, EnrollCardDialog)
    dialog.generate.setChecked(generate)
    dialog.use_existing.setChecked(not generate)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.pins.kind == "card-pin", timeout=15_000)
    dialog.pins.pin.setText(PIV_PIN)
    dialog.pins.submit.click()
    return dialog


def choose_twice(qtbot: QtBot, dialog: EnrollCardDialog, kind: str, value: str) -> None:
    qtbot.waitUntil(lambda: dialog.pins.kind == kind, timeout=15_000)
    dialog.pins.pin.setText(value)
    dialog.pins.repeat.setText(value)
    dialog.pins.submit.click()


def reader_card() -> PivCard:
    return open_piv_card(READERS[0])


def test_the_console_sets_up_a_factory_card_and_enrolls_its_attested_key(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, vpcd_slot: VpcdSlot
) -> None:
    vpcd_slot(create_piv_card(attestation=MAKER))
    holder, _ = service.add_person("attested")
    dialog = start_enrollment(qtbot, admin_window, holder, generate=True)

    # The factory PIN is refused as the new one, and the two entries must agree.
    qtbot.waitUntil(lambda: dialog.pins.kind == "new-card-pin", timeout=15_000)
    assert "still has its factory PIN" in dialog.prompt.text()
    dialog.pins.pin.setText(PIV_PIN)
    dialog.pins.repeat.setText(PIV_PIN)
    dialog.pins.submit.click()
    assert "not the factory PIN" in dialog.status.text()
    dialog.pins.pin.setText(NEW_PIN)
    dialog.pins.repeat.setText("86429754")
    dialog.pins.submit.click()
    assert dialog.status.text() == "The two PINs differ: type them again."
    choose_twice(qtbot, dialog, "new-card-pin", NEW_PIN)
    wait_done(qtbot, dialog)
    text = dialog.status.text()
    assert "(a new key and certificate)" in text
    root = MAKER.certificate.subject.rfc4514_string()
    assert f"Key generated on the card: attested by {root}." in text
    assert "Card set up: new PIN, PUK blocked, random AES192 management key" in text
    assert "factory management key" not in text

    # The card, read through pcscd: set up as `ykman ... --generate --protect` leaves it.
    card = reader_card()
    try:
        assert not on_factory_management_key(card)
        assert management_key_is_protected(card)
        with pytest.raises(WrongPin):
            card.verify_pin(PIV_PIN)
        card.verify_pin(NEW_PIN)
        assert len(protected_management_key(card)) == 24
        with pytest.raises(PukBlocked):
            card.unblock_pin(FACTORY_PUK, "13571357")
        assert "Tokenstile PIV Issuing CA" in card.read_certificate().issuer.rfc4514_string()
    finally:
        card.close()

    # The service judged the attestation and recorded the set-up; no secret in either.
    [enrolled] = audit(service, "piv_enrolled", holder)
    fingerprint = enrolled["detail"]["fingerprint"]
    [verdict] = audit(service, "piv_attestation", holder)
    assert (verdict["outcome"], verdict["detail"]["attestation_root"]) == ("success", root)
    assert verdict["detail"]["fingerprint"] == fingerprint
    [setup] = audit(service, "piv_card_setup", holder)
    assert setup["detail"]["steps"] == [
        "pin_changed",
        "puk_blocked",
        "management_key_replaced:AES192",
        "management_key_protected_by_pin",
    ]
    assert setup["detail"]["fingerprint"] == fingerprint
    assert setup["detail"]["by"].startswith("admin:admin")
    assert NEW_PIN not in json.dumps(service.deployment.store.audit_entries())


@pytest.mark.parametrize(
    "devices", [CardAdministration(puk_policy="set")], indirect=True, ids=["puk-set"]
)
def test_the_set_puk_policy_asks_the_console_for_a_new_puk(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, vpcd_slot: VpcdSlot
) -> None:
    vpcd_slot(create_piv_card(attestation=MAKER))
    holder, _ = service.add_person("newpuk")
    dialog = start_enrollment(qtbot, admin_window, holder, generate=True)
    choose_twice(qtbot, dialog, "new-card-pin", NEW_PIN)
    qtbot.waitUntil(lambda: dialog.pins.kind == "new-puk", timeout=15_000)
    assert dialog.pins.pin_label.text() == "&PUK"
    dialog.pins.pin.setText(FACTORY_PUK)
    dialog.pins.repeat.setText(FACTORY_PUK)
    dialog.pins.submit.click()
    assert "not the factory PUK" in dialog.status.text()
    choose_twice(qtbot, dialog, "new-puk", NEW_PUK)
    wait_done(qtbot, dialog)
    assert "Card set up: new PIN, new PUK" in dialog.status.text()
    card = reader_card()
    try:
        card.unblock_pin(NEW_PUK, "13571357")  # the new PUK works
        card.verify_pin("13571357")
    finally:
        card.close()
    [setup] = audit(service, "piv_card_setup", holder)
    assert setup["detail"]["steps"][:2] == ["pin_changed", "puk_changed"]


@pytest.mark.parametrize("generate", [True, False], ids=["generate", "existing-certificate"])
def test_a_card_that_refuses_to_attest_enrolls_nothing_under_require(
    qtbot: QtBot,
    service: Service,
    admin_window: AdminWindow,
    vpcd_slot: VpcdSlot,
    generate: bool,
) -> None:
    vpcd_slot(create_piv_card())  # no attestation key: INS F9 answers 6D00
    holder, _ = service.add_person("refusing")
    dialog = start_enrollment(qtbot, admin_window, holder, generate=generate)
    if generate:
        # What the set-up will need is asked before the card changes.
        choose_twice(qtbot, dialog, "new-card-pin", NEW_PIN)
    qtbot.waitUntil(lambda: dialog.status.kind in ("success", "error"), timeout=15_000)
    assert dialog.status.kind == "error", dialog.status.text()
    assert "piv_require_attestation refuses it" in dialog.status.text()
    assert audit(service, "piv_enrolled", holder) == []
    assert audit(service, "piv_card_setup", holder) == []
    [refused] = audit(service, "piv_attestation", holder)
    assert refused["outcome"] == "failure"
    assert "the station sent no attestation" in refused["detail"]["reason"]
    # The card was not set up: its factory PIN and management key still work.
    card = reader_card()
    try:
        card.verify_pin(PIV_PIN)
        assert on_factory_management_key(card)
        assert not management_key_is_protected(card)
    finally:
        card.close()


def test_the_attested_certificate_of_a_factory_card_is_enrolled_and_flagged(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, vpcd_slot: VpcdSlot
) -> None:
    vpcd_slot(create_piv_card(attestation=MAKER))
    holder, _ = service.add_person("flagged")
    dialog = start_enrollment(qtbot, admin_window, holder, generate=False)
    wait_done(qtbot, dialog)
    text = dialog.status.text()
    assert "(its certificate)" in text
    assert "Key generated on the card: attested by" in text
    assert "still has its factory management key" in text
    assert "Card set up" not in text
    assert audit(service, "piv_card_setup", holder) == []
    [verdict] = audit(service, "piv_attestation", holder)
    assert verdict["outcome"] == "success"


class NoNewManagementKeyCard(PivCardApplet):
    """A card that does not know YubiKey's SET MANAGEMENT KEY (another maker's)."""

    def _set_management_key(self, command: CommandApdu, data: bytes) -> bytes:
        raise StatusWordError(SW.INS_NOT_SUPPORTED)


def test_a_set_up_that_fails_revokes_the_certificate_just_issued(
    qtbot: QtBot, service: Service, admin_window: AdminWindow, vpcd_slot: VpcdSlot
) -> None:
    vpcd_slot(NoNewManagementKeyCard(create_piv_card(attestation=MAKER).state))
    holder, _ = service.add_person("halfsetup")
    dialog = start_enrollment(qtbot, admin_window, holder, generate=True)
    choose_twice(qtbot, dialog, "new-card-pin", NEW_PIN)
    qtbot.waitUntil(lambda: dialog.status.kind in ("success", "error"), timeout=15_000)
    assert dialog.status.kind == "error", dialog.status.text()
    assert "stopped part way (pin_changed, puk_blocked done)" in dialog.status.text()
    [enrolled] = audit(service, "piv_enrolled", holder)
    [revoked] = audit(service, "piv_revoked", holder)
    assert revoked["detail"]["fingerprint"] == enrolled["detail"]["fingerprint"]
    # What did change on the card before it refused is on record, before the revocation.
    [setup] = audit(service, "piv_card_setup", holder)
    assert setup["detail"]["steps"] == ["pin_changed", "puk_blocked"]
    assert setup["id"] < revoked["id"]
    # The card refused the new management key: it keeps the one that is known, and does
    # not claim a key stored under its PIN.
    card = reader_card()
    try:
        assert on_factory_management_key(card)
        assert not management_key_is_protected(card)
    finally:
        card.close()
