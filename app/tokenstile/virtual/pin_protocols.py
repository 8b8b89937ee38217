"""The authenticator's half of PIN/UV auth protocols one and two (CTAP 2.1 section 6.5.6/7).

Written from the specification, not borrowed from python-fido2's platform half, so the
tests that run both against each other check two implementations.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class PinUvAuthProtocol(abc.ABC):
    version: ClassVar[int]

    def __init__(self) -> None:
        self._key_agreement = ec.generate_private_key(ec.SECP256R1())

    def regenerate(self) -> None:
        """A new key-agreement key pair: at power-up and after every PIN mismatch."""
        self._key_agreement = ec.generate_private_key(ec.SECP256R1())

    def get_public_key(self) -> dict[int, Any]:
        numbers = self._key_agreement.public_key().public_numbers()
        # COSE_Key: kty EC2, alg -25 (ECDH-ES+HKDF-256, as the spec says, "although this is
        # NOT the algorithm actually used"), crv P-256, x, y
        return {
            1: 2,
            3: -25,
            -1: 1,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }

    def decapsulate(self, peer_cose_key: Mapping[Any, Any]) -> bytes:
        """The shared secret with the platform; ``ValueError`` for a bad peer key."""
        x, y = peer_cose_key.get(-2), peer_cose_key.get(-3)
        if (
            peer_cose_key.get(1) != 2
            or peer_cose_key.get(-1) != 1
            or not isinstance(x, bytes)
            or not isinstance(y, bytes)
            or len(x) != 32
            or len(y) != 32
        ):
            raise ValueError("key agreement is not a P-256 COSE key")
        peer = ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        ).public_key()  # raises ValueError for a point off the curve
        z = self._key_agreement.exchange(ec.ECDH(), peer)
        return self.kdf(z)

    @abc.abstractmethod
    def kdf(self, z: bytes) -> bytes: ...

    @abc.abstractmethod
    def encrypt(self, key: bytes, plaintext: bytes) -> bytes: ...

    @abc.abstractmethod
    def decrypt(self, key: bytes, ciphertext: bytes) -> bytes:
        """Raises ``ValueError`` for a ciphertext of the wrong size."""

    @abc.abstractmethod
    def authenticate(self, key: bytes, message: bytes) -> bytes: ...

    def verify(self, key: bytes, message: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.authenticate(key, message), signature)


class PinProtocolOne(PinUvAuthProtocol):
    """Section 6.5.6: SHA-256 KDF, AES-256-CBC with a zero IV, HMAC truncated to 16 bytes."""

    version = 1

    def kdf(self, z: bytes) -> bytes:
        return hashlib.sha256(z).digest()

    def encrypt(self, key: bytes, plaintext: bytes) -> bytes:
        encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
        return encryptor.update(plaintext) + encryptor.finalize()

    def decrypt(self, key: bytes, ciphertext: bytes) -> bytes:
        if not ciphertext or len(ciphertext) % 16:
            raise ValueError("ciphertext is not a whole number of AES blocks")
        decryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).decryptor()
        return decryptor.update(ciphertext) + decryptor.finalize()

    def authenticate(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, hashlib.sha256).digest()[:16]


class PinProtocolTwo(PinUvAuthProtocol):
    """Section 6.5.7: HKDF into an HMAC key and an AES key, random IVs, full HMAC."""

    version = 2

    def kdf(self, z: bytes) -> bytes:
        def hkdf(info: bytes) -> bytes:
            return HKDF(algorithm=hashes.SHA256(), length=32, salt=bytes(32), info=info).derive(z)

        return hkdf(b"CTAP2 HMAC key") + hkdf(b"CTAP2 AES key")

    def encrypt(self, key: bytes, plaintext: bytes) -> bytes:
        iv = os.urandom(16)
        encryptor = Cipher(algorithms.AES(key[32:]), modes.CBC(iv)).encryptor()
        return iv + encryptor.update(plaintext) + encryptor.finalize()

    def decrypt(self, key: bytes, ciphertext: bytes) -> bytes:
        if len(ciphertext) < 32 or len(ciphertext) % 16:
            raise ValueError("ciphertext is not an IV plus whole AES blocks")
        iv, body = ciphertext[:16], ciphertext[16:]
        decryptor = Cipher(algorithms.AES(key[32:]), modes.CBC(iv)).decryptor()
        return decryptor.update(body) + decryptor.finalize()

    def authenticate(self, key: bytes, message: bytes) -> bytes:
        # With the shared secret the first 32 bytes are the HMAC key; a token is 32 bytes.
        return hmac.new(key[:32], message, hashlib.sha256).digest()
