"""The fob tap of tap-and-go (issue 17) through the ASGI app over httpx on a frozen clock:
a TOTP code alone, no username, at a kiosk of a group, checked only against the fobs of
the people on shift there. Every test but the first attacks it: a code outside the shift,
at another group, reused, guessed until the group's bound stops it (the guessed people's
own lockout untouched), matching two people, more people on shift than the bound, a
kiosk with tap-and-go off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import add_user
from tokenstile.clock import FrozenClock
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.factors.otp import hotp_code, totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.server.app import create_app
from tokenstile.store.otp_repository import SqlOtpStore
from tokenstile.store.shift_repository import KioskGroups
from tokenstile.tokens.shifts import TAP_REFUSALS

Json = dict[str, Any]
KIOSK = DEFAULT_KIOSK_CLIENT_ID
HOUR = 3600.0
STEP = 30.0
SEED = b"12345678901234567890"
OTHER_SEED = b"09876543210987654321"


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url="https://auth.example") as client:
        yield client


@pytest.fixture
def otp(deployment: Deployment, clock: FrozenClock) -> OtpService:
    return OtpService(SqlOtpStore(deployment.store), box=deployment.kek, clock=clock)


@pytest.fixture
def groups(deployment: Deployment) -> KioskGroups:
    groups = KioskGroups(deployment.store, clock=deployment.clock)
    groups.set_shift_hours("ward-3", 8, by="test")
    groups.assign(KIOSK, "ward-3", by="test")
    return groups


def person(deployment: Deployment, otp: OtpService, name: str, seed: bytes) -> None:
    add_user(deployment, name)
    otp.enroll_app(name, by="test", seed=seed)


def full_sign_in(http: TestClient, clock: FrozenClock, name: str, seed: bytes) -> Json:
    answer = http.post(
        "/login/totp",
        json={"username": name, "code": totp_code(seed, clock.now()), "client_id": KIOSK},
    )
    assert answer.status_code == 200, answer.text
    tokens: Json = answer.json()
    return tokens


def fob_tap(http: TestClient, code: str, client_id: str = KIOSK) -> Any:
    return http.post("/login/tap/totp", json={"code": code, "client_id": client_id})


def refused(answer: Any) -> str:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_grant"
    description: str = answer.json()["error_description"]
    return description


def claims(tokens: Json) -> Json:
    decoded: Json = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return decoded


def reasons(dep: Deployment) -> list[str]:
    return [e["detail"]["reason"] for e in dep.store.audit_entries() if e["event"] == "tap_refused"]


def test_a_code_alone_inside_the_shift_signs_the_one_match_in(
    http: TestClient, deployment: Deployment, clock: FrozenClock, otp: OtpService, groups: Any
) -> None:
    person(deployment, otp, "alice", SEED)
    person(deployment, otp, "bob", OTHER_SEED)
    full_sign_in(http, clock, "alice", SEED)
    full_sign_in(http, clock, "bob", OTHER_SEED)
    clock.advance(2 * STEP)
    answer = fob_tap(http, totp_code(OTHER_SEED, clock.now()))
    assert answer.status_code == 200, answer.text
    token = claims(answer.json())
    assert (token["sub"], token["acr"], token["amr"]) == ("bob", "tap", ["otp"])
    assert answer.json()["refresh_token_expires_in"] <= 8 * HOUR
    [logged] = [
        e
        for e in deployment.store.audit_entries()
        if e["event"] == "login" and e["detail"].get("tap")
    ]
    assert (logged["username"], logged["detail"]["tap"]) == ("bob", "ward-3")


def test_a_code_outside_the_shift_is_refused(
    http: TestClient, deployment: Deployment, clock: FrozenClock, otp: OtpService, groups: Any
) -> None:
    person(deployment, otp, "alice", SEED)
    # Alice's own good code, but no shift is open: no candidate to match.
    assert refused(fob_tap(http, totp_code(SEED, clock.now()))).startswith(
        "This code matches no one on shift"
    )
    full_sign_in(http, clock, "alice", SEED)
    clock.advance(8 * HOUR + STEP)  # the shift is over
    assert refused(fob_tap(http, totp_code(SEED, clock.now()))).startswith(
        "This code matches no one on shift"
    )
    assert reasons(deployment) == ["fob_no_match", "fob_no_match"]


def test_a_code_at_a_kiosk_of_another_group_is_refused(
    http: TestClient,
    deployment: Deployment,
    clock: FrozenClock,
    otp: OtpService,
    groups: KioskGroups,
) -> None:
    other, _ = deployment.add_client("ward-4 kiosk", kind="kiosk", audiences=[], scopes=[])
    groups.set_shift_hours("ward-4", 8, by="test")
    groups.assign(other.client_id, "ward-4", by="test")
    person(deployment, otp, "alice", SEED)
    full_sign_in(http, clock, "alice", SEED)  # at ward-3
    clock.advance(STEP)
    code = totp_code(SEED, clock.now())
    assert refused(fob_tap(http, code, other.client_id)).startswith(
        "This code matches no one on shift"
    )
    # The same code was never used: at ward-3 it still signs alice in.
    assert fob_tap(http, code).status_code == 200


def test_a_reused_code_is_refused(
    http: TestClient, deployment: Deployment, clock: FrozenClock, otp: OtpService, groups: Any
) -> None:
    person(deployment, otp, "alice", SEED)
    full_sign_in(http, clock, "alice", SEED)
    # The full sign-in's own code cannot be tapped again...
    assert refused(fob_tap(http, totp_code(SEED, clock.now()))) == TAP_REFUSALS["fob_replayed"]
    clock.advance(STEP)
    code = totp_code(SEED, clock.now())
    assert fob_tap(http, code).status_code == 200
    # ...nor can a tap's.
    assert refused(fob_tap(http, code)) == TAP_REFUSALS["fob_replayed"]
    assert reasons(deployment) == ["fob_replayed", "fob_replayed"]


def test_guessing_codes_hits_the_groups_bound_and_locks_no_one(
    http: TestClient, deployment: Deployment, clock: FrozenClock, otp: OtpService, groups: Any
) -> None:
    person(deployment, otp, "alice", SEED)
    full_sign_in(http, clock, "alice", SEED)
    clock.advance(STEP)
    good = totp_code(SEED, clock.now())
    limit = deployment.settings.tap_fob_max_failures
    wrong = [f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" != good][: limit + 5]
    answers = [refused(fob_tap(http, code)) for code in wrong]
    assert answers[:limit] == [TAP_REFUSALS["fob_no_match"]] * limit
    assert answers[limit:] == [TAP_REFUSALS["fob_limit"]] * 5
    # Past the bound even the right code is not checked at this group...
    assert refused(fob_tap(http, good)) == TAP_REFUSALS["fob_limit"]
    # ...and alice's own lockout counted none of it: her full sign-in works at once.
    [credential] = otp.credentials("alice")
    assert credential.failures == 0
    full_sign_in(http, clock, "alice", SEED)
    # When the window ends, fob taps are taken again.
    clock.advance(deployment.settings.tap_fob_window)
    assert fob_tap(http, totp_code(SEED, clock.now())).status_code == 200
    assert reasons(deployment).count("fob_limit") == 6


def test_a_code_that_matches_two_people_signs_no_one_in(
    http: TestClient, deployment: Deployment, clock: FrozenClock, otp: OtpService, groups: Any
) -> None:
    person(deployment, otp, "alice", SEED)
    person(deployment, otp, "carol", SEED)  # two fobs that show the same codes
    full_sign_in(http, clock, "alice", SEED)
    clock.advance(STEP)
    full_sign_in(http, clock, "carol", SEED)
    clock.advance(STEP)
    assert refused(fob_tap(http, totp_code(SEED, clock.now()))) == TAP_REFUSALS["fob_ambiguous"]


def test_more_people_on_shift_than_the_bound_takes_no_fob_taps(
    http: TestClient, deployment: Deployment, clock: FrozenClock, otp: OtpService, groups: Any
) -> None:
    bound = deployment.settings.tap_fob_max_holders
    for n in range(bound + 1):
        seed = f"seed-of-person-{n:05d}".encode()
        person(deployment, otp, f"p{n}", seed)
        full_sign_in(http, clock, f"p{n}", seed)
    clock.advance(STEP)
    assert (
        refused(fob_tap(http, totp_code(b"seed-of-person-00000", clock.now())))
        == (TAP_REFUSALS["fob_crowded"])
    )


def test_no_fob_tap_at_a_kiosk_without_tap_and_go(
    http: TestClient, deployment: Deployment, clock: FrozenClock, otp: OtpService
) -> None:
    person(deployment, otp, "alice", SEED)
    full_sign_in(http, clock, "alice", SEED)
    clock.advance(STEP)
    assert refused(fob_tap(http, totp_code(SEED, clock.now()))) == TAP_REFUSALS["tap_off"]
    assert reasons(deployment) == ["tap_off"]
    bad = http.post("/login/tap/totp", json={"client_id": KIOSK})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_request"


def test_a_person_the_otp_lockout_delays_and_a_hotp_fob_are_no_candidates(
    http: TestClient, deployment: Deployment, clock: FrozenClock, otp: OtpService, groups: Any
) -> None:
    person(deployment, otp, "alice", SEED)
    full_sign_in(http, clock, "alice", SEED)
    clock.advance(STEP)
    for _ in range(deployment.settings.otp_delay_after):  # alice's own lockout delays her
        wrong = http.post(
            "/login/totp", json={"username": "alice", "code": "000000", "client_id": KIOSK}
        )
        assert wrong.status_code == 400
    assert refused(fob_tap(http, totp_code(SEED, clock.now()))) == TAP_REFUSALS["fob_no_match"]
    # A HOTP fob opens a shift with its code and the username, but is never tapped with:
    # its look-ahead window would multiply a guesser's odds again.
    add_user(deployment, "dave")
    otp.enroll_hotp("dave", OTHER_SEED, by="test", counter=0)
    first = http.post(
        "/login/totp",
        json={"username": "dave", "code": hotp_code(OTHER_SEED, 1), "client_id": KIOSK},
    )
    assert first.status_code == 200, first.text
    assert refused(fob_tap(http, hotp_code(OTHER_SEED, 2))) == TAP_REFUSALS["fob_no_match"]
