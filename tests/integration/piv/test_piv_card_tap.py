"""The card tap of tap-and-go (issue 17) through real pcscd and vpcd, with the virtual card.

Inside the holder's shift at a kiosk group, the card's card authentication key (slot 9E,
PIN policy "never") signs the service's challenge and the person is in at ``acr`` ``tap``
without the PIN. The kiosk's code reads and signs (``PivCard``, ``tap_with_card``), the
token service judges it (the ASGI app in-process, or a real ``tokenstile server`` for the
kiosk's ``BrokerSignIn``); enrollment goes through ``tokenstile manage piv enroll`` at the
same reader, which enrolls the 9E certificate with the card.

Every test here but the first attacks it: a 9E signature outside the shift, at another
kiosk group, after the shift ended or was revoked, after the card was revoked, replayed,
at another kiosk; a 9E certificate at the PIN login; a 9E signature over a PIN login's
challenge; a card whose 9E key is not the enrolled certificate's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient

from tests.admin_tokens import new_admin_headers
from tests.conftest import ServerProcess, add_user, make_deployment
from tests.integration.pcsc.conftest import READERS, InsertedCard, VpcdSlot
from tests.unit.server.piv_client import HttpPivServer, LoginRefused
from tokenstile.broker import Broker
from tokenstile.cli.main import main
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.devices.errors import PinRequired
from tokenstile.devices.pcsc import open_piv_card
from tokenstile.devices.piv import PivCard, PivSlot
from tokenstile.devices.piv_login import PinRequest, PivChallenge, login_with_card, tap_with_card
from tokenstile.kiosk.service import BrokerSignIn
from tokenstile.protocol.jose import b64url_decode, b64url_encode
from tokenstile.protocol.piv_message import login_message
from tokenstile.server.app import create_app
from tokenstile.server.piv_routes import REFUSED
from tokenstile.server.tap_routes import CARD_TAP_REFUSED
from tokenstile.store.shift_repository import KioskGroups
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_keys import generate_key
from tokenstile.virtual.piv_objects import Algorithm, Slot
from tokenstile.virtual.piv_provision import create_piv_card
from tokenstile.virtual.piv_state import SlotKey

pytestmark = pytest.mark.pcsc

PIN = "123456"
KIOSK = DEFAULT_KIOSK_CLIENT_ID
HOUR = 3600.0


def audit(dep: Deployment, event: str) -> list[dict[str, Any]]:
    return [e for e in dep.store.audit_entries() if e["event"] == event]


def reasons(dep: Deployment, event: str) -> list[str | None]:
    return [e["detail"].get("reason") for e in audit(dep, event)]


def claims(tokens: Mapping[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(
        tokens["access_token"], options={"verify_signature": False}
    )
    return decoded


def ask_pin(request: PinRequest) -> str:
    del request
    return PIN


@dataclass
class TapServer:
    """The kiosk's two card-tap steps over HTTP; keeps what it sent, so a test can send it
    again (a replay) or elsewhere."""

    http: TestClient
    client_id: str = KIOSK
    origin: str = "https://auth.example"
    sent: list[dict[str, Any]] = field(default_factory=list)

    def begin(self, certificate: bytes) -> PivChallenge:
        body = {"certificate": b64url_encode(certificate), "client_id": self.client_id}
        response = self.http.post("/login/tap/piv/challenge", json=body)
        if response.status_code != 200:
            raise LoginRefused(response.status_code, response.json())
        answer = response.json()
        return PivChallenge(
            handle=answer["handle"],
            challenge=b64url_decode(answer["challenge"]),
            expires_in=float(answer["expires_in"]),
        )

    def complete(self, handle: str, signature: bytes) -> Mapping[str, Any]:
        body = {
            "handle": handle,
            "signature": b64url_encode(signature),
            "client_id": self.client_id,
        }
        self.sent.append(body)
        return self.post(body)

    def post(self, body: dict[str, Any]) -> Mapping[str, Any]:
        response = self.http.post("/login/tap/piv", json=body)
        if response.status_code != 200:
            raise LoginRefused(response.status_code, response.json())
        answer: Mapping[str, Any] = response.json()
        return answer


def refusal(call: Callable[[], object]) -> str:
    with pytest.raises(LoginRefused) as caught:
        call()
    assert caught.value.status == 400, caught.value.body
    assert caught.value.body["error"] == "invalid_grant"
    description: str = caught.value.body["error_description"]
    return description


@dataclass
class Ward:
    """The token service in-process (clock at real time: the card's certificates are),
    its default kiosk in the group ``ward-3`` (8-hour shifts), alice's card enrolled
    with its 9A and 9E certificates and inserted in vpcd reader 0."""

    dep: Deployment
    http: TestClient
    clock: FrozenClock
    groups: KioskGroups
    applet: PivCardApplet
    inserted: InsertedCard
    station_output: str

    def card(self) -> PivCard:
        return open_piv_card(READERS[0])

    def full_sign_in(self) -> Mapping[str, Any]:
        """The PIN sign-in with the card (9A): it opens alice's shift at ward-3."""
        card = self.card()
        try:
            return login_with_card(card, HttpPivServer(self.http), ask_pin)
        finally:
            card.close()

    def tap(self, server: TapServer | None = None) -> Mapping[str, Any]:
        """A card tap at ``server`` (default: the ward-3 kiosk): no PIN anywhere."""
        card = self.card()
        try:
            card.logout()  # whatever the last sign-in left, the card holds no PIN now
            return tap_with_card(card, server or TapServer(self.http))
        finally:
            card.close()


@pytest.fixture
def ward(tmp_path: Path, vpcd_slot: VpcdSlot, capsys: pytest.CaptureFixture[str]) -> Iterator[Ward]:
    clock = FrozenClock(time.time())
    dep = make_deployment(f"sqlite:///{tmp_path / 'ward.db'}", clock)
    add_user(dep, "alice")
    groups = KioskGroups(dep.store, clock=clock)
    groups.set_shift_hours("ward-3", 8, by="test")
    groups.assign(KIOSK, "ward-3", by="test")
    applet = create_piv_card(holder="Alice Example")
    inserted = vpcd_slot(applet)
    argv = ["manage", "--db", str(dep.engine.url), "piv", "enroll", "alice"]
    assert main([*argv, "--reader", READERS[0], "--pin", PIN]) == 0
    output = capsys.readouterr().out
    with TestClient(create_app(dep), base_url="https://auth.example") as http:
        yield Ward(dep, http, clock, groups, applet, inserted, output)
    dep.close()


def test_a_card_tap_inside_the_shift_signs_in_without_the_pin(ward: Ward) -> None:
    assert "card authentication key (9E, card tap without PIN): enrolled" in ward.station_output
    [enrolled] = audit(ward.dep, "piv_card_auth_enrolled")
    full = claims(ward.full_sign_in())
    assert (full["acr"], full["amr"]) == ("phrh", ["sc", "pin", "mfa"])
    tapped = claims(ward.tap())
    assert (tapped["sub"], tapped["acr"], tapped["amr"]) == ("alice", "tap", ["sc"])
    assert not ward.applet.pin_verified  # the card signed with no PIN at all
    [done] = audit(ward.dep, "piv_tap")
    assert done["outcome"] == "success"
    assert done["detail"]["card_auth_fingerprint"] == enrolled["detail"]["card_auth_fingerprint"]
    login = audit(ward.dep, "login")[-1]
    assert login["detail"]["tap"] == "ward-3"
    # The session ends with the shift at the latest.
    assert tapped["exp"] <= full["iat"] + 8 * HOUR
    # And the 9A key still wants the PIN: the tap gave the card no PIN-less login.
    card = ward.card()
    try:
        card.logout()
        with pytest.raises(PinRequired):
            card.sign(b"\x00" * 32, slot=PivSlot.AUTHENTICATION)
    finally:
        card.close()


def test_a_card_tap_outside_the_shift_is_refused(ward: Ward) -> None:
    # No PIN sign-in yet: no shift.
    assert refusal(ward.tap).startswith("No shift is open for you at this kiosk group")
    ward.full_sign_in()
    ward.clock.advance(8 * HOUR + 1)  # the shift is over
    assert refusal(ward.tap).startswith("Your shift has ended")
    assert reasons(ward.dep, "tap_refused") == ["no_grant", "expired"]
    # The card itself was fine each time: its rows say so, the shift's say why not.
    assert [e["outcome"] for e in audit(ward.dep, "piv_tap")] == ["success", "success"]
    assert not any(e["detail"].get("tap") for e in audit(ward.dep, "login"))


def test_a_card_tap_at_a_kiosk_of_another_group_is_refused(ward: Ward) -> None:
    other, _ = ward.dep.add_client("ward-4 kiosk", kind="kiosk", audiences=[], scopes=[])
    ward.groups.set_shift_hours("ward-4", 8, by="test")
    ward.groups.assign(other.client_id, "ward-4", by="test")
    ward.full_sign_in()
    message = refusal(lambda: ward.tap(TapServer(ward.http, client_id=other.client_id)))
    assert message.startswith("Your shift is open at another kiosk group")
    [refused] = audit(ward.dep, "tap_refused")
    assert (refused["detail"]["reason"], refused["client_id"]) == ("other_group", other.client_id)


def test_a_card_tap_after_the_shift_was_ended_or_revoked_is_refused(ward: Ward) -> None:
    tokens = ward.full_sign_in()
    ended = ward.http.post(
        "/logout/shift", json={"refresh_token": tokens["refresh_token"], "client_id": KIOSK}
    )
    assert ended.status_code == 200, ended.text
    assert refusal(ward.tap).startswith("Your shift was ended")
    # A new shift, revoked by an administrator's revocation of its session.
    tokens = ward.full_sign_in()
    assert ward.tap()["access_token"]
    revoked = ward.http.post(
        "/admin/sessions/revoke",
        json={"sid": claims(tokens)["sid"]},
        headers=new_admin_headers(ward.dep),
    )
    assert revoked.status_code == 200, revoked.text
    assert refusal(ward.tap).startswith("Your shift was ended")
    assert reasons(ward.dep, "tap_refused") == ["ended", "ended"]


def test_a_card_tap_after_the_card_was_revoked_is_refused(ward: Ward) -> None:
    ward.full_sign_in()
    assert ward.tap()["access_token"]
    fingerprint = audit(ward.dep, "piv_enrolled")[0]["detail"]["fingerprint"]
    assert main(["manage", "--db", str(ward.dep.engine.url), "piv", "revoke", fingerprint]) == 0
    assert refusal(ward.tap) == CARD_TAP_REFUSED
    assert reasons(ward.dep, "piv_tap")[-1] == "revoked"
    # The shift the card opened ended with it, too.
    assert [e["detail"]["reason"] for e in audit(ward.dep, "shift_grant_ended")] == [
        "credential_revoked"
    ]


def test_a_replayed_card_tap_is_refused(ward: Ward) -> None:
    ward.full_sign_in()
    server = TapServer(ward.http)
    assert ward.tap(server)["access_token"]
    [sent] = server.sent
    assert refusal(lambda: server.post(sent)) == CARD_TAP_REFUSED
    # Nor at another kiosk of the same group, before its first use: the challenge is
    # bound to the kiosk that asked for it.
    other, _ = ward.dep.add_client("ward-3 bed 2", kind="kiosk", audiences=[], scopes=[])
    ward.groups.assign(other.client_id, "ward-3", by="test")
    card = ward.card()
    try:
        certificate = card.read_certificate(PivSlot.CARD_AUTHENTICATION)
        challenge = server.begin(certificate.public_bytes(Encoding.DER))
        message = login_message(server.origin, challenge.challenge)
        signature = card.sign(message, slot=PivSlot.CARD_AUTHENTICATION)
    finally:
        card.close()
    elsewhere = TapServer(ward.http, client_id=other.client_id)
    stolen = {"handle": challenge.handle, "signature": b64url_encode(signature)}
    assert refusal(lambda: elsewhere.post({**stolen, "client_id": other.client_id})) == (
        CARD_TAP_REFUSED
    )
    assert reasons(ward.dep, "piv_tap")[-2:] == ["reused", "other_client"]


def test_a_9e_certificate_or_signature_does_not_pass_for_the_pin_login(ward: Ward) -> None:
    ward.full_sign_in()  # a shift is open: only the PIN login is at stake here
    card = ward.card()
    try:
        card.logout()
        card_auth = card.read_certificate(PivSlot.CARD_AUTHENTICATION).public_bytes(Encoding.DER)
        login = HttpPivServer(ward.http)

        def nine_e_signs(challenge: PivChallenge) -> bytes:
            message = login_message(login.origin, challenge.challenge)
            return card.sign(message, slot=PivSlot.CARD_AUTHENTICATION)

        # The 9E certificate at the PIN login, signed by the 9E key: refused.
        begun = login.begin(card_auth)
        assert refusal(lambda: login.complete(begun.handle, nine_e_signs(begun))) == REFUSED
        # The 9A certificate at the PIN login, signed by the 9E key (no PIN): refused.
        nine_a = card.read_certificate(PivSlot.AUTHENTICATION).public_bytes(Encoding.DER)
        begun = login.begin(nine_a)
        assert refusal(lambda: login.complete(begun.handle, nine_e_signs(begun))) == REFUSED
        # A PIN login's challenge, signed by the 9E key, at the tap route: refused.
        begun = login.begin(nine_a)
        stolen = {"handle": begun.handle, "signature": b64url_encode(nine_e_signs(begun))}
        tap = TapServer(ward.http)
        assert refusal(lambda: tap.post({**stolen, "client_id": KIOSK})) == CARD_TAP_REFUSED
    finally:
        card.close()
    assert not ward.applet.pin_verified
    assert [r for r in reasons(ward.dep, "piv_login") if r] == ["key_usage", "bad_signature"]
    assert reasons(ward.dep, "piv_tap") == ["not_a_tap"]
    # A 9E certificate cannot be enrolled as a card's login certificate either.
    assert "key_usage" in reasons(ward.dep, "piv_challenge")


def test_a_card_whose_9e_key_is_not_the_enrolled_certificates_is_refused(ward: Ward) -> None:
    ward.full_sign_in()
    # Someone puts another key in slot 9E and keeps the enrolled certificate.
    ward.applet.state.keys[Slot.CARD_AUTHENTICATION] = SlotKey(
        algorithm=Algorithm.ECCP256, private_key=generate_key(Algorithm.ECCP256)
    )
    assert refusal(ward.tap) == CARD_TAP_REFUSED
    assert reasons(ward.dep, "piv_tap") == ["bad_signature"]


def test_the_station_does_not_enroll_a_9e_certificate_its_key_does_not_match(
    tmp_path: Path, vpcd_slot: VpcdSlot, capsys: pytest.CaptureFixture[str]
) -> None:
    dep = make_deployment(f"sqlite:///{tmp_path / 'station.db'}")
    try:
        add_user(dep, "alice")
        applet = create_piv_card(holder="Alice Example")
        applet.state.keys[Slot.CARD_AUTHENTICATION] = SlotKey(
            algorithm=Algorithm.ECCP256, private_key=generate_key(Algorithm.ECCP256)
        )
        vpcd_slot(applet)
        argv = ["manage", "--db", str(dep.engine.url), "piv", "enroll", "alice"]
        assert main([*argv, "--reader", READERS[0], "--pin", PIN]) == 0
        assert "its key does not match its certificate: not enrolled" in capsys.readouterr().out
        assert audit(dep, "piv_card_auth_enrolled") == []
        assert len(audit(dep, "piv_enrolled")) == 1  # the card itself is enrolled
    finally:
        dep.close()


@pytest.mark.server
@pytest.mark.parametrize("tap_and_go", [True, False])
def test_the_kiosk_tries_the_card_tap_first_then_the_pin(
    tap_and_go: bool,
    vpcd_slot: VpcdSlot,
    server_factory: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    """``BrokerSignIn.login_piv`` against a real server: with ``kiosk_tap_and_go`` on, a
    card inserted inside the shift signs in without the PIN, and a refused tap falls back
    to the PIN with the service's sentence kept; off, the PIN is always asked."""
    db = f"sqlite:///{tmp_path / 'kiosk.db'}"
    server = server_factory(db=db)
    setup = Deployment(load_settings(db=db))
    try:
        add_user(setup, "alice")
        KioskGroups(setup.store, clock=setup.clock).set_shift_hours("ward-3", 8, by="test")
        KioskGroups(setup.store, clock=setup.clock).assign(KIOSK, "ward-3", by="test")
        vpcd_slot(create_piv_card(holder="Alice Example"))
        assert main(["manage", "--db", db, "piv", "enroll", "alice", "--reader", READERS[0]]) == 0
        kiosk = BrokerSignIn(server.base_url, broker=Broker(), tap_and_go=tap_and_go)
        asked: list[int | None] = []

        def pin(request: PinRequest) -> str:
            asked.append(request.retries_left)
            return PIN

        def sign_in() -> dict[str, Any]:
            card = open_piv_card(READERS[0])
            try:
                card.logout()
                grant = kiosk.login_piv(card, pin, cancel=threading.Event())
            finally:
                card.close()
            return claims({"access_token": grant.access_token})

        first = sign_in()  # no shift yet
        assert (first["acr"], len(asked)) == ("phrh", 1)
        if tap_and_go:
            assert kiosk.last_tap is not None
            assert kiosk.last_tap.startswith("No shift is open for you")
        else:
            assert kiosk.last_tap is None
        second = sign_in()  # inside the shift the first one opened
        if tap_and_go:
            assert (second["acr"], second["amr"], len(asked)) == ("tap", ["sc"], 1)
            assert kiosk.last_tap is None
        else:
            assert (second["acr"], len(asked)) == ("phrh", 2)
            assert audit(setup, "piv_tap") == []
        kiosk.close()
    finally:
        setup.close()
