"""The whole PIV login through real pcscd and vpcd, with the virtual card.

The kiosk's code reads the card (pyscard, ``PivCard``), the token service judges it:
real ``tokenstile server`` processes (two replicas on one database: the login begun at
one is finished at the other, on SQLite and PostgreSQL) or the ASGI app in-process.
Enrollment goes through ``tokenstile manage piv enroll`` at the same reader, and the
card is served by ``tokenstile virtual-card serve`` in its own process.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import ServerProcess, add_user
from tests.integration.pcsc.conftest import (
    READERS,
    VpcdSlot,
    card_present,
    reader_lock,
    wait_until,
)
from tests.unit.server.piv_client import HttpPivServer, LoginRefused
from tokenstile.cli.main import main
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.devices import CardRemoved, PinBlocked
from tokenstile.devices.monitor import CardMonitor
from tokenstile.devices.pcsc import PcscConnection, open_piv_card
from tokenstile.devices.piv_login import PinRequest, end_session_on_removal, login_with_card
from tokenstile.server.app import create_app
from tokenstile.server.piv_routes import REFUSED
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_objects import Algorithm
from tokenstile.virtual.piv_provision import create_piv_card

pytestmark = pytest.mark.pcsc

PIN = "123456"


def pins(
    *typed: str, on_ask: Callable[[PinRequest], None] | None = None
) -> tuple[list[PinRequest], Any]:
    shown: list[PinRequest] = []
    queue_ = list(typed)

    def ask(request: PinRequest) -> str:
        shown.append(request)
        if on_ask is not None:
            on_ask(request)
        return queue_.pop(0)

    return shown, ask


def audit(dep: Deployment, event: str) -> list[dict[str, Any]]:
    return [e for e in dep.store.audit_entries() if e["event"] == event]


def enroll(db: str, *extra: str) -> None:
    assert (
        main(["manage", "--db", db, "piv", "enroll", "alice", "--reader", READERS[0], *extra]) == 0
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Deployment, TestClient]]:
    """The token service in-process, its clock at real time (the card's certificate is)."""
    from tests.conftest import make_deployment

    dep = make_deployment(f"sqlite:///{tmp_path / 'app.db'}", FrozenClock(time.time()))
    add_user(dep, "alice")
    with TestClient(create_app(dep), base_url="https://auth.example") as client:
        yield dep, client
    dep.close()


@pytest.mark.server
def test_login_begun_at_one_replica_finished_at_another(
    vpcd_slot: VpcdSlot,
    server_factory: Callable[..., ServerProcess],
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = server_factory(db=db_url)
    # Replicas of one service share its issuer: the origin the card's signature names.
    second = server_factory(db=db_url, issuer=first.settings.issuer_url())
    setup = Deployment(load_settings(db=db_url))
    try:
        add_user(setup, "alice")
        vpcd_slot(create_piv_card(holder="Alice Example"))
        enroll(db_url, "--pin", PIN)  # the enrollment station, at the same reader
        assert "Enrolled a card for alice" in capsys.readouterr().out
        card = open_piv_card(READERS[0])
        try:
            shown, ask = pins("999999", PIN)
            with first.client() as one, second.client() as two:
                tokens = login_with_card(card, HttpPivServer(one, two), ask)
        finally:
            card.close()
        assert [(r.retries_left, r.wrong_pin) for r in shown] == [(3, False), (2, True)]
        access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert (access["sub"], access["amr"], access["acr"]) == (
            "alice",
            ["sc", "pin", "mfa"],
            "phrh",
        )
        assert access["iss"] == first.base_url  # the fleet's one issuer
        [begun] = audit(setup, "piv_challenge")
        [done] = audit(setup, "piv_login")
        [session] = audit(setup, "login")
        assert begun["outcome"] == done["outcome"] == session["outcome"] == "success"
        assert session["detail"]["fingerprint"] == done["detail"]["fingerprint"]
        assert session["detail"]["card_guid"]  # read from the CHUID at enrollment
    finally:
        setup.close()


def test_enroll_with_a_new_key_on_the_card_then_log_in(
    vpcd_slot: VpcdSlot, app: tuple[Deployment, TestClient]
) -> None:
    dep, http = app
    vpcd_slot(create_piv_card(algorithm=Algorithm.RSA2048))
    # A factory card is set up on the way: the holder chooses a new PIN.
    enroll(str(dep.engine.url), "--generate", "--pin", PIN, "--new-pin", "24682468")
    card = open_piv_card(READERS[0])
    try:
        issuer = card.read_certificate().issuer.rfc4514_string()
        tokens = login_with_card(card, HttpPivServer(http), pins("24682468")[1])
    finally:
        card.close()
    assert "Tokenstile PIV Issuing CA" in issuer
    assert tokens["token_type"] == "Bearer"
    [enrolled] = audit(dep, "piv_enrolled")
    assert enrolled["detail"]["source"] == "issued"


def test_card_pulled_between_the_challenge_and_the_signature(
    vpcd_slot: VpcdSlot, app: tuple[Deployment, TestClient]
) -> None:
    dep, http = app
    inserted = vpcd_slot(create_piv_card())
    enroll(str(dep.engine.url))
    card = open_piv_card(READERS[0])
    try:
        _, ask = pins(PIN, on_ask=lambda _: inserted.pull())
        with pytest.raises(CardRemoved) as caught:
            login_with_card(card, HttpPivServer(http), ask)
        assert caught.value.code == "card_removed"
    finally:
        card.close()
    # The challenge was handed out and never answered: no login, no session.
    assert [e["outcome"] for e in audit(dep, "piv_challenge")] == ["success"]
    assert audit(dep, "piv_login") == []
    assert audit(dep, "login") == []
    # Put back, the card signs in.
    inserted.push()
    card = open_piv_card(READERS[0])
    try:
        tokens = login_with_card(card, HttpPivServer(http), pins(PIN)[1])
    finally:
        card.close()
    assert tokens["access_token"]


def test_wrong_pin_until_blocked_then_the_puk(
    vpcd_slot: VpcdSlot, app: tuple[Deployment, TestClient]
) -> None:
    dep, http = app
    vpcd_slot(create_piv_card(pin_retries=3))
    enroll(str(dep.engine.url))
    card = open_piv_card(READERS[0])
    try:
        shown, ask = pins("000000", "111111", "222222")
        with pytest.raises(PinBlocked):
            login_with_card(card, HttpPivServer(http), ask)
        assert [r.retries_left for r in shown] == [3, 2, 1]
        assert card.pin_status().blocked
        card.unblock_pin("12345678", "24682468")
        tokens = login_with_card(card, HttpPivServer(http), pins("24682468")[1])
    finally:
        card.close()
    assert tokens["access_token"]
    # Both attempts got a challenge; only the second was answered.
    assert len(audit(dep, "piv_challenge")) == 2
    assert [e["outcome"] for e in audit(dep, "piv_login")] == ["success"]


def test_malformed_apdus_get_status_words_and_the_card_still_signs_in(
    vpcd_slot: VpcdSlot, app: tuple[Deployment, TestClient]
) -> None:
    dep, http = app
    vpcd_slot(create_piv_card())
    enroll(str(dep.engine.url))
    malformed = {
        "00A4040005A0000003": 0x6700,  # Lc says 5, 4 bytes follow
        "00CB3FFF": 0x6A80,  # GET DATA without a tag list
        "00CB3FFF055C035FC1": 0x6700,  # Lc longer than the data
        "0020008002FFFF": 0x6A80,  # a PIN of 2 bytes
        "00870000": 0x6A80,  # GENERAL AUTHENTICATE without a template
        "0087119A047C028100": 0x6982,  # a signature before the PIN
        "00EE0000": 0x6D00,  # no such instruction
        "00FF0000": 0x6A86,  # SET MANAGEMENT KEY with the wrong P1 P2
        "8020008008313233343536FFFF": 0x6E00,  # a proprietary class
        "0C20008008313233343536FFFF": 0x6882,  # secure messaging
    }
    with PcscConnection(READERS[0]) as connection:
        for apdu, expected in malformed.items():
            response = connection.transmit(bytes.fromhex(apdu))
            assert response.hex().upper() == f"{expected:04X}", apdu
    card = open_piv_card(READERS[0])
    try:
        tokens = login_with_card(card, HttpPivServer(http), pins(PIN)[1])
    finally:
        card.close()
    assert tokens["access_token"]


def test_pulling_the_card_ends_the_session(
    vpcd_slot: VpcdSlot, app: tuple[Deployment, TestClient]
) -> None:
    dep, http = app
    inserted = vpcd_slot(create_piv_card())
    enroll(str(dep.engine.url))
    card = open_piv_card(READERS[0])
    try:
        tokens = login_with_card(card, HttpPivServer(http), pins(PIN)[1])
    finally:
        card.close()
    ended: queue.Queue[str] = queue.Queue()
    with CardMonitor(end_session_on_removal(READERS[0], lambda: ended.put("removed"))) as monitor:
        assert monitor.ready.wait(5)
        inserted.pull()
        assert ended.get(timeout=10) == "removed"
        # The kiosk's GUI thread then revokes the session (RFC 7009).
        revoked = http.post(
            "/revoke", data={"token": tokens["refresh_token"], "client_id": "tokenstile-kiosk"}
        )
        assert revoked.status_code == 200
        inserted.push()
        time.sleep(0.3)
        assert ended.empty()  # once only
    refresh = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "tokenstile-kiosk",
        },
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_virtual_card_serve_command_puts_the_card_into_pcscd(
    pcscd: object, app: tuple[Deployment, TestClient], tmp_path: Path
) -> None:
    dep, http = app
    path = tmp_path / "card.json"
    assert main(["virtual-card", "create", str(path)]) == 0
    reader = READERS[1]
    with reader_lock(1):
        assert wait_until(lambda: not card_present(reader), 10)
        command = [sys.executable, "-m", "tokenstile.cli", "virtual-card", "serve", str(path)]
        process = subprocess.Popen(
            [*command, "--reader", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            assert wait_until(lambda: card_present(reader), 15), "the served card never arrived"
            db = str(dep.engine.url)
            assert main(["manage", "--db", db, "piv", "enroll", "alice", "--reader", reader]) == 0
            card = open_piv_card(reader)
            try:
                tokens = login_with_card(card, HttpPivServer(http), pins("000000", PIN)[1])
            finally:
                card.close()
            assert tokens["access_token"]
        finally:
            process.send_signal(signal.SIGINT)  # Ctrl+C pulls the card out
            try:
                output, _ = process.communicate(timeout=15)
            finally:
                if process.poll() is None:  # it did not stop: leave nothing behind
                    process.kill()
                    process.communicate()
        assert b"Serving the virtual PIV card" in output
        assert b"Traceback" not in output
        assert wait_until(lambda: not card_present(reader), 10)
    # The card's state lives in its file: the wrong PIN was counted, the right one reset it.
    assert PivCardApplet.from_file(path).pin_retries == 3
    assert [e["outcome"] for e in audit(dep, "piv_login")] == ["success"]


def test_an_unknown_card_is_refused_like_a_bad_signature(
    vpcd_slot: VpcdSlot, app: tuple[Deployment, TestClient]
) -> None:
    # The challenge step answers every certificate alike (nobody learns who is
    # enrolled): the PIN is asked, the card signs, and the second step refuses.
    _, http = app
    vpcd_slot(create_piv_card())
    card = open_piv_card(READERS[0])
    try:
        shown, ask = pins(PIN)
        with pytest.raises(LoginRefused) as refused:
            login_with_card(card, HttpPivServer(http), ask)
    finally:
        card.close()
    assert refused.value.body == {"error": "invalid_grant", "error_description": REFUSED}
    assert shown == [PinRequest(retries_left=3)]
