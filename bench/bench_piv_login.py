"""PIV login cost on the server: begin + verify + tokens, against the signature check alone.

Two measurements, each for ECC P-256 and RSA-2048 cards::

    .venv/bin/python bench/bench_piv_login.py                 # 400 logins per part
    .venv/bin/python bench/bench_piv_login.py --sync NORMAL --logins 1000

1. **In-process, no HTTP** (pinned to one core): for every login ``PivService
   .begin_login`` (certificate judged, card and person read, challenge stored, audit row,
   commit), the card's signature made by the bench (not timed: the card does it), then
   ``complete_login`` (the challenge claimed by the conditional UPDATE, card and person
   read, certificate checked again, signature verified, card use recorded, audit row,
   commit) and ``TokenService.sessions.open_session`` (session, refresh token, audit row, commit,
   ES256 access token). Medians of each part, next to the medians of
   ``verify_challenge_signature`` alone and of the certificate checks alone (without and
   with a trust anchor, i.e. with RFC 5280 path validation).
2. **Over HTTP**: one ``tokenstile server`` worker on cpu 0, the kiosk side (httpx, and
   the signing) on cpu 1, logins one after another: the two requests' latencies, and the
   server's CPU time per login (from ``/proc``), which is the server-side cost with the
   framework and the HTTP parsing included.

Every login is a distinct enrolled card; the audit log must hold one ``piv_login``
success per login afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import func, insert, select

from harness import (
    bench_env,
    cpu_seconds,
    free_port,
    machine,
    median_us,
    start_server,
    stop_server,
    today,
)
from tokenstile.composition import Services
from tokenstile.config import load_settings
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID, Deployment
from tokenstile.factors.piv import (
    CertificateChecker,
    CertificateSummary,
    card_public_key,
    verify_challenge_signature,
)
from tokenstile.protocol.jose import b64url_decode, b64url_encode
from tokenstile.protocol.piv_message import login_message, service_origin
from tokenstile.store import schema as t

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
WARMUP = 50


def sign(key: PrivateKey, challenge: bytes, service: str | None = None) -> bytes:
    """What the card answers to GENERAL AUTHENTICATE over SHA-256 of the login message
    naming ``service`` (protocol/piv_message.py); of ``challenge`` itself when None."""
    if service is not None:
        challenge = login_message(service_origin(service), challenge)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(challenge, ec.ECDSA(hashes.SHA256()))
    return key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())


def make_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Root CA")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def card_certificate(
    name: str, key: PrivateKey, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca[1].public_key()), False
        )
        .sign(ca[1], hashes.SHA256())
    )


def enroll_cards(
    dep: Deployment, algorithm: str, count: int, ca: tuple[x509.Certificate, Any], *, prefix: str
) -> list[tuple[bytes, PrivateKey]]:
    """``count`` people with one enrolled card each (bulk rows, the columns ``register``
    writes); each card's certificate (DER) and private key."""
    rsa_keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(8)]
    now = dep.clock.now()
    cards: list[tuple[bytes, PrivateKey]] = []
    users = []
    for n in range(count):
        key: PrivateKey = (
            ec.generate_private_key(ec.SECP256R1()) if algorithm == "ECCP256" else rsa_keys[n % 8]
        )
        name = f"{prefix}-{algorithm.lower()}-{n:05d}"
        cards.append((card_certificate(name, key, ca).public_bytes(Encoding.DER), key))
        users.append(
            {
                "username": name,
                "display_name": name,
                "is_admin": False,
                "enabled": True,
                "created_at": now,
            }
        )
    with dep.store.write() as tx:
        conn = tx.connection
        conn.execute(insert(t.users), users)
        ids = dict(conn.execute(select(t.users.c.username, t.users.c.id)).all())
        rows = []
        for (der, _), user in zip(cards, users, strict=True):
            summary = CertificateSummary.of(x509.load_der_x509_certificate(der))
            rows.append(
                {
                    "fingerprint": summary.fingerprint,
                    "user_id": ids[user["username"]],
                    "certificate": der,
                    "cert_serial": summary.serial,
                    "subject": summary.subject,
                    "issuer": summary.issuer,
                    "not_before": summary.not_before,
                    "not_after": summary.not_after,
                    "key_algorithm": summary.key_algorithm,
                    "label": "bench",
                    "source": "registered",
                    "state": "active",
                    "created_at": now,
                    "enrolled_by": "bench",
                }
            )
        conn.execute(insert(t.piv_cards), rows)
    return cards


def timed(run: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        samples.append(time.perf_counter() - began)
    return median_us(samples)


def in_process(
    dep: Deployment, cards: list[tuple[bytes, PrivateKey]], ca_cert: x509.Certificate
) -> dict[str, float]:
    services = Services(dep)
    repo = services.piv_service()
    service = services.token_service()
    client = dep.store.find_client(DEFAULT_KIOSK_CLIENT_ID)
    assert client is not None
    begin_t: list[float] = []
    complete_t: list[float] = []
    session_t: list[float] = []
    for number, (der, key) in enumerate(cards):
        began = time.perf_counter()
        outcome = repo.begin_login(der, client_id=client.client_id, origin="bench")
        middle = time.perf_counter()
        assert outcome.accepted
        assert outcome.challenge is not None
        assert outcome.handle is not None
        # The card's work, not the server's: over the message naming the service.
        signature = sign(key, outcome.challenge, dep.settings.issuer_url())
        resumed = time.perf_counter()
        done = repo.complete_login(outcome.handle, signature, origin="bench")
        verified = time.perf_counter()
        assert done.accepted, done.status
        assert done.user is not None
        service.sessions.open_session(
            user=done.user,
            client=client,
            factor="piv",
            amr=("sc", "pin", "mfa"),
            acr="phrh",
            origin="bench",
            device={"cert_serial": done.certificate.serial if done.certificate else ""},
        )
        ended = time.perf_counter()
        if number >= WARMUP:
            begin_t.append(middle - began)
            complete_t.append(verified - resumed)
            session_t.append(ended - verified)
    der, key = cards[0]
    certificate = x509.load_der_x509_certificate(der)
    public_key = card_public_key(certificate)
    challenge = os.urandom(32)
    signature = sign(key, challenge)
    now = dep.clock.now()
    pinned = CertificateChecker()
    chained = CertificateChecker([ca_cert])
    totals = [b + c + s for b, c, s in zip(begin_t, complete_t, session_t, strict=True)]
    return {
        "total_us": median_us(totals),
        "begin_us": median_us(begin_t),
        "complete_us": median_us(complete_t),
        "session_us": median_us(session_t),
        "verify_us": timed(
            lambda: verify_challenge_signature(public_key, challenge, signature), 2000
        ),
        "check_us": timed(lambda: pinned.refusal(certificate, now), 2000),
        "chain_check_us": timed(lambda: chained.refusal(certificate, now), 500),
    }


@contextlib.contextmanager
def server_process(
    args: argparse.Namespace, db: str, env: dict[str, str], workdir: Path
) -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = start_server(db, port, args.server_cpu, env, workdir / f"server-{port}.log")
    try:
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        stop_server(proc)


def over_http(base: str, pid: int, cards: list[tuple[bytes, PrivateKey]]) -> dict[str, float]:
    begin_t: list[float] = []
    complete_t: list[float] = []
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=base, timeout=10) as client:

        def login(der: bytes, key: PrivateKey) -> tuple[float, float]:
            began = time.perf_counter()
            answer = client.post(
                "/login/piv/challenge",
                content=f'{{"certificate":"{b64url_encode(der)}"}}',
                headers=headers,
            )
            middle = time.perf_counter()
            assert answer.status_code == 200, answer.text
            body = answer.json()
            signature = b64url_encode(sign(key, b64url_decode(body["challenge"]), base))
            resumed = time.perf_counter()
            done = client.post(
                "/login/piv",
                content=f'{{"handle":"{body["handle"]}","signature":"{signature}"}}',
                headers=headers,
            )
            ended = time.perf_counter()
            assert done.status_code == 200, done.text
            return middle - began, ended - resumed

        for der, key in cards[:WARMUP]:
            login(der, key)
        cpu_before = cpu_seconds(pid)
        wall = time.perf_counter()
        for der, key in cards[WARMUP:]:
            first, second = login(der, key)
            begin_t.append(first)
            complete_t.append(second)
        wall = time.perf_counter() - wall
        server_cpu = cpu_seconds(pid) - cpu_before
    logins = len(cards) - WARMUP
    return {
        "begin_us": median_us(begin_t),
        "complete_us": median_us(complete_t),
        "p99_ms": statistics.quantiles(
            [a + b for a, b in zip(begin_t, complete_t, strict=True)], n=100
        )[98]
        * 1e3,
        "server_cpu_us": server_cpu / logins * 1e6,
        "logins_per_s": logins / wall,
    }


def successes(dep: Deployment) -> int:
    a = t.audit
    stmt = select(func.count()).where(a.c.event == "piv_login", a.c.outcome == "success")
    with dep.engine.connect() as conn:
        return int(conn.execute(stmt).scalar() or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=400, help="logins per part and algorithm")
    parser.add_argument("--sync", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--algorithms", default="ECCP256,RSA2048")
    args = parser.parse_args()
    if shutil.which("taskset") is None:
        print("taskset is not installed.", file=sys.stderr)
        return 1
    os.sched_setaffinity(0, {args.client_cpu})
    workdir = Path(tempfile.mkdtemp(prefix="tokenstile-piv-bench-"))
    env = bench_env(workdir, args.sync)
    db = f"sqlite:///{workdir / 'bench.db'}"
    dep = Deployment(load_settings(db=db))
    ca = make_ca()
    results: dict[str, dict[str, float]] = {}
    expected = 0
    try:
        dep.init()
        env["TOKENSTILE_KEK_FILE"] = str(dep.settings.kek_file)
        for algorithm in args.algorithms.split(","):
            count = args.logins + WARMUP
            cards = enroll_cards(dep, algorithm, count, ca, prefix="local")
            # In-process on the server's core: no server runs meanwhile.
            os.sched_setaffinity(0, {args.server_cpu})
            results[f"{algorithm} in-process"] = in_process(dep, cards, ca[0])
            os.sched_setaffinity(0, {args.client_cpu})
            cards = enroll_cards(dep, algorithm, count, ca, prefix="http")
            with server_process(args, db, env, workdir) as (base, pid):
                results[f"{algorithm} http"] = over_http(base, pid, cards)
            expected += 2 * count
        logged = successes(dep)
    finally:
        dep.close()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"date: {today()}; SQLite WAL synchronous={args.sync}")
    for name, r in results.items():
        if name.endswith("in-process"):
            outside = 1 - r["verify_us"] / r["total_us"]
            print(
                f"{name}: login {r['total_us']:.0f} us = begin {r['begin_us']:.0f} + complete "
                f"{r['complete_us']:.0f} + session {r['session_us']:.0f}; signature verify alone "
                f"{r['verify_us']:.0f} us ({r['verify_us'] / r['total_us']:.1%} of the login, "
                f"{outside:.1%} elsewhere); certificate checks {r['check_us']:.0f} us, with a "
                f"trust anchor (path validation) {r['chain_check_us']:.0f} us"
            )
        else:
            print(
                f"{name}: challenge {r['begin_us'] / 1000:.2f} ms + login "
                f"{r['complete_us'] / 1000:.2f} ms (medians), p99 of both {r['p99_ms']:.1f} ms; "
                f"server CPU {r['server_cpu_us']:.0f} us per login; "
                f"{r['logins_per_s']:.0f} logins/s one after another"
            )
    print(f"audit: {logged} piv_login successes for {expected} logins")
    return 0 if logged == expected else 1


if __name__ == "__main__":
    sys.exit(main())
