"""Attack 3: the PIV card signs whatever a server sends, and names no service.

A rogue token service (a small threaded HTTP server in the test, on loopback) drives the
real ``tokenstile login --factor piv`` command with alice's virtual card:

- it sends a 130-byte challenge shaped like a TLS 1.3 client CertificateVerify: the
  client must refuse before the PIN is asked or the card touched, so no signature ever
  reaches the rogue;
- it relays the real service's challenge and sends the card's signature on: the real
  service must refuse it (the signed structure names the rogue's origin, not its own)
  and audit the failure;
- the legitimate login at the real service still works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from tests.adversarial.conftest import AttackedService
from tokenstile.broker import Broker
from tokenstile.composition import Services
from tokenstile.devices.connection import DirectConnection
from tokenstile.devices.piv import PivCard, PivSlot
from tokenstile.protocol.jose import b64url_decode, b64url_encode
from tokenstile.virtual.piv_card import PivCardApplet

PIN = "123456"
# TLS 1.3 (RFC 8446 section 4.4.3): 64 spaces, the context string, a zero byte, and the
# transcript hash (SHA-256: 32 bytes) — 130 bytes a TLS client key would sign.
TLS13_CLIENT_CERTIFICATE_VERIFY = (
    b"\x20" * 64 + b"TLS 1.3, client CertificateVerify" + b"\x00" + bytes(range(32))
)
assert len(TLS13_CLIENT_CERTIFICATE_VERIFY) == 130


def tokenstile(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("tokenstile")), *args],
        input=stdin,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


@dataclass
class Rogue:
    """What the rogue server saw and did."""

    url: str = ""
    challenge: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]] | None = None
    login: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]] | None = None
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for seen, body in self.requests if seen == path]


@pytest.fixture
def rogue() -> Iterator[Rogue]:
    """A rogue token service on 127.0.0.1; each test says what its two PIV steps do."""
    state = Rogue()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            state.requests.append((self.path, {}))
            self._reply(404, {"error": "invalid_request", "error_description": "no"})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append((self.path, body))
            step = {"/login/piv/challenge": state.challenge, "/login/piv": state.login}.get(
                self.path
            )
            if step is None:
                self._reply(404, {"error": "invalid_request", "error_description": "no"})
                return
            self._reply(*step(body))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _refused(_: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 400, {"error": "invalid_grant", "error_description": "The card was not accepted."}


@pytest.fixture
def with_card(
    attacked: Callable[..., AttackedService], tmp_path: Path
) -> tuple[AttackedService, Path]:
    """The real service, and alice's virtual card enrolled there."""
    service = attacked()
    card = tmp_path / "alice-card.json"
    made = tokenstile("virtual-card", "create", str(card))
    assert made.returncode == 0, made.stderr
    certificate = PivCard(DirectConnection(PivCardApplet.from_file(card))).read_certificate(
        PivSlot.AUTHENTICATION
    )
    with service.deployment() as setup:
        Services(setup).piv_service().register(
            "alice", certificate.public_bytes(Encoding.DER), by="test"
        )
    return service, card


def _card_public_key(card: Path) -> ec.EllipticCurvePublicKey:
    key = (
        PivCard(DirectConnection(PivCardApplet.from_file(card)))
        .read_certificate(PivSlot.AUTHENTICATION)
        .public_key()
    )
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def test_a_foreign_challenge_is_never_signed(
    with_card: tuple[AttackedService, Path], rogue: Rogue, keychain: Any
) -> None:
    _, card = with_card

    def tls_shaped(_: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {
            "handle": "A" * 43,
            "challenge": b64url_encode(TLS13_CLIENT_CERTIFICATE_VERIFY),
            "expires_in": 120,
        }

    rogue.challenge, rogue.login = tls_shaped, _refused
    login = tokenstile(
        "login",
        "--server",
        rogue.url,
        "--factor",
        "piv",
        "--device",
        f"virtual:{card}",
        stdin=f"{PIN}\n",
    )
    # Whatever the card produced would have come back to the rogue at /login/piv.
    stolen = rogue.bodies("/login/piv")
    for body in stolen:  # the attack as it was: a TLS CertificateVerify signed by the 9A key
        try:
            _card_public_key(card).verify(
                b64url_decode(body["signature"]),
                TLS13_CLIENT_CERTIFICATE_VERIFY,
                ec.ECDSA(hashes.SHA256()),
            )
            signed_tls = True
        except InvalidSignature:
            signed_tls = False
        assert not signed_tls, "the card signed a TLS 1.3 CertificateVerify for the rogue"
    assert stolen == [], "the card signed something for a 130-byte challenge"
    assert login.returncode != 0
    assert "PIN of the card" not in login.stderr  # refused before the PIN was asked
    assert "challenge" in login.stderr.lower()
    assert Broker().session() is None


def test_a_relayed_challenge_fails_at_the_real_service(
    with_card: tuple[AttackedService, Path], rogue: Rogue, keychain: Any
) -> None:
    service, card = with_card
    real = httpx.Client(base_url=service.url, timeout=10)
    relayed: list[httpx.Response] = []

    def relay_challenge(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        answer = real.post("/login/piv/challenge", json=body)
        return answer.status_code, answer.json()

    def relay_login(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        answer = real.post("/login/piv", json=body)
        relayed.append(answer)
        return _refused(body)  # the rogue keeps whatever it got

    rogue.challenge, rogue.login = relay_challenge, relay_login
    try:
        login = tokenstile(
            "login",
            "--server",
            rogue.url,
            "--factor",
            "piv",
            "--device",
            f"virtual:{card}",
            stdin=f"{PIN}\n",
        )
    finally:
        real.close()
    assert login.returncode != 0
    assert len(relayed) == 1, login.stderr
    assert relayed[0].status_code == 400, relayed[0].text
    assert relayed[0].json()["error"] == "invalid_grant"
    assert "access_token" not in relayed[0].json()
    failures = [e for e in service.audit("piv_login") if e["outcome"] == "failure"]
    assert [e["username"] for e in failures] == ["alice"]
    assert failures[0]["detail"]["reason"] == "bad_signature"
    assert not [e for e in service.audit("piv_login") if e["outcome"] == "success"]


def test_the_legitimate_card_login_still_works(
    with_card: tuple[AttackedService, Path], keychain: Any
) -> None:
    service, card = with_card
    login = tokenstile(
        "login",
        "--server",
        service.url,
        "--factor",
        "piv",
        "--device",
        f"virtual:{card}",
        stdin=f"{PIN}\n",
    )
    assert login.returncode == 0, login.stderr
    session = Broker().session()
    assert session is not None
    assert (session.username, session.factor, session.acr) == ("alice", "piv", "phrh")
    assert [e["outcome"] for e in service.audit("piv_login")] == ["success"]
