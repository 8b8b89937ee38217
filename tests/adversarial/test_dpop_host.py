"""Attack 7: a DPoP proof made for another server, passed off with a ``Host`` header.

RFC 9449's ``htu`` ties a proof to one endpoint of one server, so a proof captured or
made for another server cannot be spent here. The service compared ``htu`` with the
URL the request arrived at, and that URL is built from the ``Host`` header (and, behind
a trusted proxy, ``X-Forwarded-Proto``): whoever sends the request chooses it. A proof
for ``http://localhost:9/login/totp`` (nothing listens there) was accepted with
``Host: localhost:9``. The defence: ``htu`` must name the service's configured public
URL (the issuer, its loopback spellings when the issuer is on loopback, or an explicitly
configured ``public_urls`` entry), never anything a request header says.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.adversarial.conftest import AttackedService, Json, unverified_claims
from tokenstile.protocol.dpop import make_dpop_proof
from tokenstile.protocol.jose import b64url_decode, jwk_thumbprint

ENDPOINT = "/login/totp"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def proof_for(key: ec.EllipticCurvePrivateKey, url: str, method: str = "POST", **kw: Any) -> str:
    return make_dpop_proof(key, method=method, url=url, **kw)


def thumbprint(key: ec.EllipticCurvePrivateKey) -> str:
    header = json.loads(b64url_decode(proof_for(key, "https://x.example/").split(".")[0]))
    return jwk_thumbprint(header["jwk"])


def login(
    service: AttackedService, code: str, proof: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    with service.http() as http:
        return http.post(
            ENDPOINT,
            json={"username": "alice", "code": code},
            headers={"DPoP": proof, **(headers or {})},
        )


def refused(response: httpx.Response) -> Json:
    assert response.status_code == 400, response.text
    body: Json = response.json()
    assert body["error"] == "invalid_dpop_proof", body
    assert "another URL" in body["error_description"]
    return body


def test_a_proof_for_the_host_named_in_the_host_header_is_refused(attacked: Any) -> None:
    """The reported reproduction: ``Host: localhost:9`` and a proof for that host."""
    service: AttackedService = attacked()
    code = service.code("alice")  # a refused proof never reaches the code check
    key = new_key()
    for host in ("localhost:9", "127.0.0.2:9", "[::1]:9", "localhost"):
        proof = proof_for(key, f"http://{host}{ENDPOINT}")
        refused(login(service, code, proof, {"Host": host}))
    assert service.audit("login") == []  # nobody got in

    # The proof for the configured issuer works (and binds the session to the key).
    issuer = service.server.settings.issuer_url()
    answer = login(service, code, proof_for(key, issuer + ENDPOINT))
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "DPoP"
    assert unverified_claims(answer.json()["access_token"])["cnf"] == {"jkt": thumbprint(key)}


@pytest.mark.parametrize(
    ("htu", "headers"),
    [
        ("https://localhost:9/login/totp", {"Host": "localhost:9", "X-Forwarded-Proto": "https"}),
        ("https://127.0.0.1/login/totp", {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"}),
        ("http://localhost:9/login/totp", {"X-Forwarded-Host": "localhost:9"}),
        (
            "https://evil.example/login/totp",
            {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        ),
        ("https://evil.example/login/totp", {"Forwarded": "host=evil.example;proto=https"}),
        ("http://localhost:9/login/totp", {"Forwarded": 'host="localhost:9";proto=http'}),
        ("http://localhost:9/login/totp", {"X-Forwarded-Server": "localhost:9"}),
    ],
)
def test_forwarded_headers_do_not_name_the_endpoint(
    attacked: Any, monkeypatch: pytest.MonkeyPatch, htu: str, headers: dict[str, str]
) -> None:
    """Behind a proxy the service trusts (127.0.0.1 here), which passes ``Host`` and the
    forwarded headers through: none of them names the endpoint a proof may be for."""
    monkeypatch.setenv("TOKENSTILE_FORWARDED_ALLOW_IPS", '["127.0.0.1"]')
    service: AttackedService = attacked()
    code = service.code("alice")
    refused(login(service, code, proof_for(new_key(), htu), headers))
    assert service.audit("login") == []
    issuer = service.server.settings.issuer_url()
    assert login(service, code, proof_for(new_key(), issuer + ENDPOINT)).status_code == 200


def test_a_bound_session_cannot_be_refreshed_with_a_proof_for_a_spoofed_host(
    attacked: Any,
) -> None:
    """The same trick at ``/token`` (the refresh grant) and ``/userinfo``."""
    service: AttackedService = attacked()
    key = new_key()
    issuer = service.server.settings.issuer_url()
    answer = login(service, service.code("alice"), proof_for(key, issuer + ENDPOINT))
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": "tokenstile-kiosk",
    }
    with service.http() as http:
        spoofed = proof_for(key, "http://localhost:9/token")
        refused(http.post("/token", data=form, headers={"DPoP": spoofed, "Host": "localhost:9"}))
        token = tokens["access_token"]
        spoofed = proof_for(key, "http://localhost:9/userinfo", "GET", access_token=token)
        answer = http.get(
            "/userinfo",
            headers={"Authorization": f"DPoP {token}", "DPoP": spoofed, "Host": "localhost:9"},
        )
        assert answer.status_code == 401, answer.text
        good = proof_for(key, issuer + "/userinfo", "GET", access_token=token)
        answer = http.get("/userinfo", headers={"Authorization": f"DPoP {token}", "DPoP": good})
        assert answer.status_code == 200, answer.text
        renewed = http.post(
            "/token", data=form, headers={"DPoP": proof_for(key, issuer + "/token")}
        )
        assert renewed.status_code == 200, renewed.text


def test_the_loopback_spellings_of_a_loopback_issuer_are_derived_from_configuration(
    attacked: Any,
) -> None:
    """A broker configured with ``http://localhost:PORT`` for an issuer at
    ``http://127.0.0.1:PORT`` makes proofs for ``localhost``: the service accepts the
    loopback spellings of its own configured issuer (same scheme and port), with no Host
    header involved; another port on loopback is another server."""
    service: AttackedService = attacked()
    port = service.server.settings.port
    code = service.code("alice")
    refused(login(service, code, proof_for(new_key(), f"http://localhost:{port + 1}{ENDPOINT}")))
    refused(login(service, code, proof_for(new_key(), f"https://localhost:{port}{ENDPOINT}")))
    answer = login(service, code, proof_for(new_key(), f"http://localhost:{port}{ENDPOINT}"))
    assert answer.status_code == 200, answer.text


def test_a_public_issuer_accepts_only_its_configured_urls(
    attacked: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a reverse proxy: the issuer is ``https://auth.example`` and an extra public
    URL is configured. The URL the request reached (loopback here) is not one of them."""
    monkeypatch.setenv("TOKENSTILE_PUBLIC_URLS", '["https://login.example/tokenstile"]')
    service: AttackedService = attacked(issuer="https://auth.example")
    port = service.server.settings.port
    code = service.code("alice")
    for htu in (f"http://127.0.0.1:{port}{ENDPOINT}", f"http://localhost:{port}{ENDPOINT}"):
        refused(login(service, code, proof_for(new_key(), htu)))
    refused(
        login(
            service,
            code,
            proof_for(new_key(), "https://evil.example/login/totp"),
            {"Host": "evil.example", "X-Forwarded-Proto": "https"},
        )
    )
    refused(login(service, code, proof_for(new_key(), "https://login.example/login/totp")))
    answer = login(service, code, proof_for(new_key(), "https://auth.example/login/totp"))
    assert answer.status_code == 200, answer.text
    second = login(
        service,
        service.code("alice"),
        proof_for(new_key(), "https://login.example/tokenstile/login/totp"),
    )
    assert second.status_code == 200, second.text
