"""Temporary access codes (issue 18): what a code looks like, and how it is kept and checked.

A helpdesk person issues one to a person who lost their factor, so that they can sign in
once (or a few times) within some hours and enroll a new one. It is something the person
was told, not something they hold, so its sign-in has the weakest assurance, ``tac``
(``tokens.model.ACR_LEVELS``).

- A code is 12 characters of a 32-letter alphabet without look-alikes (60 bits), shown in
  three groups of four (``K7QD-3MXP-W9TR``); spaces, hyphens and case do not matter when
  it is typed back.
- Only a salted scrypt hash is stored (RFC 7914; N=2^14, r=8, p=1: tens of milliseconds,
  16 MiB), in the text form ``scrypt$N$r$p$salt$hash``; checks compare with
  ``hmac.compare_digest``. A sign-in for a person with no live code costs one hash too,
  so the answer time does not tell who has one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

from tokenstile.errors import InvalidRequest

ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0, 1, I, O
CODE_CHARS: Final = 12
MAX_CODE_INPUT: Final = 64
MAX_HOURS: Final = 72.0
MAX_USES: Final = 20
_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_DUMMY_HASH: Final = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)


def new_code() -> str:
    """A fresh code, grouped for reading aloud."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_CHARS, 4))


def normalize(typed: str) -> str | None:
    """The code's characters as stored, or None for text that cannot be a code."""
    if len(typed) > MAX_CODE_INPUT:
        return None
    plain = "".join(ch for ch in typed.upper() if ch not in " -\t")
    if len(plain) != CODE_CHARS or any(ch not in ALPHABET for ch in plain):
        return None
    return plain


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(plain: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(plain.encode("ascii"), salt=salt, n=n, r=r, p=p, dklen=32)


def hash_code(code: str) -> str:
    """The stored form of ``code`` (a new salt each time)."""
    plain = normalize(code)
    if plain is None:
        raise InvalidRequest("This is not a temporary access code.")
    salt = secrets.token_bytes(_SALT_BYTES)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(_scrypt(plain, salt, _N, _R, _P))}"


def code_matches(typed: str | None, stored: str | None) -> bool:
    """Whether ``typed`` (normalised) is the code behind ``stored``; with either missing
    it still spends one hash and answers False."""
    try:
        scheme, n, r, p, salt, digest = (stored or _DUMMY_HASH).split("$")
        params = int(n), int(r), int(p)
    except ValueError:
        return False
    if scheme != "scrypt" or params != (_N, _R, _P):
        return False
    wanted = _scrypt(typed or "", _unb64(salt), *params)
    return hmac.compare_digest(wanted, _unb64(digest)) and typed is not None and stored is not None


def check_lifetime(hours: float, uses: int) -> None:
    """``InvalidRequest`` unless ``hours`` and ``uses`` are within bounds."""
    if not 0 < hours <= MAX_HOURS:
        raise InvalidRequest(
            f"A temporary access code lives more than 0 and at most {MAX_HOURS:g} hours."
        )
    if not 1 <= uses <= MAX_USES:
        raise InvalidRequest(f"A temporary access code allows 1 to {MAX_USES} sign-ins.")
