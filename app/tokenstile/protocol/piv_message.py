"""What a PIV card signs at a Tokenstile login: one fixed, versioned structure.

A card's 9A key also signs TLS client authentication, Windows smart card logon (PKINIT)
and whatever else its certificate allows, so the card must never sign bytes a server
chose. The client builds the message itself, from the server's 32-byte challenge and the
origin of the service *it* connected to (from the person's or the kiosk's configuration,
never from what a server announces); the token service builds the same message from its
own issuer URL and verifies the card's signature over it::

    message = b"Tokenstile PIV login v1\\x00"        24 bytes, fixed (domain + version)
              || len(origin)                         2 bytes, unsigned big-endian
              || origin                              ASCII, "scheme://host[:port]"
              || challenge                           32 bytes, from the server

    the card signs SHA-256(message): ECDSA P-256 (DER), or RSA-2048 PKCS#1 v1.5

``origin`` is :func:`service_origin` of the service URL: the scheme and host in lower
case, an IPv6 host in brackets, the port only when it is not the scheme's default (80
for http, 443 for https); no user info, path, query or fragment.

Why it cannot be mistaken for another protocol's message: it starts with the ASCII
letter ``T`` (0x54) followed by a fixed text and a zero byte. A TLS 1.3
CertificateVerify starts with 64 spaces (0x20); TLS 1.2 signs handshake messages
starting with a handshake type (0x01); X.509, CMS/PKINIT, OCSP and CRL structures start
with a DER SEQUENCE or SET (0x30, 0x31); SSH signs a length-prefixed session id. And its
length is fixed by the origin: a challenge of any other length is refused before the
PIN is asked or the card touched. The version in the prefix lets a later format change
without one signature ever meaning two things.

Also here: :class:`PivChallenge`, the server's answer to a certificate, and
:func:`card_signature_verifies`, the check an enrolling station makes that a card holds
the key of its certificate (the same signature format as a login).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tokenstile.errors import TokenstileError

MESSAGE_PREFIX: Final = b"Tokenstile PIV login v1\x00"
CHALLENGE_BYTES: Final = 32
MAX_ORIGIN_BYTES: Final = 1024
MAX_SIGNATURE_BYTES: Final = 512
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class NotAServiceUrl(TokenstileError):
    """A URL that names no token service origin (scheme http/https and a host)."""

    code = "not_a_service_url"


class ForeignChallenge(TokenstileError):
    """A challenge that is not exactly 32 bytes: not a Tokenstile login, never signed."""

    code = "piv_foreign_message"


@dataclass(frozen=True, slots=True, kw_only=True)
class PivChallenge:
    """What the server answers to the card's certificate (``/login/piv/challenge``)."""

    handle: str
    challenge: bytes
    expires_in: float = 120.0


def service_origin(url: str) -> str:
    """The origin of a token service URL, as the signed message names it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise NotAServiceUrl(f"{url!r} is not a token service URL.") from exc
    scheme = parts.scheme.lower()
    host = parts.hostname  # lower case, without the brackets of an IPv6 address
    if scheme not in _DEFAULT_PORTS or not host:
        raise NotAServiceUrl(f"{url!r} is not a token service URL (https://host[:port]).")
    if not host.isascii() or any(c in host for c in "/\\@ \t\r\n"):
        raise NotAServiceUrl(f"{url!r} has a host name that is not plain ASCII.")
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            host = f"[{host}]"
    except ValueError:
        pass
    origin = f"{scheme}://{host}"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        origin += f":{port}"
    if len(origin) > MAX_ORIGIN_BYTES:
        raise NotAServiceUrl("The token service URL is too long.")
    return origin


def login_message(origin: str, challenge: bytes) -> bytes:
    """The bytes the card signs (SHA-256 of them) for a login at ``origin``.

    ``origin`` must already be a :func:`service_origin`; ``challenge`` exactly 32 bytes.
    """
    if len(challenge) != CHALLENGE_BYTES:
        raise ForeignChallenge(
            f"The token service sent a {len(challenge)}-byte challenge; a Tokenstile "
            f"login challenge is {CHALLENGE_BYTES} bytes. The card was not asked to sign it."
        )
    if service_origin(origin) != origin:
        raise NotAServiceUrl(f"{origin!r} is not a service origin (scheme://host[:port]).")
    encoded = origin.encode("ascii")
    return MESSAGE_PREFIX + len(encoded).to_bytes(2, "big") + encoded + bytes(challenge)


def card_signature_verifies(
    certificate: x509.Certificate, message: bytes, signature: bytes
) -> bool:
    """The card's GENERAL AUTHENTICATE answer over SHA-256(``message``) verifies with
    ``certificate``'s key: ECDSA P-256 (DER) or RSA-2048 PKCS#1 v1.5. A key of any
    other kind verifies nothing."""
    try:
        public_key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return False
    if not signature or len(signature) > MAX_SIGNATURE_BYTES:
        return False
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(
            public_key.curve, ec.SECP256R1
        ):
            public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048:
            if len(signature) != public_key.key_size // 8:
                return False
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True
