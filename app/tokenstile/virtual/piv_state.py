"""What the virtual PIV card remembers across power cycles, and the file that keeps it.

The persistent state is what a real card keeps in EEPROM: the PIN and PUK with their
retry counters, the management key, the private keys of the slots and the data
containers. The file is written with mode 0600 and replaced atomically (temporary file
in the same directory, fsync, ``os.replace``), so a crash leaves the old or the new
state, never half of one. With a 32-byte key-encryption key the whole document is
sealed with AES-256-GCM; without one the file's permissions are the only protection.

The PIN and PUK are kept as salted PBKDF2 hashes of their 8-byte reference data, so a
copy of the file does not show them in the clear (the private keys beside them would
still be exposed: seal the file when that matters).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tokenstile.errors import TokenstileError
from tokenstile.virtual.piv_objects import Algorithm, Slot
from tokenstile.virtual.sealed_file import FileKind, SealedStateFile

STATE_FORMAT = "tokenstile-virtual-piv-card"
STATE_VERSION = 1
_PBKDF2_ITERATIONS = 20_000

PivPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class VirtualCardFileError(TokenstileError):
    """A virtual card file that cannot be read: not ours, damaged, or the wrong KEK."""

    code = "virtual_card_file"


@dataclass(frozen=True, kw_only=True)
class ReferenceData:
    """A PIN or PUK as the card keeps it: a salted hash of its 8-byte padded form."""

    salt: bytes
    digest: bytes

    @classmethod
    def of(cls, padded: bytes) -> ReferenceData:
        salt = os.urandom(16)
        return cls(salt=salt, digest=_hash(salt, padded))

    def matches(self, padded: bytes) -> bool:
        return hmac.compare_digest(self.digest, _hash(self.salt, padded))


def _hash(salt: bytes, padded: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", padded, salt, _PBKDF2_ITERATIONS)


@dataclass(kw_only=True)
class SlotKey:
    algorithm: Algorithm
    private_key: PivPrivateKey


@dataclass(kw_only=True)
class PivCardState:
    pin: ReferenceData
    puk: ReferenceData
    pin_retries: int
    puk_retries: int
    pin_max_retries: int = 3
    puk_max_retries: int = 3
    management_algorithm: Algorithm
    management_key: bytes
    keys: dict[Slot, SlotKey] = field(default_factory=dict)
    objects: dict[int, bytes] = field(default_factory=dict)  # tag -> container content
    # The key of slot F9 that signs attestations (YubiKey PIV); its certificate is the
    # object 5FFF01. None: the card does not know the ATTEST instruction.
    attestation_key: PivPrivateKey | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "pin": _reference_to_json(self.pin),
            "puk": _reference_to_json(self.puk),
            "pin_retries": self.pin_retries,
            "puk_retries": self.puk_retries,
            "pin_max_retries": self.pin_max_retries,
            "puk_max_retries": self.puk_max_retries,
            "management_key": {
                "algorithm": self.management_algorithm.name,
                "key": _b64(self.management_key),
            },
            "keys": {
                f"{slot:02X}": {
                    "algorithm": key.algorithm.name,
                    "pkcs8": _b64(_pkcs8(key.private_key)),
                }
                for slot, key in sorted(self.keys.items())
            },
            "objects": {f"{tag:X}": _b64(value) for tag, value in sorted(self.objects.items())},
            "attestation_key": (
                None if self.attestation_key is None else _b64(_pkcs8(self.attestation_key))
            ),
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> PivCardState:
        if document.get("format") != STATE_FORMAT or document.get("version") != STATE_VERSION:
            raise ValueError("not a virtual PIV card state of a known version")
        keys = {
            Slot(int(slot_hex, 16)): SlotKey(
                algorithm=Algorithm[entry["algorithm"]], private_key=_load_pkcs8(entry["pkcs8"])
            )
            for slot_hex, entry in document["keys"].items()
        }
        attestation = document.get("attestation_key")  # absent in files from before it
        management = document["management_key"]
        return cls(
            pin=_reference_from_json(document["pin"]),
            puk=_reference_from_json(document["puk"]),
            pin_retries=int(document["pin_retries"]),
            puk_retries=int(document["puk_retries"]),
            pin_max_retries=int(document["pin_max_retries"]),
            puk_max_retries=int(document["puk_max_retries"]),
            management_algorithm=Algorithm[management["algorithm"]],
            management_key=_unb64(management["key"]),
            keys=keys,
            objects={int(tag, 16): _unb64(value) for tag, value in document["objects"].items()},
            attestation_key=None if attestation is None else _load_pkcs8(attestation),
        )


def _pkcs8(key: PivPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_pkcs8(text: str) -> PivPrivateKey:
    private_key = serialization.load_der_private_key(_unb64(text), None)
    if not isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError("a card key that is neither EC nor RSA")
    return private_key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _reference_to_json(reference: ReferenceData) -> dict[str, str]:
    return {"salt": _b64(reference.salt), "pbkdf2_sha256": _b64(reference.digest)}


def _reference_from_json(document: dict[str, str]) -> ReferenceData:
    return ReferenceData(salt=_unb64(document["salt"]), digest=_unb64(document["pbkdf2_sha256"]))


class PivStateStore(Protocol):
    """Where the card's state lives between power cycles."""

    def load(self) -> PivCardState | None: ...

    def save(self, state: PivCardState) -> None: ...


class MemoryPivStore:
    """State kept in memory: survives power cycles, not the process. For tests."""

    def __init__(self, state: PivCardState | None = None) -> None:
        self._document = state.to_json() if state is not None else None
        self.saves = 0

    def load(self) -> PivCardState | None:
        return PivCardState.from_json(self._document) if self._document is not None else None

    def save(self, state: PivCardState) -> None:
        self._document = state.to_json()
        self.saves += 1


_KIND = FileKind(STATE_FORMAT, STATE_VERSION, VirtualCardFileError, "virtual card file")


class PivCardFile(SealedStateFile[PivCardState]):
    """A :class:`PivStateStore` backed by one file."""

    def __init__(self, path: Path | str, *, kek: bytes | None = None) -> None:
        super().__init__(path, kek=kek, kind=_KIND, parse=PivCardState.from_json)
