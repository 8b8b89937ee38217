"""Sign-out everywhere: the ``id_token_hint`` of RP-initiated logout and the back-channel
``logout_token`` (OpenID Connect RP-Initiated Logout 1.0, Back-Channel Logout 1.0).

**id_token_hint.** Proof that the request to ``/logout`` comes from an app the person
used: an ID token this service signed (its ``kid`` a key of the ring, its ``alg`` that
key's, ``typ: JWT``, our ``iss``). Its expiry may have passed (RP-Initiated Logout
section 2: the hint "MAY" be expired; an app logs out long after sign-in), but it was
never issued in the future nor lives longer than any token we issue. Its ``aud`` names
the client; its ``sid`` the provider session to end. A hint that fails any check is
not a hint: ``/logout`` then falls back to its confirmation page.

**logout_token** (Back-Channel Logout section 2.4): a JWT signed with the current key,
``typ: logout+jwt`` (section 2.4, so that it can never pass for an ID token or an
access token), with ``iss``, ``aud`` (the client), ``iat``, ``exp`` (two minutes),
``jti`` (the delivery's, the same at every retry of one delivery, so that an app that
already processed it can tell), ``sub``, ``sid`` (the provider session its ID tokens
named) and the ``events`` member; never a ``nonce`` (section 2.4: its absence is what
tells an ID token from a logout token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from tokenstile.tokens.keys import KeyRing

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105 - a media type, not a secret
LOGOUT_TOKEN_LIFETIME = 120  # seconds
MAX_HINT_CHARS = 4096
IAT_LEEWAY = 60.0


@dataclass(frozen=True, slots=True)
class IdTokenHint:
    """What a verified ``id_token_hint`` says."""

    client_id: str
    subject: str
    sid: str | None


def verify_id_token_hint(
    token: str, *, keyring: KeyRing, issuer: str, now: float, max_lifetime: float
) -> IdTokenHint | None:
    """The hint's client, subject and session if this service signed it (expiry aside);
    None for anything else: another issuer's, another key's, altered, malformed."""
    if not token or len(token) > MAX_HINT_CHARS:
        return None
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    kid = header.get("kid")
    key = keyring.get(kid) if isinstance(kid, str) else None
    if key is None or header.get("alg") != key.alg or header.get("typ") != "JWT":
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=[key.alg],
            issuer=issuer,
            options={
                "verify_aud": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["iss", "sub", "aud", "exp", "iat"],
            },
        )
    except jwt.PyJWTError:
        return None
    aud, sub, sid = claims["aud"], claims["sub"], claims.get("sid")
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int) or not isinstance(iat, int):
        return None
    if iat > now + IAT_LEEWAY or exp - iat > max_lifetime:
        return None
    if isinstance(aud, list):
        # Our ID tokens have one audience; a list of one is the same claim.
        aud = aud[0] if len(aud) == 1 else None
    if not isinstance(aud, str) or not aud or not isinstance(sub, str) or not sub:
        return None
    if sid is not None and not isinstance(sid, str):
        return None
    return IdTokenHint(client_id=aud, subject=sub, sid=sid)


def logout_token(
    *, keyring: KeyRing, issuer: str, client_id: str, subject: str, sid: str, jti: str, now: float
) -> str:
    """A signed back-channel logout token for ``client_id`` (see the module docstring)."""
    key = keyring.signer(now)
    iat = int(now)
    claims = {
        "iss": issuer,
        "aud": client_id,
        "iat": iat,
        "exp": iat + LOGOUT_TOKEN_LIFETIME,
        "jti": jti,
        "sub": subject,
        "sid": sid,
        "events": {BACKCHANNEL_EVENT: {}},
    }
    return jwt.encode(
        claims,
        key.private_key,
        algorithm=key.alg,
        headers={"typ": LOGOUT_TOKEN_TYPE, "kid": key.kid},
    )
