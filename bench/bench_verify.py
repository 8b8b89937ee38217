"""Access-token verification speed: raw ECDSA vs PyJWT vs AccessTokenVerifier.

Run pinned to one core so the three contenders share the same conditions::

    taskset -c 1 .venv/bin/python bench/bench_verify.py

Each round times every contender for about ``--seconds`` (rounds interleave them, and
the order rotates per round so none always runs first); the median of the rounds is
reported. "raw" is ``cryptography``'s ECDSA P-256 verify of the very signing input
and signature (converted to DER once, outside the loop): the floor no JWT verifier
can beat.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tokenstile.protocol.jose import b64url_decode
from tokenstile.tokens import AccessTokenVerifier
from tokenstile.tokens.keys import SigningKey

ISSUER = "https://auth.example"
AUDIENCE = "https://api.example"
BATCH = 200


def _token(key: SigningKey) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "user-7f3a9c0e",
        "aud": AUDIENCE,
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "jti": "b9a3f2c4e1d84c6f9a0b1c2d3e4f5a6b",
        "client_id": "tokenstile-kiosk",
        "scope": "openid profile api.read",
        "sid": "s-5e8d2f1a9b3c4d6e",
        "auth_time": now - 5,
        "amr": ["hwk", "pin", "mfa"],
        "acr": "urn:tokenstile:acr:hwk",
    }
    return jwt.encode(
        claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": "at+jwt"}
    )


def _rate(run: Callable[[], object], seconds: float) -> float:
    """Operations per second of ``run`` over about ``seconds``."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(BATCH):
            run()
        done += BATCH
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()

    key = SigningKey.generate("ES256", created_at=0, sign_from=0)
    token = _token(key)
    public = key.private_key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    signing_input, _, signature_b64 = token.encode("ascii").rpartition(b".")
    raw_signature = b64url_decode(signature_b64)
    der = encode_dss_signature(
        int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big")
    )
    ecdsa = ec.ECDSA(hashes.SHA256())
    verifier = AccessTokenVerifier(ISSUER, AUDIENCE, {"keys": [key.jwk]})

    def raw() -> None:
        public.verify(der, signing_input, ecdsa)

    def pyjwt() -> dict[str, object]:
        claims: dict[str, object] = jwt.decode(
            token, public, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER
        )
        return claims

    def tokenstile() -> dict[str, object]:
        return verifier.verify(token)

    contenders: dict[str, Callable[[], object]] = {
        "raw": raw,
        "pyjwt": pyjwt,
        "verifier": tokenstile,
    }
    # Same answer from both JWT paths before timing anything.
    assert pyjwt() == tokenstile()
    for run in contenders.values():
        _rate(run, 0.2)  # warm-up

    rates: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for round_no in range(args.rounds):
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        for name in order:
            rates[name].append(_rate(contenders[name], args.seconds))

    print(f"token {len(token)} bytes, ES256; {args.rounds} rounds x {args.seconds:g} s, median")
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name in names:
        spread = f"{min(rates[name]):,.0f}-{max(rates[name]):,.0f}"
        print(
            f"  {name:<9} {median[name]:>9,.0f} ops/s  {1e6 / median[name]:6.1f} us/op"
            f"  (rounds {spread})"
        )
    print(f"  verifier/raw = {median['verifier'] / median['raw']:.3f}")
    print(f"  pyjwt/raw    = {median['pyjwt'] / median['raw']:.3f}")
    print(f"  verifier/pyjwt = {median['verifier'] / median['pyjwt']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
