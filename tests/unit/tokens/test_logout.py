"""The ``id_token_hint`` check and the logout token (``tokens.logout``), on keys of their
own: what an expired, future, long-lived, mistyped or foreign hint gives."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from tokenstile.tokens.keys import KeyRing, SigningKey
from tokenstile.tokens.logout import (
    BACKCHANNEL_EVENT,
    logout_token,
    verify_id_token_hint,
)

ISSUER = "https://id.example"
NOW = 1_800_000_000.0
LIFETIME = 300.0


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate("ES256", created_at=0, sign_from=0)


@pytest.fixture
def ring(key: SigningKey) -> KeyRing:
    return KeyRing([key], max_token_lifetime=LIFETIME)


def id_token(key: SigningKey, *, typ: str = "JWT", **changes: Any) -> str:
    iat = int(NOW) - 3600
    claims = {"iss": ISSUER, "sub": "alice", "aud": "app", "iat": iat, "exp": iat + 300}
    claims |= {"sid": "sid-1", **changes}
    return jwt.encode(
        claims, key.private_key, algorithm=key.alg, headers={"typ": typ, "kid": key.kid}
    )


def check(ring: KeyRing, token: str) -> Any:
    return verify_id_token_hint(token, keyring=ring, issuer=ISSUER, now=NOW, max_lifetime=LIFETIME)


def test_an_expired_hint_of_ours_still_names_its_app_and_session(
    ring: KeyRing, key: SigningKey
) -> None:
    hint = check(ring, id_token(key))
    assert (hint.client_id, hint.subject, hint.sid) == ("app", "alice", "sid-1")
    assert check(ring, id_token(key, aud=["app"])).client_id == "app"


def test_hints_that_are_not_ours_or_not_id_tokens_give_nothing(
    ring: KeyRing, key: SigningKey
) -> None:
    other = SigningKey.generate("ES256", created_at=0, sign_from=0)
    foreign = jwt.encode(
        {"iss": ISSUER, "sub": "alice", "aud": "app", "iat": int(NOW), "exp": int(NOW) + 60},
        other.private_key,
        algorithm="ES256",
        headers={"typ": "JWT", "kid": key.kid},  # our kid, another key
    )
    future = int(NOW) + 3600
    for token in (
        foreign,
        id_token(key, iss="https://elsewhere.example"),
        id_token(key, typ="at+jwt"),  # an access token is no hint
        id_token(key, typ="logout+jwt"),
        id_token(key, iat=future, exp=future + 60),  # issued in the future
        id_token(key, exp=int(NOW) - 3600 + 10 * 86_400),  # longer-lived than anything
        id_token(key, aud=["app", "other"]),
        id_token(key, sub=""),
        "x" * 5000,
        "not.a.jwt",
    ):
        assert check(ring, token) is None, token[:40]


def test_the_logout_token_is_what_back_channel_logout_asks(ring: KeyRing, key: SigningKey) -> None:
    token = logout_token(
        keyring=ring, issuer=ISSUER, client_id="app", subject="alice", sid="s", jti="j", now=NOW
    )
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "typ": "logout+jwt", "kid": key.kid}
    claims = jwt.decode(
        token, key.private_key.public_key(), algorithms=["ES256"], audience="app",
        issuer=ISSUER, options={"verify_exp": False, "verify_iat": False},
    )  # fmt: skip
    assert claims == {
        "iss": ISSUER,
        "aud": "app",
        "iat": int(NOW),
        "exp": int(NOW) + 120,
        "jti": "j",
        "sub": "alice",
        "sid": "s",
        "events": {BACKCHANNEL_EVENT: {}},
    }
    # A logout token is never taken for an ID token hint.
    assert check(ring, token) is None
