"""FIDO2 login cost on the server: options + verify + tokens, against the signature check alone.

Run::

    .venv/bin/python bench/bench_webauthn_login.py                 # SQLite FULL, ES256
    .venv/bin/python bench/bench_webauthn_login.py --sync NORMAL --alg EdDSA

One login, as the server does it:

1. ``POST /login/webauthn/options``: a 32-byte challenge stored under a new handle (one
   write transaction: purge long-expired challenges, insert, commit);
2. the kiosk's key signs (the software key in this process: not counted);
3. ``POST /login/webauthn``: the body parsed (JSON, base64url, authenticator data,
   client data), then one write transaction (``DELETE ... RETURNING`` of the challenge,
   the credential and its person read, every WebAuthn check and the signature, the
   forward-only counter UPDATE, the ``fido2_login`` audit row, commit), then the token
   service's session (session row, refresh token, ``login`` audit row, commit, ES256
   access token).

Measured two ways, medians: in-process without HTTP, piece by piece (one thread, warm);
and end to end over HTTP against one ``tokenstile server`` worker on loopback, one
request at a time (the key's signing excluded). The signature check alone is the
``cryptography`` verify of the stored COSE key over ``authData || SHA-256(clientData)``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.unit.factors.webauthn_keys import Kiosk  # noqa: E402

from harness import free_port, machine, median_us, timing  # noqa: E402
from tokenstile.composition import Services  # noqa: E402
from tokenstile.config import load_settings  # noqa: E402
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment  # noqa: E402
from tokenstile.devices.fido2_client import SecurityKeyClient  # noqa: E402
from tokenstile.factors import webauthn_login as login_module  # noqa: E402
from tokenstile.factors.webauthn import (  # noqa: E402
    CredentialPublicKey,
    b64url,
    load_public_key,
    parse_assertion,
)
from tokenstile.factors.webauthn_registration import parse_registration  # noqa: E402
from tokenstile.factors.webauthn_service import WebAuthnService  # noqa: E402
from tokenstile.server.webauthn_routes import parse_login  # noqa: E402
from tokenstile.tokens.model import AuditEvent  # noqa: E402

ALGS = {"ES256": -7, "EdDSA": -8}


def enrolled_kiosk(repo: WebAuthnService, origin: str, alg: int) -> Kiosk:
    kiosk = Kiosk()
    kiosk.client = SecurityKeyClient(kiosk.device, origin=origin, on_pin=lambda _: "4711")
    options = repo.begin_registration("alice", label="bench", by="bench")
    public_key = dict(options.public_key)
    public_key["pubKeyCredParams"] = [{"type": "public-key", "alg": alg}]
    repo.complete_registration(
        options.handle,
        parse_registration(kiosk.register(public_key)),
        by="bench",
        uv_method="pin",
    )
    return kiosk


def signature_alone(kiosk: Kiosk, repo: WebAuthnService, rounds: int) -> dict[str, float]:
    """The verify of one real assertion, repeated; and with the COSE key decoded each time."""
    options = repo.login_options()
    assertion = parse_assertion(kiosk.authenticate(options.public_key))
    with repo._store.read() as tx:  # the stored COSE key, as a login reads it
        credential = tx.find_credential(assertion.credential_id)
    assert credential is not None
    message = assertion.authenticator_data.raw + assertion.client_data.hash
    key = load_public_key(credential.public_key)
    verify, load_verify = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        assert key.verify(assertion.signature, message)
        middle = time.perf_counter()
        assert load_public_key(credential.public_key).verify(assertion.signature, message)
        ended = time.perf_counter()
        verify.append(middle - began)
        load_verify.append(ended - middle)
    return {"verify_us": median_us(verify), "load_and_verify_us": median_us(load_verify)}


def in_process(
    dep: Deployment, repo: WebAuthnService, kiosk: Kiosk, rounds: int
) -> dict[str, float]:
    service = dep.token_service()
    client = dep.store.find_client(DEFAULT_KIOSK_CLIENT_ID)
    assert client is not None
    options_t: list[float] = []
    parse_t: list[float] = []
    login_t: list[float] = []
    session_t: list[float] = []
    checks: list[float] = []
    verifies: list[float] = []
    with (
        timing(login_module, "check_assertion", checks),
        timing(CredentialPublicKey, "verify", verifies),
    ):
        for _ in range(rounds):
            t0 = time.perf_counter()
            options = repo.login_options()
            t1 = time.perf_counter()
            body = json.dumps(
                {"handle": options.handle, "credential": kiosk.authenticate(options.public_key)}
            ).encode()
            t2 = time.perf_counter()
            handle, assertion, _ = parse_login(body)
            t3 = time.perf_counter()
            outcome = repo.login(handle, assertion, client_id=client.client_id, origin="bench")
            t4 = time.perf_counter()
            credential = outcome.credential
            assert outcome.accepted, outcome.status
            assert credential is not None
            service.sessions.open_session(
                user=credential.user,
                client=client,
                factor="fido2",
                amr=outcome.amr,
                acr="phrh",
                origin="bench",
                device={
                    "aaguid": credential.aaguid,
                    "credential_id": b64url(credential.credential_id),
                },
            )
            t5 = time.perf_counter()
            options_t.append(t1 - t0)
            parse_t.append(t3 - t2)
            login_t.append(t4 - t3)
            session_t.append(t5 - t4)
    totals = [
        a + b + c + d for a, b, c, d in zip(options_t, parse_t, login_t, session_t, strict=True)
    ]
    return {
        "total_us": median_us(totals),
        "options_us": median_us(options_t),
        "parse_us": median_us(parse_t),
        "login_tx_us": median_us(login_t),
        "check_assertion_us": median_us(checks),
        "signature_us": median_us(verifies),
        "session_us": median_us(session_t),
    }


def over_http(args: argparse.Namespace, db: str, workdir: Path, rounds: int) -> dict[str, float]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TOKENSTILE_KEK_FILE": str(workdir / "kek.key"),
        "TOKENSTILE_SQLITE_SYNCHRONOUS": args.sync,
    }
    cmd = [
        sys.executable,
        "-m",
        "tokenstile.cli",
        "server",
        "--db",
        db,
        "--port",
        str(port),
        "--issuer",
        issuer,
    ]
    if args.server_cpu is not None:
        cmd = ["taskset", "-c", str(args.server_cpu), *cmd]
    log = (workdir / "server.log").open("wb")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{issuer}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError((workdir / "server.log").read_text())
            time.sleep(0.05)
        setup = Deployment(load_settings(db=db, kek_file=workdir / "kek.key", issuer=issuer))
        repo = Services(setup).webauthn_service()
        kiosk = enrolled_kiosk(repo, "https://localhost", ALGS[args.alg])
        options_t: list[float] = []
        login_t: list[float] = []
        with httpx.Client(base_url=issuer, timeout=10) as http:
            for number in range(rounds + 50):
                t0 = time.perf_counter()
                begun = http.post("/login/webauthn/options").json()
                t1 = time.perf_counter()
                body = {
                    "handle": begun["handle"],
                    "credential": kiosk.authenticate(begun["publicKey"]),
                }
                t2 = time.perf_counter()
                done = http.post("/login/webauthn", json=body)
                t3 = time.perf_counter()
                assert done.status_code == 200, done.text
                if number >= 50:  # warm-up
                    options_t.append(t1 - t0)
                    login_t.append(t3 - t2)
        setup.close()
    finally:
        server.terminate()
        server.wait(10)
        log.close()
    totals = [a + b for a, b in zip(options_t, login_t, strict=True)]
    return {
        "total_us": median_us(totals),
        "options_us": median_us(options_t),
        "login_us": median_us(login_t),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000, help="logins in-process")
    parser.add_argument("--http-rounds", type=int, default=500, help="logins over HTTP")
    parser.add_argument("--sync", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--alg", choices=sorted(ALGS), default="ES256")
    parser.add_argument("--server-cpu", type=int, default=None, help="taskset the server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tokenstile-bench-") as tmp:
        workdir = Path(tmp)
        os.environ["TOKENSTILE_DATA_DIR"] = str(workdir / "data")
        db = f"sqlite:///{workdir / 'bench.db'}"
        dep = Deployment(
            load_settings(
                db=db,
                issuer="https://auth.example",
                kek_file=workdir / "kek.key",
                sqlite_synchronous=args.sync,
            )
        )
        dep.init()
        dep.store.add_user(
            "alice",
            display_name="Alice",
            is_admin=False,
            at=dep.clock.now(),
            audit=AuditEvent("user_added", "info"),
        )
        repo = Services(dep).webauthn_service()
        kiosk = enrolled_kiosk(repo, "https://auth.example", ALGS[args.alg])
        in_process(dep, repo, kiosk, 50)  # warm-up
        local = in_process(dep, repo, kiosk, args.rounds)
        alone = signature_alone(kiosk, repo, 2000)
        dep.close()
        remote = over_http(args, db, workdir, args.http_rounds)

    print(f"machine: {machine()}; SQLite synchronous={args.sync}; credential {args.alg}")
    print(f"in-process, median of {args.rounds} logins (us):")
    for name, value in local.items():
        print(f"  {name:<20} {value:9.1f}")
    print("signature check alone, median of 2000 (us):")
    for name, value in alone.items():
        print(f"  {name:<20} {value:9.1f}")
    print(f"over HTTP, one worker, one request at a time, median of {args.http_rounds} (us):")
    for name, value in remote.items():
        print(f"  {name:<20} {value:9.1f}")
    share = alone["verify_us"] / local["total_us"] * 100
    print(
        f"one login {local['total_us'] / 1000:.2f} ms in-process, "
        f"{remote['total_us'] / 1000:.2f} ms over HTTP; the signature check is "
        f"{alone['verify_us']:.0f} us ({share:.1f}% of the in-process login)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
