"""Card set-up by ``piv enroll --generate``, through real pcscd and vpcd with the virtual card.

A factory card leaves the station with a new PIN, its PUK blocked (or set, by policy)
and a random AES-192 management key stored under the PIN, the way ``ykman piv access
change-management-key --generate --protect`` leaves a YubiKey. OpenSC checks it
independently: ``piv-tool`` no longer authenticates with the factory management key,
``pkcs15-tool`` still reads the new certificate. A set-up that would leave the factory
PIN in place is refused before the card changes; one that the card stops part way is
audited for what it did change, and leaves the card on a management key that is known.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.integration.pcsc.conftest import VpcdSlot, opensc_env
from tests.integration.piv.conftest import Station
from tokenstile.devices import PukBlocked, WrongPin
from tokenstile.devices.piv import ManagementKeyAlgorithm
from tokenstile.devices.piv_setup import (
    management_key_is_protected,
    on_factory_management_key,
    protected_management_key,
)
from tokenstile.virtual.apdu import SW, CommandApdu, StatusWordError
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_objects import Algorithm
from tokenstile.virtual.piv_provision import create_piv_card

pytestmark = pytest.mark.pcsc
__all__ = ["opensc_env"]  # the fixture, shared with the OpenSC tests

PIN, PUK, NEW_PIN, NEW_PUK = "123456", "12345678", "24682468", "87654321"
FACTORY_KEY = "01:02:03:04:05:06:07:08:" * 2 + "01:02:03:04:05:06:07:08"


def piv_tool_admin(env: dict[str, str], tmp_path: Path, key: str) -> bool:
    """Whether OpenSC's piv-tool authenticates with management key ``key`` (3DES, 9B)."""
    key_file = tmp_path / "admin.key"
    key_file.write_text(key)
    done = subprocess.run(
        ["/usr/bin/piv-tool", "--reader", "0", "-A", "M:9B:03"],
        env={**env, "PIV_EXT_AUTH_KEY": str(key_file)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0 and "failed" not in (done.stdout + done.stderr).lower()


def test_a_factory_card_leaves_the_station_set_up(
    vpcd_slot: VpcdSlot, station: Station, opensc_env: dict[str, str], tmp_path: Path
) -> None:
    applet = create_piv_card()
    vpcd_slot(applet)
    assert piv_tool_admin(opensc_env, tmp_path, FACTORY_KEY)  # OpenSC takes it before
    code, text = station.enroll("--generate", "--pin", PIN, "--new-pin", NEW_PIN)
    assert code == 0, text
    assert "card set up: pin_changed, puk_blocked, management_key_replaced:AES192" in text

    # OpenSC, independently: the factory management key no longer authenticates, and
    # the new certificate is what pkcs15-tool reads.
    assert not piv_tool_admin(opensc_env, tmp_path, FACTORY_KEY)
    pem = subprocess.run(
        ["/usr/bin/pkcs15-tool", "--reader", "0", "--read-certificate", "01"],
        env=opensc_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    read = x509.load_pem_x509_certificate(pem.encode())
    assert "Tokenstile PIV Issuing CA" in read.issuer.rfc4514_string()

    with station.card() as card:
        assert not on_factory_management_key(card)
        assert management_key_is_protected(card)
        with pytest.raises(WrongPin):
            card.verify_pin(PIN)
        card.verify_pin(NEW_PIN)
        key = protected_management_key(card)
        assert len(key) == 24
        card.authenticate(key, ManagementKeyAlgorithm.AES192)  # the stored key is the key
        with pytest.raises(PukBlocked):
            card.unblock_pin(PUK, "13571357")
    assert applet.state.management_algorithm == Algorithm.AES192

    [row] = station.audit("piv_card_setup")
    assert row["outcome"] == "success"
    assert row["detail"]["by"] == "tokenstile manage"
    assert row["detail"]["card_guid"]
    assert row["detail"]["steps"] == [
        "pin_changed",
        "puk_blocked",
        "management_key_replaced:AES192",
        "management_key_protected_by_pin",
    ]
    everything = json.dumps(station.deployment.store.audit_entries())
    for secret in (NEW_PIN, key.hex(), key.hex().upper()):
        assert secret not in everything

    # The next enrollment of this card reads its management key with the PIN.
    code, text = station.enroll("--generate", "--pin", NEW_PIN)
    assert code == 0, text
    assert "card set up" not in text
    # Its 9E certificate moves to the new enrollment (the same person's card).
    assert "card authentication key (9E, card tap without PIN): enrolled" in text
    assert len(station.audit("piv_card_auth_enrolled")) == 2
    assert len(station.audit("piv_card_setup")) == 1
    code, text = station.enroll("--generate")
    assert code == 1
    assert "keeps its management key under its PIN: give --pin" in text


def test_the_set_puk_policy_replaces_the_factory_puk(
    vpcd_slot: VpcdSlot, station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENSTILE_PIV_PUK_POLICY", "set")
    monkeypatch.setenv("TOKENSTILE_PIV_SETUP_MANAGEMENT_KEY_ALGORITHM", "AES256")
    vpcd_slot(create_piv_card())
    argv = ("--generate", "--pin", PIN, "--new-pin", NEW_PIN)
    code, text = station.enroll(*argv, "--new-puk", PUK)
    assert code == 1
    assert "not the factory PUK" in text
    code, text = station.enroll(*argv, "--new-puk", NEW_PUK)
    assert code == 0, text
    [row] = station.audit("piv_card_setup")
    assert row["detail"]["steps"][:3] == [
        "pin_changed",
        "puk_changed",
        "management_key_replaced:AES256",
    ]
    with station.card() as card:
        card.unblock_pin(NEW_PUK, "13571357")  # the new PUK works, the old one is gone
        card.verify_pin("13571357")
        assert len(protected_management_key(card)) == 32


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "give --new-pin"),
        (("--new-pin", PIN), "not the factory PIN"),
        (("--new-pin", "12ab56"), "6 to 8 digits"),
    ],
    ids=["no-new-pin", "factory-pin-again", "not-digits"],
)
def test_a_set_up_that_would_keep_the_factory_pin_changes_nothing(
    vpcd_slot: VpcdSlot, station: Station, extra: tuple[str, ...], message: str
) -> None:
    vpcd_slot(create_piv_card())
    with station.card() as before:
        certificate = before.read_certificate()
    code, text = station.enroll("--generate", "--pin", PIN, *extra)
    assert code == 1
    assert message in text
    assert station.audit("piv_card_setup") == []
    assert station.audit("piv_enrolled") == []
    with station.card() as card:
        assert card.read_certificate() == certificate  # no new key, no new certificate
        card.verify_pin(PIN)
        assert on_factory_management_key(card)
        assert not management_key_is_protected(card)


class NoNewManagementKeyCard(PivCardApplet):
    """A card that does not know YubiKey's SET MANAGEMENT KEY (another maker's)."""

    def _set_management_key(self, command: CommandApdu, data: bytes) -> bytes:
        raise StatusWordError(SW.INS_NOT_SUPPORTED)


def test_a_set_up_that_stops_part_way_is_audited_and_keeps_a_known_key(
    vpcd_slot: VpcdSlot, station: Station
) -> None:
    vpcd_slot(NoNewManagementKeyCard(create_piv_card().state))
    code, text = station.enroll("--generate", "--pin", PIN, "--new-pin", NEW_PIN)
    assert code == 1
    assert "stopped part way (pin_changed, puk_blocked done)" in text
    # What changed on the card is on record; nothing is enrolled.
    [setup] = station.audit("piv_card_setup")
    assert setup["detail"]["steps"] == ["pin_changed", "puk_blocked"]
    assert station.audit("piv_enrolled") == []
    with station.card() as card:
        card.verify_pin(NEW_PIN)
        # The new key was stored under the PIN before the card refused it; the card does
        # not claim it, and still takes the key everyone knows: it can be set up again.
        assert on_factory_management_key(card)
        assert not management_key_is_protected(card)
