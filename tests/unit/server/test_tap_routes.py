"""Tap-and-go (issue 17) through the ASGI app over httpx, with the software key driven by
python-fido2's real client: the full sign-in that opens a shift, the tap (a touch, no PIN)
that re-enters inside it, and every way a tap is refused: tap-and-go off, no shift, a
kiosk of another group, an expired shift (frozen clock), a shift ended by an admin's
revocation, by the key's revocation, by disabling the person, by sign-out at the end of
the shift, another key than the shift's, a replayed tap, handles of the other ceremony,
and a tap's token at an audience that asks for more than a tap."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.admin_tokens import new_admin_headers
from tests.conftest import add_user, make_deployment
from tests.unit.factors.webauthn_keys import Kiosk
from tests.unit.server.test_webauthn_routes import enroll
from tokenstile.clock import FrozenClock
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.server.app import create_app
from tokenstile.store import schema as t
from tokenstile.store.shift_repository import KioskGroups
from tokenstile.tokens.model import AudiencePolicy, AuditEvent, KioskShift
from tokenstile.tokens.shifts import TapAccepted

Json = dict[str, Any]
KIOSK = DEFAULT_KIOSK_CLIENT_ID
HOUR = 3600.0
POLICY_CACHE_SECONDS = 10  # tokens.minting.AccessTokenMinter's default
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url="https://auth.example") as client:
        yield client


@pytest.fixture
def admin(deployment: Deployment) -> dict[str, str]:
    return new_admin_headers(deployment)


@pytest.fixture
def groups(deployment: Deployment) -> KioskGroups:
    return KioskGroups(deployment.store, clock=deployment.clock)


@pytest.fixture
def ward(groups: KioskGroups) -> str:
    """The default kiosk in the group ``ward-3`` with an 8-hour shift."""
    groups.set_shift_hours("ward-3", 8, by="test")
    groups.assign(KIOSK, "ward-3", by="test")
    return "ward-3"


@pytest.fixture
def alice(http: TestClient, admin: dict[str, str], deployment: Deployment) -> Kiosk:
    add_user(deployment, "alice")
    key = Kiosk()
    enroll(http, admin, key)
    return key


def full_sign_in(http: TestClient, key: Kiosk, client_id: str = KIOSK) -> Json:
    begun = http.post("/login/webauthn/options").json()
    answer = http.post(
        "/login/webauthn",
        json={
            "handle": begun["handle"],
            "credential": key.authenticate(begun["publicKey"]),
            "client_id": client_id,
        },
    )
    assert answer.status_code == 200, answer.text
    tokens: Json = answer.json()
    return tokens


def tap_options(http: TestClient, client_id: str = KIOSK) -> Json:
    answer = http.post("/login/tap/options", json={"client_id": client_id})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body: Json = answer.json()
    return body


def tap_body(http: TestClient, key: Kiosk, client_id: str = KIOSK) -> Json:
    options = tap_options(http, client_id)
    assert options["tap_and_go"] is True
    prompts = len(key.pin_prompts)
    credential = key.authenticate(options["publicKey"])
    assert len(key.pin_prompts) == prompts, "a tap never asks for the PIN"
    return {"handle": options["handle"], "credential": credential, "client_id": client_id}


def tap(http: TestClient, key: Kiosk, client_id: str = KIOSK) -> Any:
    return http.post("/login/tap/webauthn", json=tap_body(http, key, client_id))


def refused(answer: Any) -> str:
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_grant"
    description: str = answer.json()["error_description"]
    return description


def claims(token: str) -> Json:
    decoded: Json = jwt.decode(token, options={"verify_signature": False})
    return decoded


def events(dep: Deployment, event: str) -> list[Json]:
    return [e for e in dep.store.audit_entries() if e["event"] == event]


def grants(dep: Deployment) -> list[Any]:
    with dep.engine.connect() as conn:
        return list(conn.execute(select(t.shift_grants)).all())


def set_audience(dep: Deployment, clock: FrozenClock, policy: AudiencePolicy) -> None:
    dep.store.set_audience(policy, at=clock.now(), audit=AuditEvent("audience_set", "info"))
    clock.advance(POLICY_CACHE_SECONDS + 1)  # the service's cached policies go stale


def refusal_reasons(dep: Deployment) -> list[str]:
    return [e["detail"]["reason"] for e in events(dep, "tap_refused")]


# -- the way it should work ---------------------------------------------------------------------


def test_a_full_sign_in_opens_a_shift_and_a_touch_re_enters_inside_it(
    http: TestClient, deployment: Deployment, clock: FrozenClock, alice: Kiosk, ward: str
) -> None:
    full_sign_in(http, alice)
    [grant] = grants(deployment)
    assert (grant.kiosk_group, grant.expires_at) == (ward, clock.now() + 8 * HOUR)
    assert grant.credential.startswith("fido2:")
    [opened] = events(deployment, "shift_grant")
    assert (opened["username"], opened["detail"]["group"]) == ("alice", ward)
    clock.advance(2 * HOUR)
    answer = tap(http, alice)
    assert answer.status_code == 200, answer.text
    token = claims(answer.json()["access_token"])
    assert token["acr"] == "tap"
    assert token["amr"] == ["swk", "user"]  # enrolled without attestation: not hardware
    assert token["sub"] == claims(answer.json()["access_token"])["sub"]
    # The tap's session ends with the shift at the latest, whatever the session lifetime.
    assert answer.json()["refresh_token_expires_in"] <= 6 * HOUR
    # A tap renews nothing: the shift still ends 8 hours after the full sign-in.
    assert grants(deployment)[0].expires_at == grant.expires_at
    [logged] = [e for e in events(deployment, "login") if e["detail"]["acr"] == "tap"]
    assert logged["detail"]["tap"] == ward
    [checked] = [e for e in events(deployment, "fido2_login") if e["detail"].get("mode")]
    assert (checked["outcome"], checked["detail"]["mode"]) == ("success", "tap")


def test_tap_options_say_whether_the_kiosk_takes_taps(
    http: TestClient, groups: KioskGroups
) -> None:
    assert tap_options(http) == {"tap_and_go": False}
    groups.set_shift_hours("ward-3", 0, by="test")
    groups.assign(KIOSK, "ward-3", by="test")
    assert tap_options(http) == {"tap_and_go": False}
    groups.set_shift_hours("ward-3", 10, by="test")
    on = tap_options(http)
    assert (on["tap_and_go"], on["group"], on["shift_hours"]) == (True, "ward-3", 10)
    assert on["publicKey"]["userVerification"] == "discouraged"
    unknown = http.post("/login/tap/options", json={"client_id": "nobody"})
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")


# -- tap-and-go off -------------------------------------------------------------------------------


def test_with_tap_and_go_off_a_full_sign_in_works_and_opens_no_shift(
    http: TestClient, deployment: Deployment, groups: KioskGroups, alice: Kiosk
) -> None:
    full_sign_in(http, alice)  # the kiosk is in no group
    groups.set_shift_hours("ward-3", 0, by="test")
    groups.assign(KIOSK, "ward-3", by="test")
    tokens = full_sign_in(http, alice)  # in a group whose shift is 0
    assert claims(tokens["access_token"])["acr"] in ("phr", "phrh")
    assert grants(deployment) == []
    assert events(deployment, "shift_grant") == []
    # A tap anyway (a challenge from the time tap-and-go was on) is refused and audited.
    groups.set_shift_hours("ward-3", 8, by="test")
    body = tap_body(http, alice)
    groups.set_shift_hours("ward-3", 0, by="test")
    assert "Tap-and-go is off" in refused(http.post("/login/tap/webauthn", json=body))
    assert refusal_reasons(deployment) == ["tap_off"]


def test_turning_tap_and_go_off_ends_the_open_shifts(
    http: TestClient, deployment: Deployment, groups: KioskGroups, alice: Kiosk, ward: str
) -> None:
    full_sign_in(http, alice)
    groups.set_shift_hours(ward, 0, by="test")
    assert grants(deployment)[0].end_reason == "tap_off"
    groups.set_shift_hours(ward, 8, by="test")
    assert "No shift" not in refused(tap(http, alice))
    assert refusal_reasons(deployment) == ["ended"]


# -- refused taps ---------------------------------------------------------------------------------


def test_a_tap_without_a_shift_is_refused_and_audited(
    http: TestClient, deployment: Deployment, alice: Kiosk, ward: str
) -> None:
    del ward
    message = refused(tap(http, alice))
    assert message == "No shift is open for you at this kiosk group: sign in with your PIN."
    [row] = events(deployment, "tap_refused")
    assert (row["username"], row["client_id"], row["outcome"]) == ("alice", KIOSK, "failure")
    assert row["detail"]["reason"] == "no_grant"


def test_a_tap_at_a_kiosk_of_another_group_is_refused(
    http: TestClient, deployment: Deployment, groups: KioskGroups, alice: Kiosk, ward: str
) -> None:
    other, _ = deployment.add_client("ward-4 kiosk", kind="kiosk", audiences=[], scopes=[])
    groups.set_shift_hours("ward-4", 8, by="test")
    groups.assign(other.client_id, "ward-4", by="test")
    full_sign_in(http, alice)  # the shift opens at ward-3
    message = refused(tap(http, alice, other.client_id))
    assert message.startswith("Your shift is open at another kiosk group")
    assert refusal_reasons(deployment) == ["other_group"]
    assert tap(http, alice).status_code == 200  # at ward-3 it still works
    del ward


def test_a_tap_after_the_shift_ended_is_refused(
    http: TestClient, deployment: Deployment, clock: FrozenClock, alice: Kiosk, ward: str
) -> None:
    full_sign_in(http, alice)
    clock.advance(8 * HOUR - 1)
    assert tap(http, alice).status_code == 200
    clock.advance(1)
    assert refused(tap(http, alice)).startswith("Your shift has ended")
    assert refusal_reasons(deployment) == ["expired"]
    del ward


def test_an_admins_revocation_of_a_session_ends_the_shift(
    http: TestClient, deployment: Deployment, admin: dict[str, str], alice: Kiosk, ward: str
) -> None:
    tokens = full_sign_in(http, alice)
    sid = claims(tokens["access_token"])["sid"]
    answer = http.post("/admin/sessions/revoke", json={"sid": sid}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert grants(deployment)[0].end_reason == "admin"
    assert refused(tap(http, alice)).startswith("Your shift was ended")
    assert refusal_reasons(deployment) == ["ended"]
    [ended] = events(deployment, "shift_grant_ended")
    assert (ended["username"], ended["detail"]) == ("alice", {"group": ward, "reason": "admin"})


def test_disabling_the_person_ends_the_shift(
    http: TestClient, deployment: Deployment, admin: dict[str, str], alice: Kiosk, ward: str
) -> None:
    tokens = full_sign_in(http, alice)
    # Sign-out first (the session is gone), then the admin disables and re-enables alice:
    # the shift stays ended.
    http.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": KIOSK}
    ).raise_for_status()
    for verb in ("disable", "enable"):
        answer = http.post(f"/admin/users/{verb}", json={"username": "alice"}, headers=admin)
        assert answer.status_code == 200, answer.text
    assert grants(deployment)[0].end_reason == "user_disabled"
    assert refused(tap(http, alice)).startswith("Your shift was ended")
    del ward


def test_revoking_the_key_ends_the_shift_even_after_its_session_ended(
    http: TestClient, deployment: Deployment, admin: dict[str, str], alice: Kiosk, ward: str
) -> None:
    tokens = full_sign_in(http, alice)
    http.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": KIOSK}
    ).raise_for_status()
    credential_id = grants(deployment)[0].credential.removeprefix("fido2:")
    answer = http.post("/admin/fido2/revoke", json={"credential_id": credential_id}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert grants(deployment)[0].end_reason == "credential_revoked"
    assert refused(tap(http, alice)) == "This security key has been revoked."
    del ward


def test_a_tap_with_another_key_than_the_shifts_is_refused(
    http: TestClient, deployment: Deployment, admin: dict[str, str], alice: Kiosk, ward: str
) -> None:
    second = Kiosk()
    enroll(http, admin, second)  # alice's second key
    full_sign_in(http, alice)
    assert refused(tap(http, second)).startswith("This is not the key")
    assert refusal_reasons(deployment) == ["other_credential"]
    del ward


def test_sign_out_at_the_end_of_the_shift_ends_it(
    http: TestClient, deployment: Deployment, alice: Kiosk, ward: str
) -> None:
    tokens = full_sign_in(http, alice)
    stranger = http.post("/logout/shift", json={"refresh_token": "x" * 43, "client_id": KIOSK})
    assert refused(stranger).startswith("This refresh token is unknown")
    answer = http.post(
        "/logout/shift", json={"refresh_token": tokens["refresh_token"], "client_id": KIOSK}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"shift_ended": True}
    assert grants(deployment)[0].end_reason == "shift_end"
    assert refused(tap(http, alice)).startswith("Your shift was ended")
    # The session ended with it: its refresh token is dead.
    again = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": KIOSK,
        },
    )
    assert again.status_code == 400
    del ward


def test_a_plain_sign_out_keeps_the_shift_open(http: TestClient, alice: Kiosk, ward: str) -> None:
    tokens = full_sign_in(http, alice)
    http.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": KIOSK}
    ).raise_for_status()
    assert tap(http, alice).status_code == 200
    del ward


# -- attacks ----------------------------------------------------------------------------------


def test_a_replayed_tap_is_refused(
    http: TestClient, deployment: Deployment, alice: Kiosk, ward: str
) -> None:
    """Someone who captured a tap's request (on the wire, or at the kiosk) sends it again:
    the handle is spent; a new handle with the old assertion fails the challenge."""
    full_sign_in(http, alice)
    body = tap_body(http, alice)
    assert http.post("/login/tap/webauthn", json=body).status_code == 200
    assert "already used" in refused(http.post("/login/tap/webauthn", json=body))
    fresh = tap_options(http)["handle"]
    replayed = http.post("/login/tap/webauthn", json={**body, "handle": fresh})
    assert refused(replayed) != ""
    reasons = [e["detail"].get("reason") for e in events(deployment, "fido2_login")]
    assert reasons[-2:] == ["unknown_handle", "wrong_challenge"], reasons
    del ward


def test_a_tap_handle_is_worth_nothing_for_a_full_sign_in_and_back(
    http: TestClient, alice: Kiosk, ward: str
) -> None:
    """A presence-only assertion must never open a full session: the tap's handle is bound
    to taps, and a full login's handle is refused at the tap route."""
    full_sign_in(http, alice)
    body = tap_body(http, alice)
    as_full = http.post("/login/webauthn", json=body)
    assert "another browser or another sign-in" in refused(as_full)
    begun = http.post("/login/webauthn/options").json()
    full_body = {
        "handle": begun["handle"],
        "credential": alice.authenticate(begun["publicKey"]),
        "client_id": KIOSK,
    }
    assert "another browser or another sign-in" in refused(
        http.post("/login/tap/webauthn", json=full_body)
    )
    del ward


def test_a_tap_at_a_kiosk_whose_audience_needs_more_is_refused_before_the_key(
    http: TestClient, deployment: Deployment, clock: FrozenClock, alice: Kiosk, ward: str
) -> None:
    full_sign_in(http, alice)
    set_audience(deployment, clock, AudiencePolicy("urn:tokenstile:local", min_acr="phr"))
    body = tap_body(http, alice)
    answer = http.post("/login/tap/webauthn", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_target"
    assert answer.json()["error_description"] == (
        "A tap does not meet the assurance urn:tokenstile:local requires (phr)."
    )
    del ward


def test_a_tap_token_is_refused_by_an_audience_that_needs_phrh(
    http: TestClient, deployment: Deployment, clock: FrozenClock, alice: Kiosk, ward: str
) -> None:
    deployment.add_client(
        "payroll", kind="app", audiences=["urn:payroll"], scopes=[], client_id="payroll"
    )
    set_audience(deployment, clock, AudiencePolicy("urn:payroll", min_acr="phrh"))
    full_sign_in(http, alice)
    tapped = tap(http, alice).json()
    answer = http.post(
        "/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": tapped["access_token"],
            "subject_token_type": ACCESS,
            "client_id": "payroll",
            "audience": "urn:payroll",
        },
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_target"
    assert answer.json()["error_description"] == (
        "A tap-and-go sign-in (acr tap) does not meet the assurance urn:payroll requires (phrh)."
    )
    del ward


def test_kiosk_groups_refuse_bad_input(deployment: Deployment, groups: KioskGroups) -> None:
    from tokenstile.errors import InvalidRequest, NotFound

    app, _ = deployment.add_client("an app", kind="app", audiences=[], scopes=[])
    for bad in (-1, 24.5):
        with pytest.raises(InvalidRequest, match=r"0 \(tap-and-go off\) to 24 hours"):
            groups.set_shift_hours("ward", bad, by="test")
    for name in ("", " ward", "w\x00rd", "x" * 65):
        with pytest.raises(InvalidRequest, match="kiosk group's name"):
            groups.set_shift_hours(name, 8, by="test")
    groups.set_shift_hours("ward", 8, by="test")
    with pytest.raises(InvalidRequest, match="Only a kiosk client"):
        groups.assign(app.client_id, "ward", by="test")
    with pytest.raises(NotFound, match="No kiosk group"):
        groups.assign(KIOSK, "nowhere", by="test")
    with pytest.raises(NotFound, match="No client"):
        groups.assign("nobody", "ward", by="test")


def test_a_shift_ended_between_the_check_and_the_session_opens_nothing(
    http: TestClient, deployment: Deployment, groups: KioskGroups, alice: Kiosk, ward: str
) -> None:
    """The race: an admin turns tap-and-go off just after the tap's shift was checked. The
    first check is made to answer what it saw a moment before (the shift open); the check
    runs again in the session's own transaction, which then opens nothing."""
    import tokenstile.server.tap_routes as routes

    full_sign_in(http, alice)
    [grant] = grants(deployment)
    body = tap_body(http, alice)
    groups.set_shift_hours(ward, 0, by="an admin, meanwhile")
    real_check = routes.check_tap
    checks: list[object] = []

    def stale_then_real(*args: Any, **kwargs: Any) -> Any:
        verdict = real_check(*args, **kwargs)
        checks.append(verdict)
        if len(checks) == 1:
            return TapAccepted(KioskShift(ward, 8), grant.expires_at)
        return verdict

    before = len(events(deployment, "login"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(routes, "check_tap", stale_then_real)
        answer = http.post("/login/tap/webauthn", json=body)
    assert refused(answer) == "Tap-and-go is off at this kiosk: sign in with your PIN."
    assert checks == ["tap_off", "tap_off"]
    assert len(events(deployment, "login")) == before
    with deployment.engine.connect() as conn:
        taps = conn.execute(select(t.sessions).where(t.sessions.c.acr == "tap")).all()
    assert taps == []


def test_the_admin_api_sets_groups_and_refuses_non_admins(
    http: TestClient, deployment: Deployment, admin: dict[str, str], alice: Kiosk
) -> None:
    answer = http.post(
        "/admin/kiosk-groups/set", json={"name": "ward-3", "shift_hours": 8}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"name": "ward-3", "shift_hours": 8, "kiosks": [], "live_grants": 0}
    answer = http.post(
        "/admin/kiosk-groups/assign", json={"client_id": KIOSK, "group": "ward-3"}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    full_sign_in(http, alice)
    listed = http.get("/admin/kiosk-groups", headers=admin).json()["groups"]
    assert listed == [{"name": "ward-3", "shift_hours": 8, "kiosks": [KIOSK], "live_grants": 1}]
    [row] = events(deployment, "kiosk_group_member")
    assert row["detail"] == {"by": "admin:root", "group": "ward-3"}
    for body, status in (
        ({"name": "ward-3", "shift_hours": 25}, 400),
        ({"name": "", "shift_hours": 8}, 400),
        ({"name": "ward-3", "shift_hours": 8, "extra": 1}, 400),
    ):
        assert http.post("/admin/kiosk-groups/set", json=body, headers=admin).status_code == status
    for body, status in (
        ({"client_id": "nobody", "group": "ward-3"}, 404),
        ({"client_id": KIOSK, "group": "nowhere"}, 404),
    ):
        refusal = http.post("/admin/kiosk-groups/assign", json=body, headers=admin)
        assert (refusal.status_code, refusal.json()["error"]) == (status, "not_found")
    # Alice (no admin) may not change anything, nor list.
    alices = {"Authorization": f"Bearer {full_sign_in(http, alice)['access_token']}"}
    off = http.post(
        "/admin/kiosk-groups/set", json={"name": "ward-3", "shift_hours": 0}, headers=alices
    )
    assert off.status_code == 403
    assert http.get("/admin/kiosk-groups", headers=alices).status_code == 403
    assert http.get("/admin/kiosk-groups").status_code == 401
    assert grants(deployment)[0].ended_at is None


@pytest.mark.postgres
def test_taps_on_postgresql(postgres_url: str, clock: FrozenClock) -> None:
    """The same store on PostgreSQL: a shift opened, renewed by a second full sign-in
    (one grant, the later end), a tap inside it, a refusal after it."""
    dep = make_deployment(postgres_url, clock)
    try:
        with TestClient(create_app(dep), base_url="https://auth.example") as http:
            groups = KioskGroups(dep.store, clock=dep.clock)
            groups.set_shift_hours("ward-3", 8, by="test")
            groups.assign(KIOSK, "ward-3", by="test")
            add_user(dep, "alice")
            key = Kiosk()
            enroll(http, new_admin_headers(dep), key)
            full_sign_in(http, key)
            clock.advance(HOUR)
            full_sign_in(http, key)
            [grant] = grants(dep)
            assert grant.expires_at == clock.now() + 8 * HOUR
            assert claims(tap(http, key).json()["access_token"])["acr"] == "tap"
            clock.advance(8 * HOUR)
            assert refused(tap(http, key)).startswith("Your shift has ended")
    finally:
        dep.close()


def test_only_a_kiosk_client_takes_a_tap(
    http: TestClient, deployment: Deployment, alice: Kiosk, ward: str
) -> None:
    """An app (a public client anyone can name) cannot be used to tap in, even by the
    person whose shift is open, and the key's challenge is not spent on it."""
    app, _ = deployment.add_client("an app", kind="app", audiences=[], scopes=[])
    full_sign_in(http, alice)
    body = tap_body(http, alice)
    answer = http.post("/login/tap/webauthn", json={**body, "client_id": app.client_id})
    assert refused(answer) == "Only a kiosk accepts a tap."
    assert http.post("/login/tap/webauthn", json=body).status_code == 200
    del ward
