"""private_key_jwt (RFC 7523 section 2.2) against a real server process.

Authlib, the independent client, signs its assertions with joserfc; the service checks
them with PyJWT. A web app registered with a JWK Set signs in (code + PKCE), refreshes
and revokes proving itself with assertions only. The attacks: an assertion signed by a
stranger's key, ``alg: none``, HS256 keyed with the public key (key confusion), a wrong
audience, an expired one, one valid far ahead, a replay (on the same replica and on
another one sharing the database), iss and sub differing, a secret client sending an
assertion, a key client sending a secret or nothing, both methods at once, and a JWK Set
with a private key at registration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from tests.conftest import ServerProcess
from tests.integration.oidc.conftest import WEB_REDIRECT, Provider, oathtool_totp, query_of
from tests.integration.oidc.test_authlib_interop import enroll_totp
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.errors import ConfigError

with warnings.catch_warnings():
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.common.security import generate_token
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

pytestmark = [
    pytest.mark.server,
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
    pytest.mark.filterwarnings("ignore:EdDSA is deprecated"),
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
Key = ECKey | OKPKey | RSAKey


class ShortPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's private_key_jwt with a two-minute assertion (its default is an hour,
    beyond the service's five-minute bound)."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return str(
            private_key_jwt_sign(
                auth.client_secret,
                client_id=auth.client_id,
                token_endpoint=token_endpoint,
                alg=self.alg,
                expires_in=120,
            )
        )


@dataclass
class KeyClient:
    client_id: str
    key: Key
    alg: str


def tokenstile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("tokenstile")), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def jwks_of(*keys: Key) -> str:
    return json.dumps({"keys": [k.as_dict(private=False) for k in keys]})


def add_key_client(setup: Deployment, name: str, key: Key, alg: str) -> KeyClient:
    client, secret = setup.add_client(
        name,
        kind="web",
        audiences=[],
        scopes=[],
        redirect_uris=[WEB_REDIRECT],
        jwks=jwks_of(key),
    )
    assert secret is None  # a key client has no secret
    return KeyClient(client.client_id, key, alg)


@pytest.fixture
def es_client(provider: Provider) -> KeyClient:
    # Named after the test's web app: the module's tests share one server.
    name = f"Ledger of {provider.web_name}"
    return add_key_client(
        provider.setup, name, ECKey.generate_key("P-256", parameters={"kid": "l1"}), "ES256"
    )


def assertion(
    key: Key,
    alg: str,
    *,
    iss: str,
    aud: str,
    sub: str | None = None,
    exp_in: float = 60,
    jti: str | None = None,
    **header: Any,
) -> str:
    now = int(time.time())
    claims = {
        "iss": iss,
        "sub": sub or iss,
        "aud": aud,
        "iat": now,
        "exp": now + exp_in,
        "jti": jti or secrets.token_urlsafe(16),
    }
    return str(jose_jwt.encode({"alg": alg, **header}, claims, key, algorithms=[alg]))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], key: bytes | None = None) -> str:
    """A JWT built by hand: unsigned (``alg: none``) or HMAC-SHA256 under ``key``."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if key is None:
        return signing_input + "."
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def bogus_refresh(base: str, client_assertion: str, **extra: Any) -> httpx.Response:
    """A refresh with a made-up refresh token: the client is authenticated first, so a
    good assertion hears ``invalid_grant`` and a bad one ``invalid_client``."""
    data = {
        "grant_type": "refresh_token",
        "refresh_token": "not-a-real-token",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
        **extra.pop("data", {}),
    }
    return httpx.post(f"{base}/token", data=data, timeout=10, **extra)


def refused(response: httpx.Response, error: str = "invalid_client") -> str:
    assert response.json()["error"] == error, response.text
    assert response.status_code == (401 if error == "invalid_client" else 400)
    return str(response.json().get("error_description", ""))


def authenticated(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"


def test_discovery_names_private_key_jwt(provider: Provider) -> None:
    meta = httpx.get(f"{provider.base}/.well-known/openid-configuration", timeout=10).json()
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["ES256", "EdDSA", "RS256"]
    assert "private_key_jwt" in meta["revocation_endpoint_auth_methods_supported"]


def test_authlib_signs_in_refreshes_and_revokes_with_private_key_jwt(
    provider: Provider, es_client: KeyClient
) -> None:
    seed = enroll_totp(provider, "alice")
    token_endpoint = f"{provider.base}/token"
    app = provider.keep(
        OAuth2Client(
            es_client.client_id,
            es_client.key,
            scope="openid offline_access",
            redirect_uri=WEB_REDIRECT,
            code_challenge_method="S256",
            token_endpoint_auth_method="private_key_jwt",
            revocation_endpoint_auth_method="private_key_jwt",
        )
    )
    app.register_client_auth_method(ShortPrivateKeyJWT(token_endpoint, alg="ES256"))
    verifier = generate_token(48)
    url, _ = app.create_authorization_url(
        f"{provider.base}/authorize", code_verifier=verifier, nonce=generate_token(20)
    )
    done = provider.browser().sign_in(url, "alice", oathtool_totp(seed))
    assert done.status_code == 303, done.text
    assert "code" in query_of(done.headers["location"])
    token = app.fetch_token(
        token_endpoint, authorization_response=done.headers["location"], code_verifier=verifier
    )
    assert "id_token" in token
    assert "refresh_token" in token
    refreshed = app.refresh_token(token_endpoint)
    assert refreshed["refresh_token"] != token["refresh_token"]
    revoked = app.revoke_token(
        f"{provider.base}/revoke", refreshed["refresh_token"], token_type_hint="refresh_token"
    )
    assert revoked.status_code == 200, revoked.text
    # The revoked refresh token no longer refreshes (the client still authenticates).
    fresh = assertion(es_client.key, "ES256", iss=es_client.client_id, aud=f"{provider.base}/token")
    gone = httpx.post(
        token_endpoint,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed["refresh_token"],
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": fresh,
        },
        timeout=10,
    )
    authenticated(gone)
    # The assertion is recorded for replay detection, never the client's secret.
    assert provider.count("client_assertion_jtis") >= 4


@pytest.mark.parametrize(
    ("alg", "make"),
    [
        ("EdDSA", lambda: OKPKey.generate_key("Ed25519", parameters={"kid": "e1"})),
        ("RS256", lambda: RSAKey.generate_key(2048, parameters={"kid": "r1"})),
    ],
)
def test_eddsa_and_rs256_keys_authenticate(
    provider: Provider, alg: str, make: Callable[[], Key]
) -> None:
    client = add_key_client(provider.setup, f"App {alg}", make(), alg)
    good = assertion(client.key, alg, iss=client.client_id, aud=f"{provider.base}/token")
    authenticated(bogus_refresh(provider.base, good))


def test_the_issuer_is_an_audience_too_and_a_stranger_is_not(
    provider: Provider, es_client: KeyClient
) -> None:
    cid = es_client.client_id
    authenticated(
        bogus_refresh(provider.base, assertion(es_client.key, "ES256", iss=cid, aud=provider.base))
    )
    for aud in ("https://other.example/token", f"{provider.base}/authorize"):
        wrong = assertion(es_client.key, "ES256", iss=cid, aud=aud)
        assert "aud" in refused(bogus_refresh(provider.base, wrong))


def test_an_assertion_signed_by_another_key_is_refused(
    provider: Provider, es_client: KeyClient
) -> None:
    stranger = ECKey.generate_key("P-256", parameters={"kid": "l1"})  # even the same kid
    forged = assertion(stranger, "ES256", iss=es_client.client_id, aud=f"{provider.base}/token")
    assert "not signed by a key" in refused(bogus_refresh(provider.base, forged))


def test_alg_none_and_hmac_with_the_public_key_are_refused(
    provider: Provider, es_client: KeyClient
) -> None:
    cid = es_client.client_id
    now = int(time.time())
    claims = {"iss": cid, "sub": cid, "aud": f"{provider.base}/token", "exp": now + 60}
    none = unsigned({"alg": "none"}, {**claims, "jti": "n1"})
    assert "alg" in refused(bogus_refresh(provider.base, none))
    public = es_client.key.as_dict(private=False)
    secrets_tried = [
        json.dumps(public).encode(),
        json.dumps({"keys": [public]}, separators=(",", ":")).encode(),
        es_client.key.as_pem(private=False),
    ]
    for i, secret in enumerate(secrets_tried):
        confused = unsigned({"alg": "HS256", "kid": "l1"}, {**claims, "jti": f"h{i}"}, secret)
        assert "alg" in refused(bogus_refresh(provider.base, confused))


@pytest.mark.parametrize(
    ("exp_in", "says"), [(-120, "expired"), (3600, "ahead"), (301 + 60, "ahead")]
)
def test_expired_and_far_future_assertions_are_refused(
    provider: Provider, es_client: KeyClient, exp_in: float, says: str
) -> None:
    cid = es_client.client_id
    late = assertion(es_client.key, "ES256", iss=cid, aud=f"{provider.base}/token", exp_in=exp_in)
    assert says in refused(bogus_refresh(provider.base, late))


def test_a_replayed_assertion_is_refused(provider: Provider, es_client: KeyClient) -> None:
    cid = es_client.client_id
    once = assertion(es_client.key, "ES256", iss=cid, aud=f"{provider.base}/token")
    authenticated(bogus_refresh(provider.base, once))
    assert "used before" in refused(bogus_refresh(provider.base, once))
    # A new assertion reusing the jti is a replay too.
    again = assertion(es_client.key, "ES256", iss=cid, aud=f"{provider.base}/token", jti="j-1")
    authenticated(bogus_refresh(provider.base, again))
    same_jti = assertion(es_client.key, "ES256", iss=cid, aud=f"{provider.base}/token", jti="j-1")
    assert "used before" in refused(bogus_refresh(provider.base, same_jti))


def test_iss_and_sub_must_both_be_the_client(provider: Provider, es_client: KeyClient) -> None:
    cid = es_client.client_id
    other = assertion(
        es_client.key, "ES256", iss=cid, sub=provider.web_id, aud=f"{provider.base}/token"
    )
    assert "iss and sub" in refused(bogus_refresh(provider.base, other))


def test_one_method_per_client_and_per_request(provider: Provider, es_client: KeyClient) -> None:
    cid = es_client.client_id
    aud = f"{provider.base}/token"
    # A secret client (no keys) presenting an assertion under its id.
    stranger = ECKey.generate_key("P-256")
    refused(
        bogus_refresh(provider.base, assertion(stranger, "ES256", iss=provider.web_id, aud=aud))
    )
    # The key client presenting a secret, or nothing at all (as if it were public).
    post = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": cid}
    r = httpx.post(f"{provider.base}/token", data={**post, "client_secret": "guess"}, timeout=10)
    refused(r)
    r = httpx.post(f"{provider.base}/token", data=post, timeout=10)
    assert "client assertion" in refused(r)
    r = httpx.post(f"{provider.base}/token", data=post, auth=(cid, "guess"), timeout=10)
    refused(r)
    # Both methods in one request.
    good = assertion(es_client.key, "ES256", iss=cid, aud=aud)
    refused(bogus_refresh(provider.base, good, data={"client_secret": "x"}), "invalid_request")
    refused(bogus_refresh(provider.base, good, auth=(cid, "x")), "invalid_request")
    # client_id naming another client than the assertion's issuer.
    refused(
        bogus_refresh(provider.base, good, data={"client_id": provider.web_id}), "invalid_request"
    )
    # A wrong assertion type.
    r = httpx.post(
        f"{provider.base}/token",
        data={**post, "client_assertion_type": "urn:other", "client_assertion": good},
        timeout=10,
    )
    refused(r)


def test_a_jwks_with_a_private_key_is_refused_at_registration(
    provider: Provider, tmp_path: Path
) -> None:
    key = ECKey.generate_key("P-256")
    private = json.dumps({"keys": [key.as_dict(private=True)]})
    with pytest.raises(ConfigError, match=r"private members \(d\)"):
        provider.setup.add_client(
            "Leaky", kind="web", audiences=[], scopes=[], redirect_uris=[WEB_REDIRECT], jwks=private
        )
    symmetric = json.dumps({"keys": [{"kty": "oct", "k": b64(b"0" * 32)}]})
    with pytest.raises(ConfigError, match="private members"):
        provider.setup.add_client(
            "Oct", kind="web", audiences=[], scopes=[], redirect_uris=[WEB_REDIRECT], jwks=symmetric
        )
    with pytest.raises(ConfigError, match="Only web clients"):
        provider.setup.add_client(
            "Nat", kind="native", audiences=[], scopes=[], redirect_uris=["http://127.0.0.1/cb"],
            jwks=jwks_of(key),
        )  # fmt: skip
    assert provider.setup.store.find_client_by_name("Leaky") is None


def test_manage_client_add_reads_a_jwks_file(provider: Provider, tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "cli"})
    public = tmp_path / "public.jwks"
    public.write_text(jwks_of(key))
    db = provider.server.settings.db
    done = tokenstile(
        "manage", "--db", db, "client", "add", "Cli app", "--kind", "web",
        "--redirect-uri", WEB_REDIRECT, "--jwks", str(public),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "client_secret" not in done.stdout
    client_id = done.stdout.split("client_id: ")[1].split()[0]
    good = assertion(key, "ES256", iss=client_id, aud=f"{provider.base}/token")
    authenticated(bogus_refresh(provider.base, good))

    leaky = tmp_path / "private.jwks"
    leaky.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    done = tokenstile(
        "manage", "--db", db, "client", "add", "Leaky", "--kind", "web",
        "--redirect-uri", WEB_REDIRECT, "--jwks", str(leaky),
    )  # fmt: skip
    assert done.returncode != 0
    assert "private members" in done.stderr
    assert key.as_dict(private=True)["d"] not in done.stderr + done.stdout


@pytest.fixture
def two_replicas(
    server_factory: Callable[..., ServerProcess], db_url: str
) -> Iterator[tuple[ServerProcess, ServerProcess, Deployment]]:
    issuer = "https://idp.example"
    first = server_factory(db=db_url, issuer=issuer)
    second = server_factory(db=db_url, issuer=issuer)
    setup = Deployment(load_settings(db=db_url))
    try:
        yield first, second, setup
    finally:
        setup.close()


def test_a_replay_to_another_replica_is_refused(
    two_replicas: tuple[ServerProcess, ServerProcess, Deployment],
) -> None:
    first, second, setup = two_replicas
    client = add_key_client(setup, "Ledger", ECKey.generate_key("P-256"), "ES256")
    once = assertion(client.key, "ES256", iss=client.client_id, aud="https://idp.example/token")
    authenticated(bogus_refresh(first.base_url, once))
    assert "used before" in refused(bogus_refresh(second.base_url, once))


def test_revoke_takes_an_assertion_addressed_to_it(
    provider: Provider, es_client: KeyClient
) -> None:
    cid = es_client.client_id

    def revoke(aud: str) -> httpx.Response:
        return httpx.post(
            f"{provider.base}/revoke",
            data={
                "token": "not-a-real-token",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(es_client.key, "ES256", iss=cid, aud=aud),
            },
            timeout=10,
        )

    assert revoke(f"{provider.base}/revoke").status_code == 200  # RFC 7009: unknown is fine
    assert revoke(f"{provider.base}/token").status_code == 200
    refused(revoke(f"{provider.base}/introspect"))
