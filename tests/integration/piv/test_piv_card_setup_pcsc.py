"""Card set-up by ``piv enroll --generate``, through real pcscd and vpcd with the virtual card.

A factory card leaves the station with a new PIN, its PUK blocked (or set, by policy)
and a random AES-192 management key stored under the PIN, the way ``ykman piv access
change-management-key --generate --protect`` leaves a YubiKey. OpenSC checks it
independently: ``piv-tool`` no longer authenticates with the factory management key,
``pkcs15-tool`` still reads the new certificate. A set-up that would leave the factory
PIN in place is refused before the card changes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tests.conftest import add_user, make_deployment
from tests.integration.pcsc.conftest import READERS, VpcdSlot, opensc_env
from tokenstile.cli.main import main
from tokenstile.deployment import Deployment
from tokenstile.devices import PukBlocked, WrongPin
from tokenstile.devices.pcsc import open_piv_card
from tokenstile.devices.piv import ManagementKeyAlgorithm
from tokenstile.devices.piv_setup import (
    management_key_is_protected,
    on_factory_management_key,
    protected_management_key,
)
from tokenstile.virtual.piv_objects import Algorithm
from tokenstile.virtual.piv_provision import create_piv_card

pytestmark = pytest.mark.pcsc
__all__ = ["opensc_env"]  # the fixture, shared with the OpenSC tests

PIN, PUK, NEW_PIN, NEW_PUK = "123456", "12345678", "24682468", "87654321"
FACTORY_KEY = "01:02:03:04:05:06:07:08:" * 2 + "01:02:03:04:05:06:07:08"


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Deployment]:
    dep = make_deployment(f"sqlite:///{tmp_path / 'station.db'}")
    add_user(dep, "alice")
    yield dep
    dep.close()


def enroll(dep: Deployment, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    argv = ["manage", "--db", str(dep.engine.url), "piv", "enroll", "alice"]
    code = main([*argv, "--reader", READERS[0], *extra])
    out, err = capsys.readouterr()
    return code, out + err


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


def setup_rows(dep: Deployment) -> list[dict[str, Any]]:
    return [e for e in dep.store.audit_entries() if e["event"] == "piv_card_setup"]


def test_a_factory_card_leaves_the_station_set_up(
    vpcd_slot: VpcdSlot,
    station: Deployment,
    capsys: pytest.CaptureFixture[str],
    opensc_env: dict[str, str],
    tmp_path: Path,
) -> None:
    applet = create_piv_card()
    vpcd_slot(applet)
    assert piv_tool_admin(opensc_env, tmp_path, FACTORY_KEY)  # OpenSC takes it before
    code, text = enroll(station, capsys, "--generate", "--pin", PIN, "--new-pin", NEW_PIN)
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

    card = open_piv_card(READERS[0])
    try:
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
    finally:
        card.close()
    assert applet.state.management_algorithm == Algorithm.AES192

    [row] = setup_rows(station)
    assert row["outcome"] == "success"
    assert row["detail"]["by"] == "tokenstile manage"
    assert row["detail"]["card_guid"]
    assert row["detail"]["steps"] == [
        "pin_changed",
        "puk_blocked",
        "management_key_replaced:AES192",
        "management_key_protected_by_pin",
    ]
    everything = json.dumps(station.store.audit_entries())
    for secret in (NEW_PIN, key.hex(), key.hex().upper()):
        assert secret not in everything

    # The next enrollment of this card reads its management key with the PIN.
    code, text = enroll(station, capsys, "--generate", "--pin", NEW_PIN)
    assert code == 0, text
    assert "card set up" not in text
    assert len(setup_rows(station)) == 1
    code, text = enroll(station, capsys, "--generate")
    assert code == 1
    assert "keeps its management key under its PIN: give --pin" in text


def test_the_set_puk_policy_replaces_the_factory_puk(
    vpcd_slot: VpcdSlot,
    station: Deployment,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOKENSTILE_PIV_PUK_POLICY", "set")
    monkeypatch.setenv("TOKENSTILE_PIV_SETUP_MANAGEMENT_KEY_ALGORITHM", "AES256")
    vpcd_slot(create_piv_card())
    argv = ("--generate", "--pin", PIN, "--new-pin", NEW_PIN)
    code, text = enroll(station, capsys, *argv, "--new-puk", PUK)
    assert code == 1
    assert "not the factory PUK" in text
    code, text = enroll(station, capsys, *argv, "--new-puk", NEW_PUK)
    assert code == 0, text
    [row] = setup_rows(station)
    assert row["detail"]["steps"][:3] == [
        "pin_changed",
        "puk_changed",
        "management_key_replaced:AES256",
    ]
    card = open_piv_card(READERS[0])
    try:
        card.unblock_pin(NEW_PUK, "13571357")  # the new PUK works, the old one is gone
        card.verify_pin("13571357")
        assert len(protected_management_key(card)) == 32
    finally:
        card.close()


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
    vpcd_slot: VpcdSlot,
    station: Deployment,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    message: str,
) -> None:
    vpcd_slot(create_piv_card())
    before = open_piv_card(READERS[0])
    try:
        certificate = before.read_certificate()
    finally:
        before.close()
    code, text = enroll(station, capsys, "--generate", "--pin", PIN, *extra)
    assert code == 1
    assert message in text
    assert setup_rows(station) == []
    assert [e for e in station.store.audit_entries() if e["event"] == "piv_enrolled"] == []
    card = open_piv_card(READERS[0])
    try:
        assert card.read_certificate() == certificate  # no new key, no new certificate
        card.verify_pin(PIN)
        assert on_factory_management_key(card)
        assert not management_key_is_protected(card)
    finally:
        card.close()
