"""DPoP-bound sessions (RFC 9449) through the real ASGI app and real server processes.

A client that signs in with a ``DPoP`` header gets tokens bound to its key: access tokens
carry ``cnf.jkt`` and ``token_type: DPoP``; refresh needs a fresh proof of the same key;
a proof is single use, on every replica. A stolen bound access token is useless without
the key, at userinfo and at ``AccessTokenVerifier``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import ServerProcess, add_user, kiosk_client
from tests.unit.factors.piv_test_pki import NOW as PIV_NOW
from tests.unit.factors.piv_test_pki import login_signature, make_card_certificate
from tests.unit.factors.webauthn_keys import Kiosk
from tokenstile.cli.main import main
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.deployment import DEFAULT_ADMIN_CLIENT_ID, DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.factors.otp import totp_code
from tokenstile.factors.otp_service import OtpService
from tokenstile.factors.piv_service import PivService
from tokenstile.protocol.dpop import PrivateKey, dpop_public_jwk, make_dpop_proof
from tokenstile.protocol.jose import b64url_decode, b64url_encode, jwk_thumbprint
from tokenstile.server.app import create_app
from tokenstile.server.dpop import check_binding, presented_token
from tokenstile.store import schema as t
from tokenstile.store.otp_repository import SqlOtpStore
from tokenstile.store.piv_repository import SqlPivStorage
from tokenstile.tokens import AccessTokenVerifier
from tokenstile.tokens.dpop import DpopProofError

ISSUER = "https://auth.example"
SEED = b"12345678901234567890"
KIOSK = DEFAULT_KIOSK_CLIENT_ID
Json = dict[str, Any]


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def thumbprint(key: PrivateKey) -> str:
    return jwk_thumbprint(dpop_public_jwk(key))


def claims(token: str) -> Json:
    decoded: Json = jwt.decode(token, options={"verify_signature": False})
    return decoded


def error_of(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    body: Json = response.json()
    assert body["error_description"].endswith(".")
    return str(body["error"])


class Person:
    """Someone signing in with a TOTP app at a client that holds a DPoP key."""

    def __init__(
        self,
        http: TestClient | httpx.Client,
        clock: Callable[[], float],
        *,
        base: str = ISSUER,
        client_id: str = KIOSK,
        key: PrivateKey | None = None,
    ) -> None:
        self.http = http
        self.clock = clock
        self.base = base
        self.client_id = client_id
        self.key = key
        self.refresh_token = ""
        self.access_token = ""

    def proof(self, method: str, path: str, *, key: PrivateKey | None = None, **kw: Any) -> str:
        signer = key or self.key
        assert signer is not None
        return make_dpop_proof(signer, method=method, url=self.base + path, now=self.clock(), **kw)

    def headers(self, proof: str | None) -> dict[str, str]:
        return {"DPoP": proof} if proof is not None else {}

    def sign_in(self, username: str = "alice", *, proof: str | None = "make") -> httpx.Response:
        if proof == "make":
            proof = self.proof("POST", "/login/totp") if self.key is not None else None
        response = self.http.post(
            "/login/totp",
            json={
                "username": username,
                "code": totp_code(SEED, self.clock()),
                "client_id": self.client_id,
            },
            headers=self.headers(proof),
        )
        if response.status_code == 200:
            self.keep(response.json())
        return response

    def refresh(self, *, proof: str | None = "make", token: str | None = None) -> httpx.Response:
        if proof == "make":
            proof = self.proof("POST", "/token")
        response = self.http.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": token or self.refresh_token,
                "client_id": self.client_id,
            },
            headers=self.headers(proof),
        )
        if response.status_code == 200:
            self.keep(response.json())
        return response

    def keep(self, body: Json) -> None:
        self.refresh_token = body["refresh_token"]
        self.access_token = body["access_token"]


@pytest.fixture
def http(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment), base_url=ISSUER) as client:
        yield client


@pytest.fixture
def alice(deployment: Deployment) -> None:
    add_user(deployment, "alice")
    OtpService(
        SqlOtpStore(deployment.store), box=deployment.kek, clock=deployment.clock
    ).enroll_app("alice", by="test", seed=SEED)


@pytest.fixture
def dpop_app(deployment: Deployment) -> str:
    client, _ = deployment.add_client(
        "dpop-app", kind="app", audiences=[], scopes=[], client_id="dpop-app", dpop_bound=True
    )
    return client.client_id


def next_code_step(clock: FrozenClock) -> None:
    clock.advance(30)  # a TOTP code is accepted once: the next login needs the next step


def session_row(dep: Deployment, sid: str) -> Any:
    with dep.engine.connect() as conn:
        return conn.execute(select(t.sessions).where(t.sessions.c.sid == sid)).one()


# -- discovery ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_metadata_advertises_dpop_and_token_exchange(http: TestClient, path: str) -> None:
    body = http.get(path).json()
    assert body["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    assert body["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]
    assert "cnf" in body["claims_supported"]


# -- sign in, refresh ---------------------------------------------------------------------------


@pytest.mark.usefixtures("alice")
def test_a_dpop_bound_client_signs_in_only_with_a_proof(
    http: TestClient, deployment: Deployment, clock: FrozenClock, dpop_app: str
) -> None:
    person = Person(http, clock.now, client_id=dpop_app, key=new_key())
    refused = person.sign_in(proof=None)
    assert error_of(refused) == "invalid_dpop_proof"
    assert "must send a DPoP proof" in refused.json()["error_description"]
    response = person.sign_in()  # the same code: the refusal came before it was tried
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    access = claims(body["access_token"])
    jkt = thumbprint(person.key)  # type: ignore[arg-type]
    assert access["cnf"] == {"jkt": jkt}
    assert session_row(deployment, access["sid"]).dpop_jkt == jkt
    [login] = [e for e in deployment.store.audit_entries() if e["event"] == "login"]
    assert login["detail"]["dpop_jkt"] == jkt


@pytest.mark.usefixtures("alice")
@pytest.mark.parametrize("make_key", [new_key, ed25519.Ed25519PrivateKey.generate])
def test_refresh_needs_a_fresh_proof_of_the_same_key(
    http: TestClient, deployment: Deployment, clock: FrozenClock, dpop_app: str, make_key: Any
) -> None:
    person = Person(http, clock.now, client_id=dpop_app, key=make_key())
    assert person.sign_in().status_code == 200
    sid = claims(person.access_token)["sid"]
    first = person.refresh()
    assert first.status_code == 200, first.text
    assert first.json()["token_type"] == "DPoP"
    assert claims(person.access_token)["cnf"] == {"jkt": thumbprint(person.key)}  # type: ignore[arg-type]

    # Without a proof, with another key, with a replayed proof, with a proof for another
    # endpoint: refused, and the refresh token is not used up (no reuse alarm either).
    assert error_of(person.refresh(proof=None)) == "invalid_dpop_proof"
    thief = person.proof("POST", "/token", key=new_key())
    assert "not made with the key" in person.refresh(proof=thief).json()["error_description"]
    clock.advance(1)
    good = person.proof("POST", "/token")
    assert person.refresh(proof=good).status_code == 200
    replayed = person.refresh(proof=good)
    assert "used before" in replayed.json()["error_description"]
    wrong_url = person.proof("POST", "/login/totp")
    assert "another URL" in person.refresh(proof=wrong_url).json()["error_description"]
    assert session_row(deployment, sid).revoked_at is None
    assert person.refresh().status_code == 200
    reasons = [
        e["detail"].get("reason")
        for e in deployment.store.audit_entries()
        if e["event"] == "refresh" and e["outcome"] == "failure"
    ]
    assert reasons == ["dpop_key_mismatch"]  # a missing proof is refused before any lookup


@pytest.mark.usefixtures("alice")
def test_any_client_may_bind_its_tokens_by_sending_a_proof(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    # The kiosk client is not DPoP-bound: with a proof its session is, without one not.
    bound = Person(http, clock.now, key=new_key())
    assert bound.sign_in().json()["token_type"] == "DPoP"
    assert error_of(bound.refresh(proof=None)) == "invalid_dpop_proof"
    assert bound.refresh().status_code == 200
    [failed] = [e for e in deployment.store.audit_entries() if e["outcome"] == "failure"]
    assert (failed["event"], failed["detail"]["reason"]) == ("refresh", "dpop_proof_missing")

    next_code_step(clock)
    plain = Person(http, clock.now)
    response = plain.sign_in()
    assert response.json()["token_type"] == "Bearer"
    assert "cnf" not in claims(plain.access_token)
    assert plain.refresh(proof=None).json()["token_type"] == "Bearer"
    # A proof at the refresh of an unbound session binds the new access token to its key.
    plain.key = new_key()
    again = plain.refresh()
    assert again.json()["token_type"] == "DPoP"
    assert claims(plain.access_token)["cnf"] == {"jkt": thumbprint(plain.key)}


@pytest.mark.usefixtures("alice")
def test_a_broken_or_doubled_proof_at_sign_in_is_refused_before_the_code_is_spent(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    person = Person(http, clock.now, key=new_key())
    bad = person.proof("GET", "/login/totp")
    assert "another HTTP method" in person.sign_in(proof=bad).json()["error_description"]
    doubled = http.post(
        "/login/totp",
        json={"username": "alice", "code": totp_code(SEED, clock.now())},
        headers=[("DPoP", person.proof("POST", "/login/totp"))] * 2,
    )
    assert "one DPoP header" in doubled.json()["error_description"]
    # The code was never tried, so it still signs in.
    assert person.sign_in().status_code == 200
    assert not [e for e in deployment.store.audit_entries() if e["outcome"] == "failure"]


def test_security_key_and_smart_card_logins_bind_the_session_too(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    root = add_user(deployment, "root", is_admin=True)
    admin_client = deployment.store.find_client(DEFAULT_ADMIN_CLIENT_ID)
    assert admin_client is not None
    admin_token = (
        deployment.token_service()
        .sessions.open_session(user=root, client=admin_client, factor="otp", amr=["otp"], acr="otp")
        .access_token
    )
    admin = {"Authorization": f"Bearer {admin_token}"}
    add_user(deployment, "alice")
    person = Person(http, clock.now, key=new_key())

    # A security key (the software authenticator through python-fido2's client).
    kiosk = Kiosk()
    begun = http.post("/admin/fido2/register/begin", json={"username": "alice"}, headers=admin)
    done = http.post(
        "/admin/fido2/register/complete",
        json={
            "handle": begun.json()["handle"],
            "credential": kiosk.register(begun.json()["publicKey"]),
            "user_verification": "pin",
        },
        headers=admin,
    )
    assert done.status_code == 201, done.text
    options = http.post("/login/webauthn/options").json()
    signed_in = http.post(
        "/login/webauthn",
        json={"handle": options["handle"], "credential": kiosk.authenticate(options["publicKey"])},
        headers={"DPoP": person.proof("POST", "/login/webauthn")},
    )
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["token_type"] == "DPoP"
    assert claims(signed_in.json()["access_token"])["cnf"] == {"jkt": thumbprint(person.key)}  # type: ignore[arg-type]

    # A smart card (the card's signature made with its key).
    clock.set(PIV_NOW)
    certificate, card_key = make_card_certificate()
    der = certificate.public_bytes(Encoding.DER)
    PivService(SqlPivStorage(deployment.store), box=deployment.kek, clock=clock).register(
        "alice", der, by="test"
    )
    challenge = http.post("/login/piv/challenge", json={"certificate": b64url_encode(der)}).json()
    signature = login_signature(card_key, b64url_decode(challenge["challenge"]))
    card_login = http.post(
        "/login/piv",
        json={"handle": challenge["handle"], "signature": b64url_encode(signature)},
        headers={"DPoP": person.proof("POST", "/login/piv")},
    )
    assert card_login.status_code == 200, card_login.text
    assert claims(card_login.json()["access_token"])["cnf"] == {"jkt": thumbprint(person.key)}  # type: ignore[arg-type]


# -- a stolen access token ------------------------------------------------------------------------


@pytest.mark.usefixtures("alice")
def test_a_stolen_dpop_bound_access_token_is_useless_without_the_key(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    owner = Person(http, clock.now, key=new_key())
    assert owner.sign_in().status_code == 200
    stolen = owner.access_token
    thief_key = new_key()

    def userinfo(scheme: str, proof: str | None) -> httpx.Response:
        headers = {"Authorization": f"{scheme} {stolen}"}
        if proof is not None:
            headers["DPoP"] = proof
        return http.get("/userinfo", headers=headers)

    # At userinfo: as a bearer token, under DPoP without a proof or with the thief's key.
    as_bearer = userinfo("Bearer", None)
    assert error_of(as_bearer, 401) == "invalid_token"
    assert 'DPoP algs="ES256 EdDSA"' in as_bearer.headers["www-authenticate"]
    assert error_of(userinfo("DPoP", None), 401) == "invalid_dpop_proof"
    thief_proof = owner.proof("GET", "/userinfo", key=thief_key, access_token=stolen)
    assert error_of(userinfo("DPoP", thief_proof), 401) == "invalid_dpop_proof"
    # The owner's proof for this token works once; captured and replayed, it does not.
    proof = owner.proof("GET", "/userinfo", access_token=stolen)
    good = userinfo("DPoP", proof)
    assert good.status_code == 200, good.text
    assert good.json()["sub"] == "alice"
    assert error_of(userinfo("DPoP", proof), 401) == "invalid_dpop_proof"
    # A proof of the owner's key made for another token does not carry over (ath).
    other = owner.proof("GET", "/userinfo", access_token=stolen + "x")
    assert error_of(userinfo("DPoP", other), 401) == "invalid_dpop_proof"

    # At a resource server verifying offline from the JWKS.
    verifier = AccessTokenVerifier(
        ISSUER, "urn:tokenstile:local", http.get("/jwks.json").json(), clock=clock
    )
    api = "https://api.example/orders"
    with pytest.raises(DpopProofError, match="only with a DPoP proof"):
        verifier.verify(stolen)
    forged = make_dpop_proof(thief_key, method="GET", url=api, access_token=stolen, now=clock.now())
    with pytest.raises(DpopProofError, match="another key"):
        verifier.verify(stolen, dpop_proof=forged, method="GET", url=api)
    real = make_dpop_proof(owner.key, method="GET", url=api, access_token=stolen, now=clock.now())  # type: ignore[arg-type]
    assert verifier.verify(stolen, dpop_proof=real, method="GET", url=api)["sub"] == "alice"

    # Nor can the thief trade it for another token (token exchange), or refresh.
    exchanged = http.post(
        "/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": stolen,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "audience": "urn:tokenstile:local",
            "client_id": KIOSK,
        },
        headers={"DPoP": owner.proof("POST", "/token", key=thief_key)},
    )
    assert error_of(exchanged) == "invalid_dpop_proof"


@pytest.mark.usefixtures("alice")
def test_an_unbound_token_under_the_dpop_scheme_is_refused(
    http: TestClient, clock: FrozenClock
) -> None:
    person = Person(http, clock.now)
    person.sign_in()
    person.key = new_key()
    proof = person.proof("GET", "/userinfo", access_token=person.access_token)
    response = http.get(
        "/userinfo", headers={"Authorization": f"DPoP {person.access_token}", "DPoP": proof}
    )
    assert "not DPoP-bound" in response.json()["error_description"]
    bearer = http.get("/userinfo", headers={"Authorization": f"Bearer {person.access_token}"})
    assert bearer.status_code == 200


@pytest.mark.usefixtures("alice")
def test_introspection_reports_the_binding(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    rs, secret = deployment.add_client(
        "orders-api", kind="resource-server", audiences=["urn:tokenstile:local"], scopes=[]
    )
    assert secret is not None
    person = Person(http, clock.now, key=new_key())
    person.sign_in()
    response = http.post(
        "/introspect", data={"token": person.access_token}, auth=(rs.client_id, secret)
    )
    body = response.json()
    assert body["active"] is True
    assert body["token_type"] == "DPoP"
    assert body["cnf"] == {"jkt": thumbprint(person.key)}  # type: ignore[arg-type]


def test_a_dpop_bound_client_is_registered_from_the_command_line(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    manage = ["manage", "--db", deployment.settings.db, "client", "add"]
    assert main([*manage, "cli-app", "--kind", "app", "--dpop"]) == 0
    assert capsys.readouterr().out.startswith("client_id: ")
    found = deployment.store.find_client_by_name("cli-app")
    assert found is not None
    assert found.dpop_bound
    assert not kiosk_client(deployment).dpop_bound
    assert main([*manage, "cli-api", "--kind", "resource-server", "--dpop"]) == 2  # usage
    err = capsys.readouterr().err.strip()
    assert err.endswith("not resource servers.")
    assert len(err.splitlines()) == 1
    assert deployment.store.find_client_by_name("cli-api") is None


# -- real server processes ---------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_proof_is_single_use_across_two_replicas(
    server_factory: Callable[..., ServerProcess], request: pytest.FixtureRequest, db: str
) -> None:
    url = request.getfixturevalue("postgres_url") if db == "postgres" else None
    first = server_factory(db=url)
    # Same database and issuer: a second replica behind a balancer.
    second = server_factory(db=first.settings.db, issuer=first.settings.issuer)
    setup = Deployment(load_settings(db=first.settings.db))
    try:
        add_user(setup, "alice")
        OtpService(SqlOtpStore(setup.store), box=setup.kek, clock=setup.clock).enroll_app(
            "alice", by="test", seed=SEED
        )
        setup.add_client(
            "dpop-app", kind="app", audiences=[], scopes=[], client_id="dpop-app", dpop_bound=True
        )
    finally:
        setup.close()
    issuer = first.settings.issuer_url()
    with first.client() as one, second.client() as two:
        person = Person(one, time.time, base=issuer, client_id="dpop-app", key=new_key())
        assert error_of(person.sign_in(proof=None)) == "invalid_dpop_proof"
        signed_in = person.sign_in()
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["token_type"] == "DPoP"
        proof = person.proof("POST", "/token")
        assert person.refresh(proof=proof).status_code == 200
        # The same proof at the other replica (with the new refresh token): refused.
        person.http = two
        assert "used before" in person.refresh(proof=proof).json()["error_description"]
        other_key = person.proof("POST", "/token", key=new_key())
        assert error_of(person.refresh(proof=other_key)) == "invalid_dpop_proof"
        refreshed = person.refresh()
        assert refreshed.status_code == 200, refreshed.text
        # The stolen access token at the replica's userinfo: refused as a bearer token.
        stolen = {"Authorization": f"Bearer {person.access_token}"}
        assert error_of(two.get("/userinfo", headers=stolen), 401) == "invalid_token"
        proof = person.proof("GET", "/userinfo", access_token=person.access_token)
        owner = {"Authorization": f"DPoP {person.access_token}", "DPoP": proof}
        assert two.get("/userinfo", headers=owner).status_code == 200
        assert error_of(one.get("/userinfo", headers=owner), 401) == "invalid_dpop_proof"


@pytest.mark.usefixtures("alice")
def test_the_binding_check_offered_to_other_token_routes(
    deployment: Deployment, clock: FrozenClock
) -> None:
    """``server.dpop.check_binding`` as a route accepting access tokens would use it (the
    admin API): a tiny app of the same service, driven like userinfo."""
    service = deployment.token_service()
    app = FastAPI()

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, str]:
        presented = presented_token(request)
        assert presented is not None
        scheme, token = presented
        claims_ = service.introspection.read_access_token(token)
        assert claims_ is not None
        try:
            check_binding(request, service, scheme=scheme, token=token, claims=claims_)
        except DpopProofError as exc:
            return {"refused": exc.message}
        return {"sub": str(claims_["sub"])}

    key = new_key()
    bound = service.sessions.open_session(
        user=add_user(deployment, "bob"),
        client=kiosk_client(deployment),
        factor="otp",
        amr=["otp"],
        acr="otp",
        dpop_jkt=thumbprint(key),
    ).access_token
    with TestClient(app, base_url=ISSUER) as http:

        def call(scheme: str, token: str, signer: Any = None) -> dict[str, str]:
            headers = {"Authorization": f"{scheme} {token}"}
            if signer is not None:
                headers["DPoP"] = make_dpop_proof(
                    signer,
                    method="GET",
                    url=f"{ISSUER}/whoami",
                    access_token=token,
                    now=clock.now(),
                )
            answer: dict[str, str] = http.get("/whoami", headers=headers).json()
            return answer

        assert call("DPoP", bound, key) == {"sub": "bob"}
        assert "bound to a DPoP key" in call("Bearer", bound)["refused"]
        assert "needs a DPoP proof" in call("DPoP", bound)["refused"]
        assert "not made with the key" in call("DPoP", bound, new_key())["refused"]
        alice = deployment.store.find_user("alice")
        assert alice is not None
        plain = service.sessions.open_session(
            user=alice, client=kiosk_client(deployment), factor="otp", amr=["otp"], acr="otp"
        ).access_token
        assert call("Bearer", plain) == {"sub": "alice"}
        assert "not DPoP-bound" in call("DPoP", plain, new_key())["refused"]


# -- the admin API ---------------------------------------------------------------------------


def test_a_bound_admin_token_needs_its_key_at_the_admin_api(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    add_user(deployment, "root", is_admin=True)
    OtpService(
        SqlOtpStore(deployment.store), box=deployment.kek, clock=deployment.clock
    ).enroll_app("root", by="test", seed=SEED)
    admin = Person(http, clock.now, client_id=DEFAULT_ADMIN_CLIENT_ID, key=new_key())
    assert admin.sign_in("root").status_code == 200
    token = admin.access_token
    assert claims(token)["cnf"] == {"jkt": thumbprint(admin.key)}  # type: ignore[arg-type]

    def users(scheme: str, proof: str | None) -> httpx.Response:
        headers = {"Authorization": f"{scheme} {token}", **admin.headers(proof)}
        return http.get("/admin/users", headers=headers)

    # Stolen: as a Bearer token, under DPoP without a proof or with another key.
    as_bearer = users("Bearer", None)
    assert error_of(as_bearer, 401) == "invalid_dpop_proof"
    assert as_bearer.headers["www-authenticate"].startswith("DPoP ")
    assert 'error="invalid_dpop_proof"' in as_bearer.headers["www-authenticate"]
    assert error_of(users("DPoP", None), 401) == "invalid_dpop_proof"
    thief = admin.proof("GET", "/admin/users", key=new_key(), access_token=token)
    assert error_of(users("DPoP", thief), 401) == "invalid_dpop_proof"
    # With the key: under the DPoP scheme, a proof for this request and this token.
    proof = admin.proof("GET", "/admin/users", access_token=token)
    good = users("DPoP", proof)
    assert good.status_code == 200, good.text
    assert {u["username"] for u in good.json()["users"]} == {"root"}
    assert error_of(users("DPoP", proof), 401) == "invalid_dpop_proof"  # replayed
    wrong_path = admin.proof("GET", "/admin/sessions", access_token=token)
    assert error_of(users("DPoP", wrong_path), 401) == "invalid_dpop_proof"
    body = {"username": "bob"}
    added = http.post(
        "/admin/users",
        json=body,
        headers={
            "Authorization": f"DPoP {token}",
            "DPoP": admin.proof("POST", "/admin/users", access_token=token),
        },
    )
    assert added.status_code == 201, added.text


def test_an_unbound_admin_token_goes_as_bearer_only(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    add_user(deployment, "root", is_admin=True)
    OtpService(
        SqlOtpStore(deployment.store), box=deployment.kek, clock=deployment.clock
    ).enroll_app("root", by="test", seed=SEED)
    admin = Person(http, clock.now, client_id=DEFAULT_ADMIN_CLIENT_ID)
    assert admin.sign_in("root").status_code == 200
    token = admin.access_token
    assert "cnf" not in claims(token)
    bearer = http.get("/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200, bearer.text
    key = new_key()
    proof = make_dpop_proof(
        key, method="GET", url=f"{ISSUER}/admin/users", access_token=token, now=clock.now()
    )
    as_dpop = http.get("/admin/users", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert error_of(as_dpop, 401) == "invalid_dpop_proof"
    assert "not DPoP-bound" in as_dpop.json()["error_description"]


@pytest.mark.server
def test_the_broker_client_proves_its_key_to_a_real_admin_api(
    server_factory: Callable[..., ServerProcess],
) -> None:
    from tokenstile.broker import DpopKey, ServiceError, TokenServiceClient

    server = server_factory()
    setup = Deployment(load_settings(db=server.settings.db, issuer=server.settings.issuer))
    try:
        add_user(setup, "root", is_admin=True)
        OtpService(SqlOtpStore(setup.store), box=setup.kek, clock=setup.clock).enroll_app(
            "root", by="test", seed=SEED
        )
    finally:
        setup.close()
    key = DpopKey.generate()
    with TokenServiceClient(
        server.base_url, client_id=DEFAULT_ADMIN_CLIENT_ID, dpop_key=key
    ) as client:
        grant = client.login_totp("root", totp_code(SEED, time.time()))
        assert grant.token_type == "DPoP"
        listed = client.admin_get("/admin/users", grant.access_token, {"q": "ro"})
        assert [u["username"] for u in listed["users"]] == ["root"]
        assert client.admin_post("/admin/users", grant.access_token, {"username": "bob"})
    # The same token from a client without the key is refused.
    thief = TokenServiceClient(server.base_url, client_id=DEFAULT_ADMIN_CLIENT_ID)
    with thief, pytest.raises(ServiceError) as refused:
        thief.admin_get("/admin/users", grant.access_token)
    assert (refused.value.status, refused.value.error) == (401, "invalid_dpop_proof")


# -- the session's end in token responses --------------------------------------------------


@pytest.mark.usefixtures("alice")
def test_token_responses_say_when_the_session_ends(
    http: TestClient, deployment: Deployment, clock: FrozenClock
) -> None:
    person = Person(http, clock.now)
    login = person.sign_in()
    lifetime = deployment.settings.session_lifetime
    assert login.json()["refresh_token_expires_in"] == lifetime
    clock.advance(1000)
    refreshed = person.refresh(proof=None)
    assert refreshed.json()["refresh_token_expires_in"] == lifetime - 1000
    schema = http.get("/openapi.json").json()["components"]["schemas"]["TokenResponseBody"]
    assert "refresh_token_expires_in" in schema["properties"]
