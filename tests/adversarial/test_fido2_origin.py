"""Attack 2 (issue 13): a rogue server relays a FIDO2 login.

A rogue server on this machine relays every request to the real service (rp id
``auth.example``) and announces that rp id at ``/login/factors``. A client that took the
WebAuthn origin from the announcement had alice's key sign for ``https://auth.example``
and handed alice's tokens to the rogue. The client decides the origin from the URL the
person (or the kiosk's configuration) names; the announcement is only checked against it,
and a mismatch is refused before the key is touched.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.adversarial.conftest import AttackedService
from tokenstile.broker import Broker
from tokenstile.virtual import KeyFile

PIN = "4711"
REAL_RP_ID = "auth.example"
PRETENDING = "pretending to be"


def tokenstile(
    *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("tokenstile")), *args],
        input=stdin,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def enrolled_key(service: AttackedService, path: Path, **env: str) -> Path:
    """alice's software key, enrolled at ``service`` (for the rp id in ``env``, if any)."""
    created = tokenstile("virtual-key", "create", str(path), "--pin", PIN)
    assert created.returncode == 0, created.stderr
    enrolled = tokenstile(
        "manage",
        "--db",
        service.db,
        "fido2",
        "enroll",
        "alice",
        "--device",
        f"virtual:{path}",
        "--pin",
        PIN,
        **env,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    return path


def key_fingerprint(path: Path) -> tuple[str, int, tuple[int, ...]]:
    """The file's bytes (hashed) and the key's signature counters."""
    state = KeyFile(path).load()
    assert state is not None
    counters = tuple(c.sign_count for c in state.credentials)
    return hashlib.sha256(path.read_bytes()).hexdigest(), state.global_sign_count, counters


def fido2_logins(service: AttackedService) -> list[dict[str, Any]]:
    """Audit entries of security-key logins that succeeded."""
    return [e for e in service.audit("fido2_login") if e.get("outcome") == "success"]


def any_logins(service: AttackedService) -> list[dict[str, Any]]:
    """Audit entries of any login that succeeded (the fixture's people never signed in)."""
    return [
        e
        for e in service.audit()
        if e["event"] in ("login", "fido2_login") and e.get("outcome") == "success"
    ]


@contextmanager
def rogue_server(real: str, announce: str) -> Iterator[str]:
    """A relay to ``real`` on a loopback port of its own that announces ``announce`` as
    the WebAuthn rp id at ``/login/factors``; its URL."""
    upstream = httpx.Client(base_url=real, timeout=10)

    class Relay(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _relay(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.command == "GET" and self.path.split("?")[0] == "/login/factors":
                real_answer = upstream.get("/login/factors").json()
                payload = httpx.Response(
                    200, json={**real_answer, "webauthn_rp_id": announce}
                ).content
                self._answer(200, {"content-type": "application/json"}, payload)
                return
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("host", "content-length", "connection")
            }
            answer = upstream.request(self.command, self.path, content=body, headers=headers)
            kept = {
                k: v
                for k, v in answer.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "connection")
                and k.lower() != "content-encoding"
            }
            self._answer(answer.status_code, kept, answer.content)

        def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _relay  # noqa: N815

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        upstream.close()


def test_a_rogue_server_cannot_relay_a_security_key_login(
    attacked: Any, keychain: Any, tmp_path: Path
) -> None:
    service: AttackedService = attacked(rp_id=REAL_RP_ID)
    key = enrolled_key(service, tmp_path / "alice.key", TOKENSTILE_RP_ID=REAL_RP_ID)
    before = key_fingerprint(key)

    with rogue_server(service.url, REAL_RP_ID) as rogue:
        login = tokenstile(
            "login", "--server", rogue, "--factor", "fido2", "--device", f"virtual:{key}",
            stdin=f"{PIN}\n",
        )  # fmt: skip
        pinned = tokenstile(
            "login", "--server", rogue, "--factor", "fido2", "--device", f"virtual:{key}",
            "--rp-id", REAL_RP_ID, stdin=f"{PIN}\n",
        )  # fmt: skip

    for attempt in (login, pinned):
        assert attempt.returncode != 0, attempt.stdout
        assert PRETENDING in attempt.stderr, attempt.stderr
        assert "Traceback" not in attempt.stderr
        assert "Touch your key" not in attempt.stderr
    assert key_fingerprint(key) == before  # the key was never asked to sign
    assert any_logins(service) == []
    assert Broker().session() is None
    assert keychain.load() is None


def test_the_real_service_on_loopback_still_signs_in_with_a_key(
    attacked: Any, keychain: Any, tmp_path: Path
) -> None:
    """A legitimate loopback deployment: issuer http://127.0.0.1:PORT, rp id localhost."""
    service: AttackedService = attacked()
    key = enrolled_key(service, tmp_path / "alice.key")

    plain = tokenstile(
        "login", "--server", service.url, "--factor", "fido2", "--device", f"virtual:{key}",
        stdin=f"{PIN}\n",
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    pinned = tokenstile(
        "login", "--server", service.url, "--factor", "fido2", "--device", f"virtual:{key}",
        "--rp-id", "localhost", stdin=f"{PIN}\n",
    )  # fmt: skip
    assert pinned.returncode == 0, pinned.stderr
    session = Broker().session()
    assert session is not None
    assert (session.username, session.factor) == ("alice", "fido2")
    assert len(fido2_logins(service)) == 2

    # A pin may not name some other site than the URL the person gave.
    before = key_fingerprint(key)
    foreign = tokenstile(
        "login", "--server", service.url, "--factor", "fido2", "--device", f"virtual:{key}",
        "--rp-id", REAL_RP_ID, stdin=f"{PIN}\n",
    )  # fmt: skip
    assert foreign.returncode != 0
    assert REAL_RP_ID in foreign.stderr, foreign.stderr
    assert key_fingerprint(key) == before


def test_the_kiosk_refuses_a_rogue_before_the_key_is_touched(
    attacked: Any, keychain: Any, tmp_path: Path
) -> None:
    """The kiosk's (and the admin console's) path: ``BrokerSignIn`` at a rogue's URL."""
    from tokenstile.cli.fido2 import open_security_key
    from tokenstile.errors import OriginMismatch
    from tokenstile.kiosk.service import BrokerSignIn, KeyPrompts

    service: AttackedService = attacked(rp_id=REAL_RP_ID)
    key_path = enrolled_key(service, tmp_path / "alice.key", TOKENSTILE_RP_ID=REAL_RP_ID)
    before = key_fingerprint(key_path)
    touched: list[str] = []
    prompts = KeyPrompts(
        on_touch=lambda: touched.append("touch"),
        on_pin=lambda _prompt: touched.append("pin") or PIN,  # type: ignore[func-returns-value]
        cancel=threading.Event(),
    )
    with rogue_server(service.url, REAL_RP_ID) as rogue:
        for pinned in (None, REAL_RP_ID):
            kiosk = BrokerSignIn(rogue, broker=Broker(), rp_id=pinned)
            key = open_security_key(f"virtual:{key_path}")
            try:
                assert "fido2" in kiosk.factors().kinds  # the rogue relays the list
                with pytest.raises(OriginMismatch) as refused:
                    kiosk.login_fido2(key, prompts)
            finally:
                key.close()
                kiosk.close()
            assert PRETENDING in refused.value.message
            assert refused.value.code == "origin_mismatch"
    assert touched == []
    assert key_fingerprint(key_path) == before
    assert any_logins(service) == []
    assert keychain.load() is None


@pytest.mark.parametrize(
    ("server", "announced", "pinned", "expected"),
    [
        ("https://auth.example", "auth.example", None, "auth.example"),
        ("https://auth.example", None, None, "auth.example"),
        ("https://login.auth.example", "auth.example", None, "auth.example"),
        ("https://login.auth.example", "login.auth.example", None, "login.auth.example"),
        ("https://LOGIN.Auth.Example:8443/", "auth.example", None, "auth.example"),
        ("https://login.auth.example", None, "auth.example", "auth.example"),
        ("https://login.auth.example", "auth.example", "auth.example", "auth.example"),
        ("http://127.0.0.1:8080", "localhost", None, "localhost"),
        ("http://127.0.0.1:8080", None, None, "localhost"),
        ("http://[::1]:8080", None, "localhost", "localhost"),
        ("http://localhost:8080", "localhost", None, "localhost"),
        ("https://sso.corp.example.co.uk", "corp.example.co.uk", None, "corp.example.co.uk"),
    ],
)
def test_the_decision_accepts_the_named_host_and_its_registrable_suffixes(
    server: str, announced: str | None, pinned: str | None, expected: str
) -> None:
    from tokenstile.broker.origin import webauthn_origin

    assert webauthn_origin(server, announced, pinned) == (expected, f"https://{expected}")


@pytest.mark.parametrize(
    ("server", "announced", "pinned"),
    [
        ("http://127.0.0.1:8080", "auth.example", None),  # the rogue's announcement
        ("http://127.0.0.1:8080", None, "auth.example"),  # a pin for another site
        ("https://evil.example", "auth.example", None),
        ("https://auth.example.evil", "auth.example", None),
        ("https://login.auth.example", "gin.auth.example", None),  # not on a label boundary
        ("https://login.auth.example", "other.login.auth.example", None),  # a sub-domain
        ("https://login.auth.example", "example", None),  # a public suffix (TLD)
        ("https://sso.example.co.uk", "co.uk", None),  # a public suffix
        ("https://sso.example.co.uk", "uk", None),
        ("https://login.example.com", "com", None),
        ("https://alice.github.io", "github.io", None),  # a private-section public suffix
        ("https://login.example.com", None, "com"),  # a pinned public suffix
        ("https://login.auth.example", "login.auth.example", "auth.example"),  # disagrees
        ("https://login.auth.example", "auth.example", "login.auth.example"),
        ("https://auth.example", "", None),
        ("https://auth.example", "auth.example/", None),
        ("https://auth.example", "*.example", None),
        ("https://10.0.0.5", None, None),  # an IP address cannot be an rp id
        ("https://10.0.0.5", "10.0.0.5", None),
    ],
)
def test_the_decision_refuses_anything_else(
    server: str, announced: str | None, pinned: str | None
) -> None:
    from tokenstile.broker.origin import webauthn_origin
    from tokenstile.errors import OriginMismatch

    with pytest.raises(OriginMismatch) as refused:
        webauthn_origin(server, announced, pinned)
    assert refused.value.code == "origin_mismatch"
    assert refused.value.message.endswith(".")


def test_options_for_another_rp_id_are_refused_before_the_key_is_asked() -> None:
    """A rogue that announces nothing (or the right rp id) but relays the real service's
    request options, ``rpId: auth.example``: the key is never asked for them."""
    from tokenstile.broker.client import TokenServiceClient
    from tokenstile.devices.key_ceremonies import login_with_key
    from tokenstile.errors import OriginMismatch

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login/factors":
            return httpx.Response(200, json={"factors": ["fido2"]})
        challenge = {"challenge": "AAAAAAAAAAAAAAAAAAAAAA", "rpId": REAL_RP_ID}
        return httpx.Response(200, json={"handle": "h", "publicKey": challenge})

    asked: list[object] = []

    class Key:
        def __init__(self, origin: str) -> None:
            self.origin = origin
            self.cancel = threading.Event()

        def authenticate(self, options: object) -> dict[str, object]:
            asked.append(options)
            raise AssertionError("the key was asked")

    with TokenServiceClient("http://127.0.0.1:9", transport=httpx.MockTransport(answer)) as client:
        rp_id, origin = client.webauthn_origin()
        assert (rp_id, origin) == ("localhost", "https://localhost")
        key = Key(origin)
        with pytest.raises(OriginMismatch) as refused:
            login_with_key(key, client.webauthn_login_steps())  # type: ignore[arg-type]
    assert PRETENDING in refused.value.message
    assert asked == []
