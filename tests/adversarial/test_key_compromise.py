"""Attack: a stolen signing key (issue 13, item 6).

Whoever holds the database and the key-encryption key can open the signing keys and mint
any access token they like: an admin's scope, a year of life, the ``sid`` of a live
session. ``tokenstile manage rotate-keys --compromised`` is the button that ends it: the
new key signs at once, every older key leaves the JWKS at once and the service itself
(admin API, introspection, userinfo, token exchange, revocation) refuses what they
signed, while people's sessions go on and their next refresh is signed by the new key.
A resource server verifying offline (``AccessTokenVerifier``) forgets the removed key at
its next JWKS refresh.

Independently of any rotation, the service's own decoding refuses a token whose
``exp - iat`` exceeds the longest access-token lifetime it issues: a stolen key cannot
mint the one-year token that would outlive every check that needs a fresh one.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from typing import Any

import httpx
import jwt
import pytest

from tests.adversarial.conftest import (
    ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE,
    AttackedService,
    Json,
    unverified_claims,
)
from tokenstile.clock import FrozenClock
from tokenstile.deployment import DEFAULT_ADMIN_CLIENT_ID, DEFAULT_KIOSK_CLIENT_ID
from tokenstile.errors import UnknownKey
from tokenstile.tokens import AccessTokenVerifier
from tokenstile.tokens.keys import SigningKey
from tokenstile.tokens.model import LOCAL_AUDIENCE

PAYROLL = "https://payroll.example"
PAYROLL_APP = "payroll-app"
YEAR = 365 * 86_400
# What the design promises (docs/operations.md, "Signing key compromised"): every replica
# signs with the new key within this many seconds of `rotate-keys --compromised`
# returning (deployment.KEY_PROBE_INTERVAL); refusals and the JWKS change at once.
SIGNER_SWITCH_BOUND = 1.0


def steal_signing_key(service: AttackedService) -> SigningKey:
    """The current private signing key, opened as anyone holding the database and the
    key-encryption key would open it."""
    with service.deployment() as setup:
        return setup.keyring(force=True).signer(time.time())


def forge(key: SigningKey, template: Json, *, lifetime: int, **changes: Any) -> str:
    """A token shaped like ``template`` (a real one), signed with ``key``."""
    now = int(time.time())
    claims = {
        **template,
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        **changes,
    }
    return jwt.encode(
        claims, key.private_key, algorithm=key.alg, headers={"typ": "at+jwt", "kid": key.kid}
    )


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def jwks_kids(http: httpx.Client) -> set[str]:
    response = http.get("/jwks.json")
    assert response.status_code == 200, response.text
    return {key["kid"] for key in response.json()["keys"]}


def admin_users(http: httpx.Client, token: str) -> int:
    return http.get("/admin/users", headers={"Authorization": f"Bearer {token}"}).status_code


def userinfo(http: httpx.Client, token: str) -> int:
    return http.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code


def introspect(http: httpx.Client, token: str, api: tuple[str, str]) -> Json:
    response = http.post("/introspect", data={"token": token}, auth=api)
    assert response.status_code == 200, response.text
    answer: Json = response.json()
    return answer


def exchange(http: httpx.Client, subject: str) -> httpx.Response:
    """The payroll app trades a session's local token for a payroll token."""
    return http.post(
        "/token",
        data={
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "client_id": PAYROLL_APP,
            "audience": PAYROLL,
        },
    )


def refresh(http: httpx.Client, refresh_token: str, client_id: str) -> Json:
    response = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        },
    )
    assert response.status_code == 200, response.text
    answer: Json = response.json()
    return answer


def manage(service: AttackedService, *args: str) -> subprocess.CompletedProcess[str]:
    """``tokenstile manage --db <db> ...`` as an operator runs it, in its own process."""
    env = {**os.environ, "TOKENSTILE_KEK_FILE": str(service.server.settings.kek_file)}
    return subprocess.run(
        [sys.executable, "-m", "tokenstile.cli", "manage", "--db", service.db, *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def payroll_api(service: AttackedService) -> tuple[str, str]:
    """The payroll app (which exchanges tokens) and the payroll API (a resource server
    that introspects them): the API's client id and secret."""
    with service.deployment() as setup:
        setup.add_client(
            "payroll-app", kind="app", audiences=[PAYROLL], scopes=["openid"], client_id=PAYROLL_APP
        )
        api, secret = setup.add_client(
            "payroll-api", kind="resource-server", audiences=[PAYROLL], scopes=[]
        )
    assert secret is not None
    return api.client_id, secret


def test_rotate_keys_compromised_cuts_off_a_stolen_signing_key(attacked: Any) -> None:
    service: AttackedService = attacked()
    api = payroll_api(service)
    root = service.login("root", client_id=DEFAULT_ADMIN_CLIENT_ID)
    alice = service.login("alice")
    root_claims = unverified_claims(root["access_token"])
    alice_claims = unverified_claims(alice["access_token"])
    assert "tokenstile:admin" in root_claims["scope"].split()

    stolen = steal_signing_key(service)
    assert kid_of(root["access_token"]) == stolen.kid
    # Lifetimes the service really issues, so no lifetime bound stands in the way: the
    # key holder can mint a fresh one whenever the last runs out.
    lifetime = root_claims["exp"] - root_claims["iat"]
    forged_admin = forge(stolen, root_claims, lifetime=lifetime)
    forged_alice = forge(stolen, alice_claims, lifetime=lifetime)
    forged_payroll = forge(stolen, alice_claims, lifetime=lifetime, aud=PAYROLL)
    forged_year = forge(stolen, root_claims, lifetime=YEAR)

    with service.http() as http:
        # Before: the stolen key opens the admin API and everything else.
        assert admin_users(http, forged_admin) == 200
        assert userinfo(http, forged_alice) == 200
        assert introspect(http, forged_payroll, api)["active"] is True
        before = exchange(http, forged_alice)
        assert before.status_code == 200, before.text
        assert jwks_kids(http) == {stolen.kid}

        rotated = manage(service, "rotate-keys", "--compromised")
        assert rotated.returncode == 0, rotated.stderr
        rotated_at = time.monotonic()
        assert stolen.kid in rotated.stdout  # the operator is told what was distrusted

        # At once: the old key is gone from the JWKS, a new one is there.
        kids = jwks_kids(http)
        assert stolen.kid not in kids
        [new_kid] = kids

        # At once: the service refuses everything the stolen key signed.
        for forged in (forged_admin, forged_year):
            assert admin_users(http, forged) == 401
            assert userinfo(http, forged) == 401
        assert userinfo(http, forged_alice) == 401
        assert introspect(http, forged_payroll, api) == {"active": False}
        after = exchange(http, forged_alice)
        assert after.status_code == 400, after.text
        assert after.json()["error"] == "invalid_grant"
        # Nor can the stolen key sign alice out: the revocation is a no-op (RFC 7009).
        revoked = http.post(
            "/revoke", data={"token": forged_alice, "client_id": DEFAULT_KIOSK_CLIENT_ID}
        )
        assert revoked.status_code == 200, revoked.text

        # Sessions survive; their next refresh is signed by the new key (within the
        # promised bound on every replica).
        time.sleep(max(0.0, rotated_at + SIGNER_SWITCH_BOUND - time.monotonic()))
        root_next = refresh(http, root["refresh_token"], DEFAULT_ADMIN_CLIENT_ID)
        alice_next = refresh(http, alice["refresh_token"], DEFAULT_KIOSK_CLIENT_ID)
        assert kid_of(root_next["access_token"]) == new_kid
        assert kid_of(alice_next["access_token"]) == new_kid
        assert unverified_claims(root_next["access_token"])["sid"] == root_claims["sid"]
        assert unverified_claims(alice_next["access_token"])["sid"] == alice_claims["sid"]
        assert admin_users(http, root_next["access_token"]) == 200
        assert userinfo(http, alice_next["access_token"]) == 200
        # The legitimate tokens signed with the old key before the rotation went with it:
        # the service cannot tell them from forgeries.
        assert admin_users(http, root["access_token"]) == 401

    [event] = service.audit("key_compromised")
    assert event["outcome"] == "alert"
    assert event["detail"]["distrusted"] == [stolen.kid]
    assert event["detail"]["kid"] == new_kid


def test_a_resource_server_forgets_a_distrusted_key_at_its_next_jwks_refresh(
    attacked: Any,
) -> None:
    service: AttackedService = attacked()
    alice = service.login("alice")
    claims = unverified_claims(alice["access_token"])
    stolen = steal_signing_key(service)
    forged = forge(stolen, claims, lifetime=claims["exp"] - claims["iat"])

    clock = FrozenClock(time.time())
    jwks_url = f"{service.url}/jwks.json"
    max_age = 300.0
    # Two resource servers: one only ever sees the forged token, the other also sees
    # tokens of the new key.
    quiet, busy = (
        AccessTokenVerifier(
            service.url,
            LOCAL_AUDIENCE,
            jwks_url,
            clock=clock,
            jwks_refetch_interval=30.0,
            jwks_max_age=max_age,
        )
        for _ in range(2)
    )
    for verifier in (quiet, busy):
        assert verifier.verify(forged)["sub"] == "alice"

    rotated = manage(service, "rotate-keys", "--compromised")
    assert rotated.returncode == 0, rotated.stderr
    time.sleep(SIGNER_SWITCH_BOUND)
    with service.http() as http:
        fresh = refresh(http, alice["refresh_token"], DEFAULT_KIOSK_CLIENT_ID)["access_token"]
    assert kid_of(fresh) != stolen.kid

    # The bound for a resource server: until its cached JWKS is refreshed, it cannot know.
    assert quiet.verify(forged)["sub"] == "alice"
    # A token of the new key (an unknown kid) makes it refetch at once (past the refetch
    # rate limit); the refetched set replaces the old one, so the stolen kid is forgotten.
    clock.advance(31)
    assert busy.verify(fresh)["sub"] == "alice"
    with pytest.raises(UnknownKey):
        busy.verify(forged)
    # Without new tokens the cached set runs out after jwks_max_age and is refetched.
    clock.advance(max_age - 31 + 1)
    with pytest.raises(UnknownKey):
        quiet.verify(forged)


def test_a_stolen_key_cannot_mint_a_token_longer_than_any_the_service_issues(
    attacked: Any,
) -> None:
    service: AttackedService = attacked()
    api = payroll_api(service)
    root = service.login("root", client_id=DEFAULT_ADMIN_CLIENT_ID)
    alice = service.login("alice")
    claims = unverified_claims(root["access_token"])
    alice_claims = unverified_claims(alice["access_token"])
    stolen = steal_signing_key(service)
    lifetime = claims["exp"] - claims["iat"]
    now = int(time.time())
    with service.http() as http:
        # The control: forgeries of a lifetime the service issues still work (until the
        # key is distrusted, above).
        assert admin_users(http, forge(stolen, claims, lifetime=lifetime)) == 200
        assert userinfo(http, forge(stolen, alice_claims, lifetime=lifetime)) == 200
        for too_long in (
            {"iat": now, "nbf": now, "exp": now + YEAR},
            # "Issued" a year ago so that only a minute is left: still a year-long token.
            {"iat": now - YEAR + 60, "nbf": now - YEAR + 60, "exp": now + 60},
            {"iat": now, "nbf": now, "exp": now + lifetime + 120},
        ):
            assert admin_users(http, forge(stolen, claims, lifetime=0, **too_long)) == 401
            forged_alice = forge(stolen, alice_claims, lifetime=0, **too_long)
            assert userinfo(http, forged_alice) == 401
            refused = exchange(http, forged_alice)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"] == "invalid_grant"
            payroll = forge(stolen, alice_claims, lifetime=0, aud=PAYROLL, **too_long)
            assert introspect(http, payroll, api) == {"active": False}
