"""``POST /login/webauthn/options``, ``POST /login/webauthn`` and ``/admin/fido2``, in-process
through the ASGI app, with the software key driven by python-fido2's client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.admin_tokens import new_admin_headers, token_for
from tests.conftest import add_user
from tests.unit.factors.webauthn_keys import (
    Kiosk,
    flip_bit,
    resigned,
    unb64,
    with_client_data,
    with_counter,
    with_flags,
    with_response,
)
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.factors.webauthn import FLAG_UP, FLAG_UV
from tokenstile.server.app import create_app
from tokenstile.store import schema as t
from tokenstile.tokens.model import AuditEvent

Json = dict[str, Any]


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url="https://auth.example") as client:
        yield client


@pytest.fixture
def admin(deployment: Deployment) -> dict[str, str]:
    return new_admin_headers(deployment)


def enroll(http: TestClient, admin: dict[str, str], kiosk: Kiosk, username: str = "alice") -> Json:
    begun = http.post("/admin/fido2/register/begin", json={"username": username}, headers=admin)
    assert begun.status_code == 200, begun.text
    body = begun.json()
    assert body["username"] == username
    response = kiosk.register(body["publicKey"])
    done = http.post(
        "/admin/fido2/register/complete",
        json={"handle": body["handle"], "credential": response, "user_verification": "pin"},
        headers=admin,
    )
    assert done.status_code == 201, done.text
    info: Json = done.json()
    return info


@pytest.fixture
def alice_key(http: TestClient, admin: dict[str, str], deployment: Deployment) -> Kiosk:
    add_user(deployment, "alice")
    kiosk = Kiosk()
    enroll(http, admin, kiosk)
    return kiosk


def options(http: TestClient) -> Json:
    response = http.post("/login/webauthn/options")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body: Json = response.json()
    return body


def login(http: TestClient, handle: str, credential: Any, **extra: Any) -> Any:
    return http.post("/login/webauthn", json={"handle": handle, "credential": credential, **extra})


def sign(http: TestClient, kiosk: Kiosk) -> tuple[str, Json]:
    begun = options(http)
    return begun["handle"], kiosk.authenticate(begun["publicKey"])


def claims(token: str) -> Json:
    decoded: Json = jwt.decode(token, options={"verify_signature": False})
    return decoded


def events(dep: Deployment, event: str) -> list[Json]:
    return [e for e in dep.store.audit_entries() if e["event"] == event]


def credential_row(dep: Deployment) -> Any:
    with dep.engine.connect() as conn:
        return conn.execute(select(t.webauthn_credentials)).one()


def challenges(dep: Deployment) -> int:
    with dep.engine.connect() as conn:
        return len(conn.execute(select(t.webauthn_challenges.c.purpose)).all())


def refused(response: Any, error: str = "invalid_grant") -> str:
    assert response.status_code == (401 if error == "invalid_client" else 400), response.text
    body = response.json()
    assert body["error"] == error
    assert response.headers["cache-control"] == "no-store"
    description: str = body["error_description"]
    return description


# -- the good path ---------------------------------------------------------------------------


def test_a_security_key_signs_in_without_a_username(
    http: TestClient, deployment: Deployment, alice_key: Kiosk
) -> None:
    begun = options(http)
    assert set(begun) == {"handle", "publicKey"}
    public_key = begun["publicKey"]
    assert public_key["rpId"] == "auth.example"
    assert public_key["userVerification"] == "required"
    assert public_key["allowCredentials"] == []
    assert len(unb64(public_key["challenge"])) >= 16
    response = login(http, begun["handle"], alice_key.authenticate(public_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    access = claims(body["access_token"])
    assert access["sub"] == "alice"
    # The test key is the software key (allowed here): a software-secured key (issue 16).
    assert access["amr"] == ["swk", "pin", "mfa"]
    assert access["acr"] == "phr"
    row = credential_row(deployment)
    assert row.sign_count == 1
    session = events(deployment, "login")[-1]
    assert session["factor"] == "fido2"
    assert session["detail"]["aaguid"] == row.aaguid
    assert unb64(session["detail"]["credential_id"]) == bytes(row.credential_id)
    attempt = events(deployment, "fido2_login")[-1]
    assert attempt["outcome"] == "success"
    assert attempt["username"] == "alice"
    refreshed = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": "tokenstile-kiosk",
        },
    )
    assert refreshed.status_code == 200
    assert claims(refreshed.json()["access_token"])["amr"] == ["swk", "pin", "mfa"]


def test_a_key_enrolled_without_knowing_its_verification_gets_no_pin_amr(
    http: TestClient, admin: dict[str, str], deployment: Deployment
) -> None:
    add_user(deployment, "bob")
    kiosk = Kiosk()
    begun = http.post("/admin/fido2/register/begin", json={"username": "bob"}, headers=admin).json()
    done = http.post(
        "/admin/fido2/register/complete",
        json={"handle": begun["handle"], "credential": kiosk.register(begun["publicKey"])},
        headers=admin,
    )
    assert done.json()["uv_method"] == "unknown"
    handle, credential = sign(http, kiosk)
    assert claims(login(http, handle, credential).json()["access_token"])["amr"] == ["swk", "mfa"]


def test_options_take_no_body_or_an_empty_object(http: TestClient) -> None:
    assert http.post("/login/webauthn/options", json={}).status_code == 200
    assert refused(http.post("/login/webauthn/options", json={"x": 1}), "invalid_request")
    assert refused(
        http.post("/login/webauthn/options", content=b"x", headers={"content-type": "text/plain"}),
        "invalid_request",
    )


# -- every bad input: a clear error, nothing changed but what the rule says --------------------


def _unchanged(deployment: Deployment, count: int = 0) -> None:
    row = credential_row(deployment)
    assert (row.state, row.sign_count) == ("active", count)
    assert [e for e in events(deployment, "login") if e["factor"] == "fido2"] == []


@pytest.mark.parametrize(
    "case",
    [
        (lambda c: with_client_data(c, origin="https://evil.example"), "wrong_origin", "origin"),
        (lambda c: with_client_data(c, type="webauthn.create"), "wrong_type", "kind"),
        (lambda c: with_flags(c, clear=FLAG_UV), "user_not_verified", "verify its user"),
        (lambda c: with_flags(c, clear=FLAG_UP), "user_not_present", "touch"),
        (lambda c: with_counter(c, 999), "bad_signature", "signature"),
        (
            lambda c: with_response(c, signature=flip_bit(unb64(c["response"]["signature"]), 9)),
            "bad_signature",
            "signature",
        ),
        (lambda c: with_client_data(c, note="x"), "bad_signature", "signature"),
        (lambda c: with_response(c, userHandle="bWFsbG9yeQ"), "user_handle_mismatch", "user"),
        (lambda c: with_response(c, userHandle=None), "user_handle_missing", "user"),
    ],
)
def test_a_broken_rule_is_refused_and_spends_the_handle(
    http: TestClient,
    deployment: Deployment,
    alice_key: Kiosk,
    case: tuple[Callable[[Json], Json], str, str],
) -> None:
    tamper, reason, says = case
    handle, good = sign(http, alice_key)
    assert says in refused(login(http, handle, tamper(good)))
    _unchanged(deployment)
    failure = events(deployment, "fido2_login")[-1]
    assert (failure["outcome"], failure["detail"]["reason"]) == ("failure", reason)
    assert failure["username"] == "alice"
    # The handle is spent: the untouched answer cannot use it any more.
    assert "already used" in refused(login(http, handle, good))


def test_wrong_rp_id(http: TestClient, deployment: Deployment, alice_key: Kiosk) -> None:
    handle, good = sign(http, alice_key)
    auth = bytearray(unb64(good["response"]["authenticatorData"]))
    auth[5] ^= 0x40
    description = refused(login(http, handle, with_response(good, authenticatorData=bytes(auth))))
    assert "relying party" in description
    _unchanged(deployment)


def test_a_reused_or_expired_handle(
    http: TestClient, deployment: Deployment, alice_key: Kiosk, clock: FrozenClock
) -> None:
    handle, credential = sign(http, alice_key)
    assert login(http, handle, credential).status_code == 200
    assert "already used" in refused(login(http, handle, credential))
    handle, credential = sign(http, alice_key)
    clock.advance(121)
    assert "expired" in refused(login(http, handle, credential))
    assert credential_row(deployment).sign_count == 1
    # A handle this server never issued.
    assert "already used" in refused(login(http, "A" * 43, credential))
    # Long-expired challenges are cleared when new ones are made.
    sign(http, alice_key)
    clock.advance(2000)
    sign(http, alice_key)
    assert challenges(deployment) == 1


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: with_response(c, authenticatorData="%%%"),
        lambda c: with_response(c, clientDataJSON="e30+"),
        lambda c: with_response(c, clientDataJSON=b"{not json"),
        lambda c: with_response(
            c,
            authenticatorData=_with_ed(unb64(c["response"]["authenticatorData"])) + b"\xbf",
        ),
        lambda c: with_response(
            c, authenticatorData=unb64(c["response"]["authenticatorData"])[:20]
        ),
        lambda c: {**c, "rawId": "A" * 2000},
        lambda c: {**c, "type": "password"},
        lambda c: "not an object",
    ],
)
def test_malformed_credentials_change_nothing_and_keep_the_handle(
    http: TestClient, deployment: Deployment, alice_key: Kiosk, mangle: Callable[[Json], Any]
) -> None:
    handle, good = sign(http, alice_key)
    refused(login(http, handle, mangle(good)), "invalid_request")
    _unchanged(deployment)
    assert events(deployment, "fido2_login") == []
    assert login(http, handle, good).status_code == 200  # the handle was not spent


def _with_ed(auth: bytes) -> bytes:
    return auth[:32] + bytes([auth[32] | 0x80]) + auth[33:]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"handle": "x", "credential": {}}',
        b'{"credential": {}}',
        b'{"handle": "' + b"A" * 43 + b'", "handle": "' + b"A" * 43 + b'", "credential": {}}',
        b'{"handle": "' + b"A" * 43 + b'", "credential": {}, "client_id": 5}',
        b"{" + b" " * 20_000 + b"}",
    ],
)
def test_malformed_bodies(http: TestClient, body: bytes) -> None:
    response = http.post(
        "/login/webauthn", content=body, headers={"content-type": "application/json"}
    )
    refused(response, "invalid_request")


def test_the_client_is_checked_before_the_handle_is_spent(
    http: TestClient, deployment: Deployment, alice_key: Kiosk
) -> None:
    handle, credential = sign(http, alice_key)
    refused(login(http, handle, credential, client_id="nobody"), "invalid_client")
    deployment.add_client("payroll", kind="resource-server", audiences=["https://p"], scopes=[])
    payroll = deployment.store.find_client_by_name("payroll")
    assert payroll is not None
    refused(login(http, handle, credential, client_id=payroll.client_id), "unauthorized_client")
    assert login(http, handle, credential).status_code == 200


def test_unknown_revoked_and_disabled(
    http: TestClient, deployment: Deployment, admin: dict[str, str], alice_key: Kiosk
) -> None:
    with pytest.raises(Exception, match="holds no sign-in"):
        Kiosk().authenticate(options(http)["publicKey"])  # nothing for this site at all
    # A key enrolled for this site in another deployment: unknown here.
    other = Kiosk()
    from tests.unit.factors.webauthn_keys import registration_options

    other.register(registration_options(challenge=b"c" * 32))
    handle, credential = sign(http, other)
    assert "not enrolled here" in refused(login(http, handle, credential))

    deployment.store.set_user_enabled(
        "alice", False, at=deployment.clock.now(), audit=AuditEvent("user_disabled", "info")
    )
    handle, credential = sign(http, alice_key)
    assert "disabled" in refused(login(http, handle, credential))
    deployment.store.set_user_enabled(
        "alice", True, at=deployment.clock.now(), audit=AuditEvent("user_enabled", "info")
    )

    cid = credential_row(deployment).credential_id
    from tokenstile.factors.webauthn import b64url

    revoked = http.post("/admin/fido2/revoke", json={"credential_id": b64url(cid)}, headers=admin)
    assert revoked.json()["state"] == "revoked"
    handle, credential = sign(http, alice_key)
    assert "revoked" in refused(login(http, handle, credential))
    assert credential_row(deployment).sign_count == 0


def test_a_cloned_key_is_suspended_with_an_alert(
    http: TestClient, deployment: Deployment, admin: dict[str, str], alice_key: Kiosk
) -> None:
    for _ in range(2):
        handle, credential = sign(http, alice_key)
        assert login(http, handle, credential).status_code == 200
    handle, credential = sign(http, alice_key)
    clone = resigned(alice_key, credential, count=2)  # a copy of the key, a step behind
    assert "cloned" in refused(login(http, handle, clone))
    row = credential_row(deployment)
    assert (row.state, row.state_reason, row.sign_count) == ("suspended", "counter_regression", 2)
    [alert] = events(deployment, "fido2_credential_suspended")
    assert alert["outcome"] == "alert"
    assert alert["detail"]["stored_count"] == 2
    assert alert["detail"]["presented_count"] == 2
    # The genuine key is refused too until an admin decides.
    handle, credential = sign(http, alice_key)
    assert "suspended" in refused(login(http, handle, credential))
    listed = http.get("/admin/fido2/credentials", headers=admin).json()["credentials"]
    assert listed[0]["state"] == "suspended"
    cid = listed[0]["credential_id"]
    back = http.post("/admin/fido2/unsuspend", json={"credential_id": cid}, headers=admin)
    assert back.json()["state"] == "active"
    again = http.post("/admin/fido2/unsuspend", json={"credential_id": cid}, headers=admin)
    assert again.status_code == 409
    handle, credential = sign(http, alice_key)
    assert login(http, handle, credential).status_code == 200


# -- the admin API ---------------------------------------------------------------------------------


def test_the_admin_api_needs_an_admin(http: TestClient, deployment: Deployment) -> None:
    assert http.get("/admin/fido2/credentials").status_code == 401
    alice = add_user(deployment, "alice")
    headers = {"Authorization": f"Bearer {token_for(deployment, alice)}"}
    assert http.get("/admin/fido2/credentials", headers=headers).status_code == 403
    begun = http.post("/admin/fido2/register/begin", json={"username": "alice"}, headers=headers)
    assert begun.status_code == 403


def test_registration_refusals(
    http: TestClient, deployment: Deployment, admin: dict[str, str], clock: FrozenClock
) -> None:
    add_user(deployment, "alice")
    kiosk = Kiosk()
    unknown = http.post("/admin/fido2/register/begin", json={"username": "nobody"}, headers=admin)
    assert unknown.status_code == 404

    def begin() -> Json:
        response = http.post(
            "/admin/fido2/register/begin", json={"username": "alice"}, headers=admin
        )
        body: Json = response.json()
        return body

    def complete(handle: str, credential: Any) -> Any:
        return http.post(
            "/admin/fido2/register/complete",
            json={"handle": handle, "credential": credential},
            headers=admin,
        )

    begun = begin()
    response = kiosk.register(begun["publicKey"])
    bad = complete(begun["handle"], with_client_data(response, origin="https://evil.example"))
    assert bad.status_code == 400
    assert bad.json()["error"] == "registration_refused"
    assert complete(begun["handle"], response).status_code == 400  # spent
    malformed = complete(begin()["handle"], {"rawId": "%"})
    assert malformed.json()["error"] == "invalid_request"

    begun = begin()
    response = kiosk.register(begun["publicKey"])
    clock.advance(121)
    late = complete(begun["handle"], response)
    assert "expired" in late.json()["error_description"]

    enroll(http, admin, kiosk)
    # The same key again: the options exclude it, the key refuses.
    with pytest.raises(Exception, match="already enrolled"):
        kiosk.register(begin()["publicKey"])
    failures = [
        e["detail"]["reason"]
        for e in events(deployment, "fido2_enrolled")
        if e["outcome"] == "failure"
    ]
    assert failures == ["wrong_origin", "unknown_handle", "expired"]  # malformed: not audited
    listing = http.get("/admin/fido2/credentials?username=alice", headers=admin).json()
    assert len(listing["credentials"]) == 1
    info = listing["credentials"][0]
    assert info["label"] == "Security key"
    assert info["enrolled_by"] == "admin:root"
    assert info["transports"] == ["nfc", "usb"]
    assert http.get("/admin/fido2/credentials?username=zed", headers=admin).status_code == 404
    gone = http.post("/admin/fido2/revoke", json={"credential_id": "AAAA"}, headers=admin)
    assert gone.status_code == 404
    garbage = http.post("/admin/fido2/revoke", json={"credential_id": "%%"}, headers=admin)
    assert garbage.status_code == 400


def test_the_openapi_document_describes_the_routes(http: TestClient) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    for path in (
        "/login/webauthn/options",
        "/login/webauthn",
        "/admin/fido2/register/begin",
        "/admin/fido2/register/complete",
        "/admin/fido2/credentials",
        "/admin/fido2/revoke",
        "/admin/fido2/unsuspend",
    ):
        assert path in paths
    body = paths["/login/webauthn"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["handle", "credential"]
