"""atheris fuzz targets for the parsers that take bytes from strangers.

- ``token``: an access token (compact JWS) through ``AccessTokenVerifier.verify``,
  with a real JWKS; only ``InvalidToken`` may come out.
- ``pskc``: a PSKC file (plain, or with a pre-shared key or a password, picked by the
  first byte) through ``import_pskc``; it must answer with problems, or raise a
  ``TokenstileError``.
- ``webauthn``: the CBOR and binary parsing of WebAuthn: authenticator data, COSE keys,
  client data JSON, and a whole registration (attestation object) checked by
  ``verify_registration``; only ``WebAuthnError`` may come out.
- ``scim``: a SCIM list filter (first byte even) through ``parse_filter``, or a User body
  (odd) through scim2-models' validation and ``person_fields``; only ``SCIMException``
  and pydantic's ``ValidationError`` may come out.

Anything else (``KeyError``, ``IndexError``, a ``RecursionError``...) is a crash for
libFuzzer. Run one::

    python -m tests.fuzz.targets seeds DIR            # seed corpora: DIR/token, DIR/pskc, ...
    python -m tests.fuzz.targets token DIR/token -max_total_time=60

The arguments after the target go to libFuzzer (``-runs=N``, ``-max_total_time=S``,
corpus directories). ``tests/fuzz/test_targets.py`` runs each briefly; ``make fuzz``
for longer.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ISSUER = "https://auth.example"
AUDIENCE = "urn:tokenstile:local"
DATA = Path(__file__).resolve().parent.parent / "unit" / "factors" / "data"


# -- token ---------------------------------------------------------------------------------


def _fixed_key() -> Any:
    """The same signing key in the target and in its seeds, so seeds reach the signature."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from tokenstile.tokens.keys import SigningKey, public_jwk

    private = ec.derive_private_key(0x70CE_5713_1E5, ec.SECP256R1())
    jwk = public_jwk(private.public_key(), "ES256")
    return SigningKey(jwk["kid"], "ES256", private, jwk, 0.0, 0.0)


def _token_target() -> Callable[[bytes], None]:
    from tokenstile.errors import InvalidToken
    from tokenstile.tokens.verifier import AccessTokenVerifier

    verifier = AccessTokenVerifier(ISSUER, AUDIENCE, {"keys": [_fixed_key().jwk]})

    def fuzz(data: bytes) -> None:
        with contextlib.suppress(InvalidToken):
            verifier.verify(data.decode("latin-1"))

    return fuzz


def _token_seeds() -> list[bytes]:
    import time

    import jwt

    key = _fixed_key()
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 600}
    headers = {"typ": "at+jwt", "kid": key.kid}
    good = jwt.encode(claims, key.private_key, algorithm="ES256", headers=headers)
    none = jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt"})
    return [good.encode(), none.encode(), b"e30.e30.", b"..", b"a.b.c"]


# -- pskc -------------------------------------------------------------------------------------


def _pskc_target() -> Callable[[bytes], None]:
    from tokenstile.errors import TokenstileError
    from tokenstile.factors.pskc_import import import_pskc

    psk = bytes.fromhex("12345678901234567890123456789012")

    def fuzz(data: bytes) -> None:
        mode, body = (data[0] % 3, data[1:]) if data else (0, data)
        with contextlib.suppress(TokenstileError):
            import_pskc(
                body,
                now=1_800_000_000.0,
                psk=psk if mode == 1 else None,
                password="qwerty" if mode == 2 else None,
            )

    return fuzz


def _pskc_seeds() -> list[bytes]:
    return [
        bytes([n % 3]) + path.read_bytes() for n, path in enumerate(sorted(DATA.glob("*.pskcxml")))
    ]


# -- webauthn ---------------------------------------------------------------------------------


def _webauthn_target() -> Callable[[bytes], None]:
    import atheris

    from tokenstile.factors.webauthn import (
        WebAuthnError,
        cbor_decode_all,
        parse_authenticator_data,
        parse_client_data,
        public_key_from_cose,
        relying_party_for,
    )
    from tokenstile.factors.webauthn_registration import Registration, verify_registration

    rp = relying_party_for(ISSUER)

    def fuzz(data: bytes) -> None:
        provider = atheris.FuzzedDataProvider(data)
        part = provider.ConsumeIntInRange(0, 4)
        rest = provider.ConsumeBytes(len(data))
        try:
            if part == 0:
                parse_authenticator_data(rest, assertion=True)
            elif part == 1:
                parse_authenticator_data(rest, assertion=False)
            elif part == 2:
                public_key_from_cose(cbor_decode_all(rest, "COSE key"))
            elif part == 3:
                parse_client_data(rest)
            else:
                registration = Registration(b"id", _CLIENT_DATA, rest, (), None)
                verify_registration(rp, registration, challenge=_CHALLENGE, now=1_800_000_000.0)
        except WebAuthnError:
            pass

    return fuzz


_CHALLENGE = b"\x01" * 32
_CLIENT_DATA = (
    b'{"type":"webauthn.create","challenge":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",'
    b'"origin":"https://auth.example","crossOrigin":false}'
)


def _webauthn_seeds() -> list[bytes]:
    import base64

    from tests.unit.factors.webauthn_keys import Kiosk, registration_options

    def unb64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    kiosk = Kiosk()
    made = kiosk.register(registration_options(challenge=_CHALLENGE))["response"]
    attestation = unb64(made["attestationObject"])
    client_data = unb64(made["clientDataJSON"])
    # The leading byte picks the parser (FuzzedDataProvider reads it from the front).
    return [bytes([4]) + attestation, bytes([3]) + client_data, bytes([2]) + b"\xa0", b"\x00" * 40]


def _scim_target() -> Callable[[bytes], None]:
    import json

    from pydantic import ValidationError
    from scim2_models import Context, SCIMException

    from tokenstile.server.scim_routes import (
        _USER_FILTERS,
        PROVIDER,
        UserResource,
        parse_filter,
        person_fields,
    )

    def target(data: bytes) -> None:
        if not data:
            return
        with contextlib.suppress(SCIMException, ValidationError, UnicodeDecodeError):
            text = data[1:].decode("utf-8", errors="surrogatepass")
            if data[0] % 2 == 0:
                parse_filter(text, _USER_FILTERS)
                return
            try:
                body = json.loads(text)
            except (ValueError, RecursionError):
                return  # the route refuses it before validation
            if not isinstance(body, dict):
                return
            with PROVIDER:
                user = UserResource.model_validate(body, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
            person_fields(user)

    return target


def _scim_seeds() -> list[bytes]:
    user = b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bjensen",'
    user += b' "name": {"givenName": "Barbara"}, "emails": [{"value": "b@x.org"}]}'
    return [b"\x00" + b'userName eq "bjensen"', b"\x00" + b'externalId eq "a\\"b"', b"\x01" + user]


TARGETS: dict[str, tuple[Callable[[], Callable[[bytes], None]], Callable[[], list[bytes]]]] = {
    "token": (_token_target, _token_seeds),
    "pskc": (_pskc_target, _pskc_seeds),
    "webauthn": (_webauthn_target, _webauthn_seeds),
    "scim": (_scim_target, _scim_seeds),
}


def write_seeds(directory: Path) -> None:
    for name, (_target, seeds) in TARGETS.items():
        corpus = directory / name
        corpus.mkdir(parents=True, exist_ok=True)
        for n, seed in enumerate(seeds()):
            (corpus / f"seed-{n}").write_bytes(seed)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or (argv[1] not in TARGETS and argv[1] != "seeds"):
        print(f"usage: {argv[0]} seeds DIR | {{{','.join(TARGETS)}}} [libFuzzer args]")
        return 2
    if argv[1] == "seeds":
        write_seeds(Path(argv[2]))
        return 0
    import atheris

    with atheris.instrument_imports(include=["tokenstile"]):
        target: Any = TARGETS[argv[1]][0]()
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()
    return 0  # not reached: libFuzzer exits the process


if __name__ == "__main__":
    sys.exit(main(sys.argv))
