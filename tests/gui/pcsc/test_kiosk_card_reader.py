"""The kiosk with the machine's card readers, as ``tokenstile kiosk`` runs it: the
``CardMonitor`` of :meth:`KioskDevices.system` watching real pcscd, the virtual card
served into a vpcd reader. Inserting it starts the card sign-in by itself; pulling it
signs out (and the service refuses the session from then on)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.gui.conftest import CARD_PIN, GuiService
from tests.gui.test_kiosk_flows import ends_and_revokes, signed_in_as, type_pin, wait_screen
from tests.integration.pcsc.conftest import (
    READERS,
    InsertedCard,
    Pcscd,
    card_present,
    reader_lock,
    wait_until,
)
from tokenstile.kiosk.devices import KioskDevices
from tokenstile.kiosk.window import EndReason, Screen
from tokenstile.virtual.vpcd import VpcdCard

pytestmark = pytest.mark.pcsc


def test_a_card_in_a_pcscd_reader_signs_in_by_itself_and_pulling_it_signs_out(
    qtbot: Any, make_kiosk: Any, gui_service: GuiService, pcscd: Pcscd
) -> None:
    alice = gui_service.person()
    reader = READERS[0]
    with reader_lock(0):  # other test runs on this machine use the readers too
        assert wait_until(lambda: not card_present(reader), 10), f"a card stays in {reader}"
        # The machine's card monitor and card opener, heeding the reader held here; no
        # key finder: this is the card's path.
        system = KioskDevices.system(readers=(reader,))
        assert system.card_monitor is not None
        kiosk = make_kiosk(gui_service, devices=dataclasses.replace(system, keys=None))
        assert kiosk.window.current_screen is Screen.SIGN_IN

        card = InsertedCard(VpcdCard(alice.card, reader=0), reader)
        try:
            card.push()
            type_pin(qtbot, kiosk, CARD_PIN)
            signed_in_as(qtbot, kiosk, alice)
            assert kiosk.window.session is not None
            assert kiosk.window.session.factor == "piv"

            ends_and_revokes(qtbot, kiosk, gui_service, card.pull, EndReason.CARD_REMOVED)
            wait_screen(qtbot, kiosk, Screen.SIGN_IN)
        finally:
            card.vpcd.close()
            wait_until(lambda: not card_present(reader), 10)
