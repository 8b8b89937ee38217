"""The PIV login routes and the PIV admin API, in-process through the ASGI app.

The card is the virtual PIV card, reached in-process through ``DirectConnection`` and
driven by the kiosk's own code (``PivCard``, ``login_with_card``); the real PC/SC path
is in ``tests/integration/piv``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from tests.admin_tokens import new_admin_headers, token_for
from tests.conftest import add_user, make_deployment
from tests.unit.factors.piv_test_pki import (
    DAY,
    NOW,
    card_signature,
    login_signature,
    make_ca,
    make_card_certificate,
)
from tests.unit.server.piv_client import HttpPivServer, LoginRefused
from tokenstile.clock import FrozenClock
from tokenstile.deployment import Deployment
from tokenstile.devices import DirectConnection, PinBlocked, PivCard
from tokenstile.devices.piv import KeyAlgorithm, ManagementKeyAlgorithm, PivSlot
from tokenstile.devices.piv_login import (
    ForeignChallengeRefused,
    PinEntryCancelled,
    PinRequest,
    PivChallenge,
    login_with_card,
)
from tokenstile.factors.piv_service import PivService
from tokenstile.protocol.jose import b64url_decode, b64url_encode
from tokenstile.server.app import create_app
from tokenstile.server.piv_routes import REFUSED
from tokenstile.store.piv_repository import SqlPivStorage
from tokenstile.tokens.model import AudiencePolicy, AuditEvent
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_objects import Algorithm
from tokenstile.virtual.piv_provision import DEFAULT_MANAGEMENT_KEY, create_piv_card

REFUSAL = {"error": "invalid_grant", "error_description": REFUSED}
PIN = "123456"


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url="https://auth.example") as client:
        yield client


@pytest.fixture
def repo(deployment: Deployment, clock: FrozenClock) -> PivService:
    return PivService(SqlPivStorage(deployment.store), box=deployment.kek, clock=clock)


@pytest.fixture(scope="module")
def ec_applet_state() -> dict[str, Any]:
    return create_piv_card(holder="Alice Example").state.to_json()


@pytest.fixture(scope="module")
def rsa_applet_state() -> dict[str, Any]:
    return create_piv_card(holder="Rita Rsa", algorithm=Algorithm.RSA2048).state.to_json()


def fresh_card(state: dict[str, Any]) -> tuple[PivCardApplet, PivCard]:
    from tokenstile.virtual.piv_state import PivCardState

    applet = PivCardApplet(PivCardState.from_json(state))
    return applet, PivCard(DirectConnection(applet))


@pytest.fixture
def card(ec_applet_state: dict[str, Any], clock: FrozenClock) -> PivCard:
    # The virtual card's certificate starts now (real time): the service's clock too.
    clock.set(time.time())
    return fresh_card(ec_applet_state)[1]


def card_der(card: PivCard) -> bytes:
    return card.read_certificate().public_bytes(Encoding.DER)


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def audit_events(dep: Deployment, event: str) -> list[dict[str, Any]]:
    return [e for e in dep.store.audit_entries() if e["event"] == event]


def challenge(http: TestClient, der: bytes, **extra: Any) -> Any:
    return http.post("/login/piv/challenge", json={"certificate": b64url_encode(der), **extra})


def finish(http: TestClient, handle: str, signature: bytes) -> Any:
    return http.post("/login/piv", json={"handle": handle, "signature": b64url_encode(signature)})


def pins(*typed: str | None) -> tuple[list[PinRequest], Any]:
    """A PIN pad that types ``typed`` in turn and remembers what it was shown."""
    shown: list[PinRequest] = []
    queue = list(typed)

    def ask(request: PinRequest) -> str | None:
        shown.append(request)
        return queue.pop(0)

    return shown, ask


@pytest.fixture
def admin_headers(deployment: Deployment) -> dict[str, str]:
    return new_admin_headers(deployment)


def disable(dep: Deployment, username: str) -> None:
    dep.store.set_user_enabled(
        username, False, at=dep.clock.now(), audit=AuditEvent("user_disabled", "info")
    )


# -- the login -------------------------------------------------------------------------------


def test_the_kiosk_signs_in_with_the_card_and_a_wrong_pin_shows_the_retries(
    http: TestClient,
    deployment: Deployment,
    repo: PivService,
    card: PivCard,
) -> None:
    add_user(deployment, "alice", display_name="Alice Example")
    guid = card.read_chuid().card_id
    info = repo.register("alice", card_der(card), by="test", card_guid=guid)
    shown, ask = pins("000000", PIN)
    tokens = login_with_card(card, HttpPivServer(http), ask)
    assert shown == [
        PinRequest(retries_left=3, wrong_pin=False),
        PinRequest(retries_left=2, wrong_pin=True),
    ]
    assert set(tokens) >= {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    access = claims(tokens["access_token"])
    assert (access["sub"], access["amr"], access["acr"]) == ("alice", ["sc", "pin", "mfa"], "phrh")
    assert access["client_id"] == "tokenstile-kiosk"
    # The audit trail ties the card to the session it opened.
    [begun] = audit_events(deployment, "piv_challenge")
    [done] = audit_events(deployment, "piv_login")
    [session] = audit_events(deployment, "login")
    assert begun["outcome"] == done["outcome"] == session["outcome"] == "success"
    device = {k: session["detail"][k] for k in ("cert_serial", "fingerprint", "card_guid")}
    assert device == {
        "cert_serial": info.cert_serial,
        "fingerprint": info.fingerprint,
        "card_guid": guid,
    }
    assert (session["factor"], session["sid"]) == ("piv", access["sid"])
    assert done["detail"]["fingerprint"] == info.fingerprint
    assert repo.card(info.fingerprint).last_used_at == deployment.clock.now()
    refreshed = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "tokenstile-kiosk",
        },
    )
    assert refreshed.status_code == 200
    assert claims(refreshed.json()["access_token"])["amr"] == ["sc", "pin", "mfa"]
    # The card stays in its reader, its PIN verified: the next login (an unlock at a
    # locked kiosk, say) still asks for the PIN, whoever is standing there.
    again, ask_again = pins(PIN)
    assert login_with_card(card, HttpPivServer(http), ask_again)["access_token"]
    assert again == [PinRequest(retries_left=3, wrong_pin=False)]


def test_an_rsa_2048_card_signs_in_too(
    http: TestClient,
    deployment: Deployment,
    repo: PivService,
    rsa_applet_state: dict[str, Any],
    clock: FrozenClock,
) -> None:
    clock.set(time.time())
    _, rsa_card = fresh_card(rsa_applet_state)
    add_user(deployment, "rita")
    info = repo.register("rita", card_der(rsa_card), by="test")
    assert info.key_algorithm == "RSA2048"
    tokens = login_with_card(rsa_card, HttpPivServer(http), pins(PIN)[1])
    assert claims(tokens["access_token"])["sub"] == "rita"


def test_the_challenge_is_32_fresh_bytes_each_time(
    http: TestClient, deployment: Deployment, repo: PivService
) -> None:
    add_user(deployment)
    certificate, _ = make_card_certificate()
    repo.register("alice", certificate.public_bytes(Encoding.DER), by="test")
    first = challenge(http, certificate.public_bytes(Encoding.DER))
    second = challenge(http, certificate.public_bytes(Encoding.DER))
    assert first.status_code == second.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    body = first.json()
    assert set(body) == {"handle", "challenge", "expires_in"}
    assert body["expires_in"] == 120
    assert len(b64url_decode(body["challenge"])) == 32
    assert body["challenge"] != second.json()["challenge"]
    assert body["handle"] != second.json()["handle"]


def _enroll_at(
    repo: PivService, clock: FrozenClock, username: str, **kwargs: Any
) -> tuple[bytes, Any]:
    """Enroll a test certificate while it is valid, then put the clock back."""
    certificate, key = make_card_certificate(**kwargs)
    saved = clock.now()
    clock.set(certificate.not_valid_before_utc.timestamp() + 1)
    repo.register(username, certificate.public_bytes(Encoding.DER), by="test")
    clock.set(saved)
    return certificate.public_bytes(Encoding.DER), key


def test_every_refusal_comes_at_the_signature_and_the_challenge_looks_the_same(
    http: TestClient, deployment: Deployment, repo: PivService, clock: FrozenClock
) -> None:
    for name in ("alice", "dora"):
        add_user(deployment, name)
    enrolled, _ = _enroll_at(repo, clock, "alice")
    unknown, unknown_key = make_card_certificate()
    revoked, revoked_key = _enroll_at(repo, clock, "alice")
    repo.revoke(_fingerprint(revoked), by="test")
    expired, expired_key = _enroll_at(
        repo, clock, "alice", not_before=NOW - 10 * DAY, not_after=NOW - DAY
    )
    future, future_key = _enroll_at(
        repo, clock, "alice", not_before=NOW + DAY, not_after=NOW + 9 * DAY
    )
    disabled, disabled_key = _enroll_at(repo, clock, "dora")
    disable(deployment, "dora")
    unsupported, unsupported_key = make_card_certificate(algorithm="ECCP384")
    cases = {
        "unknown_certificate": (unknown.public_bytes(Encoding.DER), unknown_key),
        "revoked": (revoked, revoked_key),
        "expired": (expired, expired_key),
        "not_yet_valid": (future, future_key),
        "user_disabled": (disabled, disabled_key),
        "unsupported_key": (unsupported.public_bytes(Encoding.DER), unsupported_key),
    }
    good = challenge(http, enrolled)
    assert good.status_code == 200
    shape = {k: type(v) for k, v in good.json().items()}
    for reason, (der, key) in cases.items():
        # A stranger cannot tell an enrolled certificate from any other here...
        response = challenge(http, der)
        assert response.status_code == 200, reason
        body = response.json()
        assert {k: type(v) for k, v in body.items()} == shape, reason
        assert len(b64url_decode(body["challenge"])) == 32
        assert body["expires_in"] == good.json()["expires_in"]
        # ...and the refusal at the second step is the sentence of a bad signature, even
        # with a signature the card's key really made.
        refused = finish(
            http, body["handle"], login_signature(key, b64url_decode(body["challenge"]))
        )
        assert (refused.status_code, refused.json()) == (400, REFUSAL), reason
    begun = audit_events(deployment, "piv_challenge")
    assert [e["detail"].get("reason") for e in begun] == [None, *cases]
    assert all(e["outcome"] == "failure" and e["detail"]["fingerprint"] for e in begun[1:])
    logged = audit_events(deployment, "piv_login")
    assert [e["detail"]["reason"] for e in logged] == list(cases)
    assert all(e["outcome"] == "failure" and e["detail"]["fingerprint"] for e in logged)
    assert audit_events(deployment, "login") == []


def _fingerprint(der: bytes) -> str:
    from tokenstile.factors.piv import fingerprint, load_certificate

    return fingerprint(load_certificate(der))


def test_an_untrusted_chain_is_refused_once_an_anchor_is_set(
    http: TestClient, deployment: Deployment, repo: PivService
) -> None:
    add_user(deployment)
    corp = make_ca("Corp Root")
    stranger = make_ca("Stranger CA")
    trusted, _ = make_card_certificate(corp)
    untrusted, _ = make_card_certificate(stranger)
    repo.register("alice", untrusted.public_bytes(Encoding.DER), by="test")  # no anchors yet
    repo.add_trust_anchors(corp.pem(), by="test")
    repo.register("alice", trusted.public_bytes(Encoding.DER), by="test")
    # Enrolling it now is refused too, with the reason for the admin.
    from tokenstile.factors.piv import CertificateRefused

    with pytest.raises(CertificateRefused, match="trust anchor"):
        repo.register(
            "alice", make_card_certificate(stranger)[0].public_bytes(Encoding.DER), by="t"
        )
    refused = challenge(http, untrusted.public_bytes(Encoding.DER))
    assert refused.status_code == 200  # the refusal comes at the signature
    assert finish(http, refused.json()["handle"], b"\x01").json() == REFUSAL
    assert challenge(http, trusted.public_bytes(Encoding.DER)).status_code == 200
    reasons = [e["detail"].get("reason") for e in audit_events(deployment, "piv_challenge")]
    assert reasons == ["untrusted", None]
    assert [e["detail"]["reason"] for e in audit_events(deployment, "piv_login")] == ["untrusted"]


def test_every_refusal_at_the_signature_looks_the_same(
    http: TestClient, deployment: Deployment, repo: PivService, clock: FrozenClock
) -> None:
    add_user(deployment)
    certificate, key = make_card_certificate()
    der = certificate.public_bytes(Encoding.DER)
    info = repo.register("alice", der, by="test")

    def begin() -> tuple[str, bytes]:
        body = challenge(http, der).json()
        return body["handle"], b64url_decode(body["challenge"])

    outcomes: list[tuple[str, Any]] = []
    handle, nonce = begin()
    outcomes.append(("bad_signature", finish(http, handle, login_signature(key, b"x" * 32))))
    outcomes.append(("reused", finish(http, handle, login_signature(key, nonce))))
    # A signature over another (real) challenge of the same card.
    handle_a, _ = begin()
    _, nonce_b = begin()
    outcomes.append(("bad_signature", finish(http, handle_a, login_signature(key, nonce_b))))
    # The bare challenge, as a card signed it before the login message existed.
    handle, nonce = begin()
    outcomes.append(("bad_signature", finish(http, handle, card_signature(key, nonce))))
    # The right challenge in a login message naming another service: a relay.
    handle, nonce = begin()
    relayed = login_signature(key, nonce, "https://auth.example.evil")
    outcomes.append(("bad_signature", finish(http, handle, relayed)))
    handle, nonce = begin()
    outcomes.append(
        ("bad_signature", finish(http, handle, login_signature(key, nonce, "http://auth.example")))
    )
    outcomes.append(("unknown_handle", finish(http, "A" * 43, login_signature(key, nonce_b))))
    outcomes.append(("unknown_handle", finish(http, "nonsense", b"\x01")))
    handle, nonce = begin()
    clock.advance(121)
    outcomes.append(("handle_expired", finish(http, handle, login_signature(key, nonce))))
    handle, nonce = begin()
    disable(deployment, "alice")
    outcomes.append(("user_disabled", finish(http, handle, login_signature(key, nonce))))
    deployment.store.set_user_enabled(
        "alice", True, at=clock.now(), audit=AuditEvent("user_enabled", "info")
    )
    handle, nonce = begin()
    repo.revoke(info.fingerprint, by="test")
    outcomes.append(("revoked", finish(http, handle, login_signature(key, nonce))))
    for reason, response in outcomes:
        assert (response.status_code, response.json()) == (400, REFUSAL), reason
    logged = [e["detail"]["reason"] for e in audit_events(deployment, "piv_login")]
    assert logged == [reason for reason, _ in outcomes]
    assert audit_events(deployment, "login") == []


def test_a_handle_is_single_use_even_with_the_right_signature(
    http: TestClient, deployment: Deployment, repo: PivService
) -> None:
    add_user(deployment)
    certificate, key = make_card_certificate()
    der = certificate.public_bytes(Encoding.DER)
    repo.register("alice", der, by="test")
    body = challenge(http, der).json()
    signature = login_signature(key, b64url_decode(body["challenge"]))
    assert finish(http, body["handle"], signature).status_code == 200
    again = finish(http, body["handle"], signature)
    assert (again.status_code, again.json()) == (400, REFUSAL)
    assert [e["outcome"] for e in audit_events(deployment, "piv_login")] == ["success", "failure"]
    assert len(audit_events(deployment, "login")) == 1


MALFORMED = [
    ("/login/piv/challenge", b"{", "not valid JSON"),
    ("/login/piv/challenge", b"[]", "JSON object"),
    ("/login/piv/challenge", b"{}", "certificate member is missing"),
    ("/login/piv/challenge", b'{"certificate": 7}', "certificate member is missing"),
    ("/login/piv/challenge", b'{"certificate": "%%%"}', "not base64url"),
    ("/login/piv/challenge", b'{"certificate": "ab+/"}', "not base64url"),
    ("/login/piv/challenge", b'{"certificate": "QUJD"}', "not a DER X.509"),
    ("/login/piv/challenge", b'{"certificate": "QQ", "certificate": "QQ"}', "repeated"),
    ("/login/piv/challenge", b'{"certificate": "QUJD", "client_id": ""}', "client_id"),
    ("/login/piv/challenge", b'{"certificate": "' + b"A" * 40_000 + b'"}', "too large"),
    ("/login/piv", b"{}", "handle member"),
    ("/login/piv", b'{"handle": 1, "signature": "QQ"}', "handle member"),
    ("/login/piv", b'{"handle": "h"}', "signature member"),
    ("/login/piv", b'{"handle": "h", "signature": "***"}', "not base64url"),
    ("/login/piv", b'{"handle": "h", "signature": "' + b"A" * 5000 + b'"}', "too large"),
]


def test_malformed_requests_are_invalid_request(http: TestClient) -> None:
    for path, content, message in MALFORMED:
        response = http.post(path, content=content, headers={"content-type": "application/json"})
        assert response.status_code == 400, content[:60]
        assert response.json()["error"] == "invalid_request"
        assert message in response.json()["error_description"], content[:60]


def test_garbage_der_is_audited_and_a_form_body_is_refused(
    http: TestClient, deployment: Deployment
) -> None:
    assert challenge(http, b"\x30\x03\x02\x01\x01").json()["error"] == "invalid_request"
    assert audit_events(deployment, "piv_challenge")[-1]["detail"] == {"reason": "malformed"}
    form = http.post("/login/piv/challenge", data={"certificate": "x"})
    assert (form.status_code, form.json()["error"]) == (400, "invalid_request")


def test_padded_base64url_is_tolerated(
    http: TestClient, deployment: Deployment, repo: PivService
) -> None:
    add_user(deployment)
    certificate, _ = make_card_certificate()
    der = certificate.public_bytes(Encoding.DER)
    repo.register("alice", der, by="test")
    padded = base64.urlsafe_b64encode(der).decode()
    assert http.post("/login/piv/challenge", json={"certificate": padded}).status_code == 200


def test_the_client_is_checked_before_the_card(
    http: TestClient, deployment: Deployment, repo: PivService
) -> None:
    add_user(deployment)
    certificate, key = make_card_certificate()
    der = certificate.public_bytes(Encoding.DER)
    repo.register("alice", der, by="test")
    unknown = challenge(http, der, client_id="no-such-client")
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")
    deployment.add_client(
        "payroll-api", kind="resource-server", audiences=["https://pay"], scopes=[]
    )
    api = next(c for c in deployment.store.list_clients() if c.name == "payroll-api")
    refused = challenge(http, der, client_id=api.client_id)
    assert (refused.status_code, refused.json()["error"]) == (400, "unauthorized_client")
    assert audit_events(deployment, "piv_challenge") == []  # the card was never looked at
    # A smart card meets the strictest audience policy there is.
    app_client, _ = deployment.add_client(
        "payroll-app", kind="app", audiences=["https://pay"], scopes=["openid"]
    )
    deployment.store.set_audience(
        AudiencePolicy("https://pay", min_acr="phrh"),
        at=deployment.clock.now(),
        audit=AuditEvent("audience_set", "info"),
    )
    body = challenge(http, der, client_id=app_client.client_id).json()
    tokens = finish(http, body["handle"], login_signature(key, b64url_decode(body["challenge"])))
    assert tokens.status_code == 200
    access = claims(tokens.json()["access_token"])
    assert (access["aud"], access["client_id"]) == ("https://pay", app_client.client_id)


# -- the kiosk glue ------------------------------------------------------------------------------


def test_pin_blocked_after_the_last_try_then_unblocked_with_the_puk(
    http: TestClient, deployment: Deployment, repo: PivService, card: PivCard
) -> None:
    add_user(deployment)
    repo.register("alice", card_der(card), by="test")
    shown, ask = pins("000000", "111111", "222222")
    with pytest.raises(PinBlocked):
        login_with_card(card, HttpPivServer(http), ask)
    assert [r.retries_left for r in shown] == [3, 2, 1]
    # Blocked: the PIN pad is not even shown again.
    shown, ask = pins(PIN)
    with pytest.raises(PinBlocked):
        login_with_card(card, HttpPivServer(http), ask)
    assert shown == []
    card.unblock_pin("12345678", "654321")
    tokens = login_with_card(card, HttpPivServer(http), pins("654321")[1])
    assert claims(tokens["access_token"])["sub"] == "alice"


def test_cancel_at_the_pin_pad(
    http: TestClient, deployment: Deployment, repo: PivService, card: PivCard
) -> None:
    add_user(deployment)
    repo.register("alice", card_der(card), by="test")
    with pytest.raises(PinEntryCancelled):
        login_with_card(card, HttpPivServer(http), pins(None)[1])
    assert audit_events(deployment, "piv_login") == []


def test_a_challenge_that_lapsed_while_typing_is_asked_for_again(
    http: TestClient, deployment: Deployment, repo: PivService, card: PivCard
) -> None:
    add_user(deployment)
    repo.register("alice", card_der(card), by="test")
    ticks = iter([0.0, 200.0])
    server = HttpPivServer(http)
    tokens = login_with_card(card, server, pins(PIN)[1], clock=lambda: next(ticks))
    assert server.challenges == 2
    assert claims(tokens["access_token"])["sub"] == "alice"


def test_an_unknown_card_is_refused_like_a_bad_signature(
    http: TestClient, deployment: Deployment, card: PivCard
) -> None:
    # The challenge step cannot say "unknown card" (a stranger would learn who is
    # enrolled from it): the card signs, and the second step refuses.
    shown, ask = pins(PIN)
    with pytest.raises(LoginRefused) as refused:
        login_with_card(card, HttpPivServer(http), ask)
    assert (refused.value.status, refused.value.body) == (400, REFUSAL)
    assert shown == [PinRequest(retries_left=3)]
    [logged] = audit_events(deployment, "piv_login")
    assert (logged["outcome"], logged["detail"]["reason"]) == ("failure", "unknown_certificate")


def test_the_signature_names_the_configured_service_not_the_host_header(
    deployment: Deployment, repo: PivService, card: PivCard
) -> None:
    add_user(deployment)
    repo.register("alice", card_der(card), by="test")
    app = create_app(deployment)
    # The request's Host says evil.example; the kiosk is configured with the issuer.
    with TestClient(app, base_url="https://evil.example") as other_host:
        configured = HttpPivServer(other_host, service_url="https://auth.example/")
        tokens = login_with_card(card, configured, pins(PIN)[1])
        assert claims(tokens["access_token"])["sub"] == "alice"
        # A kiosk pointed at evil.example signs for evil.example: the service refuses,
        # whatever Host header the request carries.
        with pytest.raises(LoginRefused) as refused:
            login_with_card(card, HttpPivServer(other_host), pins(PIN)[1])
        assert refused.value.body == REFUSAL
    logged = audit_events(deployment, "piv_login")
    assert [(e["outcome"], e["detail"].get("reason")) for e in logged] == [
        ("success", None),
        ("failure", "bad_signature"),
    ]


class _RogueServer:
    """A server that sends whatever challenge it likes."""

    origin = "https://auth.example"

    def __init__(self, challenge: bytes) -> None:
        self.challenge = challenge
        self.signatures: list[bytes] = []

    def begin(self, certificate: bytes) -> PivChallenge:
        return PivChallenge(handle="A" * 43, challenge=self.challenge)

    def complete(self, handle: str, signature: bytes) -> dict[str, Any]:
        self.signatures.append(signature)
        return {}


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64, 130])
def test_a_challenge_that_is_not_32_bytes_is_never_signed(card: PivCard, length: int) -> None:
    rogue = _RogueServer(bytes(length))
    shown, ask = pins(PIN)
    with pytest.raises(ForeignChallengeRefused, match=f"{length}-byte challenge"):
        login_with_card(card, rogue, ask)
    assert shown == []  # refused before the PIN pad
    assert rogue.signatures == []
    assert card.pin_status().retries_left == 3


def test_the_card_signs_the_login_message_not_the_challenge(card: PivCard) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from tokenstile.protocol.piv_message import login_message

    nonce = bytes(range(32))
    rogue = _RogueServer(nonce)
    login_with_card(card, rogue, pins(PIN)[1])
    [signature] = rogue.signatures
    key = card.read_certificate().public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    message = login_message("https://auth.example", nonce)
    assert message == (
        b"Tokenstile PIV login v1\x00" + b"\x00\x14" + b"https://auth.example" + nonce
    )
    key.verify(signature, message, ec.ECDSA(hashes.SHA256()))


# -- UPN mapping ---------------------------------------------------------------------------------


def test_a_certificate_maps_to_a_person_by_its_upn_when_configured(
    tmp_path: Path, clock: FrozenClock
) -> None:
    corp = make_ca("Corp Root")
    anchors = tmp_path / "corp.pem"
    anchors.write_bytes(corp.pem())
    dep = make_deployment(
        f"sqlite:///{tmp_path / 'upn.db'}",
        clock,
        piv_trust_anchors=[anchors],
        piv_map_upn=True,
        piv_upn_domain="corp.example",
    )
    try:
        add_user(dep, "alice")
        certificate, key = make_card_certificate(corp, upn="alice@corp.example")
        der = certificate.public_bytes(Encoding.DER)
        with TestClient(create_app(dep), base_url="https://auth.example") as client:
            body = challenge(client, der).json()
            tokens = finish(
                client, body["handle"], login_signature(key, b64url_decode(body["challenge"]))
            )
            assert claims(tokens.json()["access_token"])["sub"] == "alice"
            self_signed, self_key = make_card_certificate(upn="alice@corp.example")
            other = challenge(client, self_signed.public_bytes(Encoding.DER)).json()
            signed = login_signature(self_key, b64url_decode(other["challenge"]))
            assert finish(client, other["handle"], signed).json() == REFUSAL
        repo = PivService(SqlPivStorage(dep.store), box=dep.kek, clock=clock)
        [recorded] = repo.cards("alice")
        assert (recorded.source, recorded.upn, recorded.enrolled_by) == (
            "upn",
            "alice@corp.example",
            "upn-mapping",
        )
    finally:
        dep.close()


def test_a_trust_anchor_file_that_is_not_a_ca_stops_the_app(
    tmp_path: Path, clock: FrozenClock
) -> None:
    from tokenstile.errors import ConfigError

    leaf = make_ca("Leaf", is_ca=False)
    bad = tmp_path / "leaf.pem"
    bad.write_bytes(leaf.pem())
    for files, message in (([bad], "not a CA"), ([tmp_path / "missing.pem"], "Cannot read")):
        dep = make_deployment(f"sqlite:///{tmp_path / 'bad.db'}", clock, piv_trust_anchors=files)
        try:
            with pytest.raises(ConfigError, match=message):
                create_app(dep)
        finally:
            dep.close()


def test_an_attestation_root_file_that_cannot_be_read_stops_the_app(
    tmp_path: Path, clock: FrozenClock
) -> None:
    from tokenstile.errors import ConfigError

    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate")
    for files, message in (
        ([tmp_path / "missing.pem"], "Cannot read the attestation root file"),
        ([junk], "holds no PEM certificate"),
    ):
        dep = make_deployment(
            f"sqlite:///{tmp_path / 'bad.db'}", clock, piv_attestation_roots=files
        )
        try:
            with pytest.raises(ConfigError, match=message):
                create_app(dep)
        finally:
            dep.close()


# -- the admin API -------------------------------------------------------------------------------


def test_the_admin_api_needs_an_admin_token(http: TestClient, deployment: Deployment) -> None:
    assert http.get("/admin/piv/cards").status_code == 401
    alice = add_user(deployment, "alice")
    plain = {"Authorization": f"Bearer {token_for(deployment, alice)}"}
    refused = http.post("/admin/piv/revoke", json={"fingerprint": "00" * 32}, headers=plain)
    assert (refused.status_code, refused.json()["error"]) == (403, "insufficient_scope")
    assert http.post("/admin/piv/cards", content=b"{").status_code == 401


def test_admin_enrolls_a_cards_certificate_lists_and_revokes_it(
    http: TestClient,
    deployment: Deployment,
    card: PivCard,  # before the admin's token: it sets the clock to the card's time
    admin_headers: dict[str, str],
) -> None:
    add_user(deployment, "alice")
    guid = card.read_chuid().card_id
    body = {"username": "alice", "certificate": b64url_encode(card_der(card)), "card_guid": guid}
    made = http.post("/admin/piv/cards", json=body, headers=admin_headers)
    assert made.status_code == 201, made.text
    enrolled = made.json()
    assert (enrolled["username"], enrolled["state"], enrolled["source"]) == (
        "alice",
        "active",
        "registered",
    )
    assert (enrolled["enrolled_by"], enrolled["card_guid"]) == ("admin:root", guid)
    again = http.post("/admin/piv/cards", json=body, headers=admin_headers)
    assert (again.status_code, again.json()["error"]) == (409, "conflict")
    listed = http.get("/admin/piv/cards?username=alice", headers=admin_headers).json()
    assert [c["fingerprint"] for c in listed["cards"]] == [enrolled["fingerprint"]]
    assert http.get("/admin/piv/cards?username=nobody", headers=admin_headers).status_code == 404
    # The kiosk signs in, then the admin revokes by the fingerprint's first digits.
    assert login_with_card(card, HttpPivServer(http), pins(PIN)[1])["access_token"]
    revoked = http.post(
        "/admin/piv/revoke",
        json={"fingerprint": enrolled["fingerprint"][:12]},
        headers=admin_headers,
    )
    assert (revoked.status_code, revoked.json()["state"]) == (200, "revoked")
    twice = http.post(
        "/admin/piv/revoke", json={"fingerprint": enrolled["fingerprint"]}, headers=admin_headers
    )
    assert twice.status_code == 409
    unknown = http.post("/admin/piv/revoke", json={"fingerprint": "ab" * 32}, headers=admin_headers)
    assert unknown.status_code == 404
    with pytest.raises(LoginRefused):
        login_with_card(card, HttpPivServer(http), pins(PIN)[1])
    [row] = audit_events(deployment, "piv_revoked")
    assert row["detail"]["by"] == "admin:root"
    # A revoked certificate cannot come back.
    back = http.post("/admin/piv/cards", json=body, headers=admin_headers)
    assert back.status_code == 409
    assert "revoked" in back.json()["error_description"]


ENROLLMENT_BAD_INPUT = [
    ({"username": "alice", "certificate": "%%%"}, 400, "not base64url"),
    ({"username": "alice", "certificate": "QUJD"}, 400, "not DER"),
    ({"username": "nobody", "certificate": "VALID"}, 404, "No user"),
    ({"username": "alice", "certificate": "EXPIRED"}, 400, "expired on"),
    ({"username": "alice", "certificate": "VALID", "card_guid": "xyz"}, 400, "hex"),
    ({"username": "alice", "certificate": "VALID", "extra": 1}, 400, "malformed"),
    ({"username": "al\u0000ice", "certificate": "VALID"}, 400, "not allowed"),
]


def test_admin_enrollment_bad_input(
    http: TestClient, deployment: Deployment, admin_headers: dict[str, str]
) -> None:
    add_user(deployment, "alice")
    valid, _ = make_card_certificate()
    expired, _ = make_card_certificate(not_before=NOW - 9 * DAY, not_after=NOW - DAY)
    samples = {"VALID": valid, "EXPIRED": expired}
    for case, status, fragment in ENROLLMENT_BAD_INPUT:
        body = dict(case)
        if body["certificate"] in samples:
            sample = samples[body["certificate"]].public_bytes(Encoding.DER)
            body["certificate"] = b64url_encode(sample)
        response = http.post("/admin/piv/cards", json=body, headers=admin_headers)
        assert response.status_code == status, response.text
        assert fragment in response.json()["error_description"]
    assert audit_events(deployment, "piv_enrolled") == []


def test_admin_issues_a_certificate_for_a_key_generated_on_the_card(
    http: TestClient,
    deployment: Deployment,
    ec_applet_state: dict[str, Any],
    clock: FrozenClock,
) -> None:
    clock.set(time.time())
    admin_headers = new_admin_headers(deployment)  # issued at the clock's time
    add_user(deployment, "alice", display_name="Alice Example")
    _, station = fresh_card(ec_applet_state)
    # The admin station: management key, a new key in 9A, its public key to the server.
    station.authenticate(DEFAULT_MANAGEMENT_KEY, ManagementKeyAlgorithm.TDES)
    public_key = station.generate_key(PivSlot.AUTHENTICATION, KeyAlgorithm.ECCP256)
    spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    issued = http.post(
        "/admin/piv/issue",
        json={"username": "alice", "public_key": b64url_encode(spki), "label": "Badge 7"},
        headers=admin_headers,
    )
    assert issued.status_code == 201, issued.text
    body = issued.json()
    certificate = x509.load_der_x509_certificate(b64url_decode(body["certificate"]))
    assert certificate.public_key() == public_key
    assert body["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert (body["card"]["source"], body["card"]["label"]) == ("issued", "Badge 7")
    station.put_certificate(PivSlot.AUTHENTICATION, certificate)
    # The built-in CA was created on demand; the CA endpoint shows it.
    cas = http.get("/admin/piv/ca", headers=admin_headers).json()
    [ca] = cas["issuing_cas"]
    assert (ca["source"], ca["active"], cas["trust_anchors"]) == ("builtin", True, [])
    assert certificate.issuer.rfc4514_string() == ca["subject"]
    [created] = audit_events(deployment, "piv_ca_created")
    assert created["detail"]["by"] == "admin:root"
    # The person signs in with the card the station wrote.
    tokens = login_with_card(station, HttpPivServer(http), pins(PIN)[1])
    assert claims(tokens["access_token"])["sub"] == "alice"


def test_admin_issue_bad_public_key(
    http: TestClient, deployment: Deployment, admin_headers: dict[str, str]
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    add_user(deployment, "alice")
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    cases = [
        ("%%%", "not base64url"),
        ("QUJD", "SubjectPublicKeyInfo"),
        (
            b64url_encode(p384.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)),
            "P-256",
        ),
    ]
    for public_key, fragment in cases:
        response = http.post(
            "/admin/piv/issue",
            json={"username": "alice", "public_key": public_key},
            headers=admin_headers,
        )
        assert response.status_code == 400
        assert fragment in response.json()["error_description"]
    assert audit_events(deployment, "piv_ca_created") == []


def test_the_openapi_document_describes_the_piv_routes(http: TestClient) -> None:
    doc = http.get("/openapi.json").json()
    begin = doc["paths"]["/login/piv/challenge"]["post"]
    schema = begin["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["certificate"]
    assert {"200", "400", "401", "503"} <= set(begin["responses"])
    finish_op = doc["paths"]["/login/piv"]["post"]
    assert finish_op["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "handle",
        "signature",
    ]
    assert doc["paths"]["/admin/piv/issue"]["post"]["security"] == [{"adminBearer": []}]
    assert {"/admin/piv/cards", "/admin/piv/revoke", "/admin/piv/ca"} <= set(doc["paths"])
    # Attestation is optional on both enrollments: an old station's body still fits.
    for path in ("/admin/piv/issue", "/admin/piv/cards"):
        body = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        schema = body["schema"]
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        assert {"attestation", "attestation_intermediate"} <= set(schema["properties"])
        assert not {"attestation", "attestation_intermediate"} & set(schema.get("required", []))
    setup = doc["paths"]["/admin/piv/setup-audit"]["post"]
    assert setup["security"] == [{"adminBearer": []}]


def test_challenge_rows_are_hashed_and_expired_ones_are_dropped(
    http: TestClient, deployment: Deployment, repo: PivService, clock: FrozenClock
) -> None:
    from sqlalchemy import select

    from tokenstile.store import schema as t

    add_user(deployment)
    certificate, _ = make_card_certificate()
    der = certificate.public_bytes(Encoding.DER)
    repo.register("alice", der, by="test")
    handle = challenge(http, der).json()["handle"]
    with deployment.engine.connect() as conn:
        rows = conn.execute(select(t.piv_challenges)).all()
    assert len(rows) == 1
    assert handle.encode() not in rows[0].handle_hash
    clock.advance(120 + 61)
    challenge(http, der)
    with deployment.engine.connect() as conn:
        assert len(conn.execute(select(t.piv_challenges)).all()) == 1  # the old one is gone


def test_the_card_confirms_an_action_of_the_person_signed_in(
    http: TestClient, deployment: Deployment, repo: PivService, card: PivCard
) -> None:
    """Confirm with your card: the same ceremony (card, PIN, signature) with a
    ``confirm`` member gives a single-use confirm token of the card's ``acr``, and the
    audit row ties the reason to the certificate."""
    add_user(deployment, "alice")
    info = repo.register("alice", card_der(card), by="test")
    session = login_with_card(card, HttpPivServer(http), pins(PIN)[1])
    asked = {"session_token": session["access_token"], "reason": "sign off batch 7", "app": "QA"}
    confirmed = login_with_card(card, HttpPivServer(http, confirm=asked), pins(PIN)[1])
    assert set(confirmed) == {"access_token", "token_type", "expires_in"}
    token = claims(confirmed["access_token"])
    assert (token["sub"], token["acr"], token["amr"]) == ("alice", "phrh", ["sc", "pin", "mfa"])
    assert token["confirm"] == {"reason": "sign off batch 7", "app": "QA"}
    assert token["sid"] == claims(session["access_token"])["sid"]
    [row] = audit_events(deployment, "confirm")
    assert row["outcome"] == "success"
    assert row["detail"]["credential"] == "piv:" + info.fingerprint
    # Without a live session of the card's person, nothing is confirmed.
    stranger = {**asked, "session_token": confirmed["access_token"]}
    with pytest.raises(LoginRefused) as refused:
        login_with_card(card, HttpPivServer(http, confirm=stranger), pins(PIN)[1])
    assert refused.value.body["error_description"] == "Nobody is signed in at this kiosk."
