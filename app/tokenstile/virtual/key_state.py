"""What a software key remembers between power cycles, and the in-memory store for it.

Everything here is persistent state in the CTAP sense: credentials, the PIN and its retry
counter, sign counters, the AAGUID and the attestation identity. Volatile state (the
key-agreement keys, the pinUvAuthToken, consecutive PIN failures) lives in the
authenticator and dies with a power cycle.
"""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from tokenstile.virtual.attestation import AttestationIdentity

MAX_PIN_RETRIES = 8  # CTAP 2.1 section 6.5.2.1: maxPinRetries is at most 8
STATE_FORMAT = "tokenstile-virtual-key"
STATE_VERSION = 1


class CounterMode(Enum):
    PER_CREDENTIAL = "per-credential"
    GLOBAL = "global"


@dataclass(kw_only=True)
class StoredCredential:
    credential_id: bytes
    rp_id: str
    rp_name: str | None
    user_id: bytes
    user_name: str | None
    user_display_name: str | None
    algorithm: int
    private_key: bytes  # PKCS#8 DER
    discoverable: bool
    sign_count: int
    sequence: int  # creation order: the newest discoverable credential is offered first


@dataclass(kw_only=True)
class PinRecord:
    # CurrentStoredPIN: LEFT(SHA-256(PIN), 16), CTAP 2.1 section 6.5.5.5
    pin_hash: bytes | None = None
    retries: int = MAX_PIN_RETRIES

    def clear(self) -> None:
        self.pin_hash = None
        self.retries = MAX_PIN_RETRIES


@dataclass(kw_only=True)
class KeyState:
    aaguid: bytes
    attestation: AttestationIdentity
    counter_mode: CounterMode
    global_sign_count: int = 0
    pin: PinRecord = field(default_factory=PinRecord)
    credentials: list[StoredCredential] = field(default_factory=list)
    next_sequence: int = 0

    @classmethod
    def new(
        cls,
        *,
        now: float,
        aaguid: bytes | None = None,
        counter_mode: CounterMode = CounterMode.PER_CREDENTIAL,
    ) -> KeyState:
        aaguid = aaguid if aaguid is not None else uuid.UUID(bytes=os.urandom(16), version=4).bytes
        if len(aaguid) != 16:
            raise ValueError("an AAGUID is 16 bytes")
        return cls(
            aaguid=aaguid,
            attestation=AttestationIdentity.create(aaguid, now),
            counter_mode=counter_mode,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "aaguid": self.aaguid.hex(),
            "counter_mode": self.counter_mode.value,
            "global_sign_count": self.global_sign_count,
            "next_sequence": self.next_sequence,
            "pin": {
                "hash": _b64(self.pin.pin_hash) if self.pin.pin_hash is not None else None,
                "retries": self.pin.retries,
            },
            "attestation": {
                "private_key": _b64(self.attestation.private_key),
                "certificate": _b64(self.attestation.certificate),
                "root_certificate": _b64(self.attestation.root_certificate),
            },
            "credentials": [
                {
                    "id": _b64(c.credential_id),
                    "rp_id": c.rp_id,
                    "rp_name": c.rp_name,
                    "user_id": _b64(c.user_id),
                    "user_name": c.user_name,
                    "user_display_name": c.user_display_name,
                    "alg": c.algorithm,
                    "private_key": _b64(c.private_key),
                    "discoverable": c.discoverable,
                    "sign_count": c.sign_count,
                    "sequence": c.sequence,
                }
                for c in self.credentials
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyState:
        """Rebuild the state; raises ``ValueError`` on anything that is not our format."""
        try:
            if data["format"] != STATE_FORMAT or data["version"] != STATE_VERSION:
                raise ValueError("not a version 1 virtual key state")
            pin = data["pin"]
            attestation = data["attestation"]
            return cls(
                aaguid=bytes.fromhex(data["aaguid"]),
                counter_mode=CounterMode(data["counter_mode"]),
                global_sign_count=int(data["global_sign_count"]),
                next_sequence=int(data["next_sequence"]),
                pin=PinRecord(
                    pin_hash=_unb64(pin["hash"]) if pin["hash"] is not None else None,
                    retries=int(pin["retries"]),
                ),
                attestation=AttestationIdentity(
                    private_key=_unb64(attestation["private_key"]),
                    certificate=_unb64(attestation["certificate"]),
                    root_certificate=_unb64(attestation["root_certificate"]),
                ),
                credentials=[
                    StoredCredential(
                        credential_id=_unb64(c["id"]),
                        rp_id=str(c["rp_id"]),
                        rp_name=c["rp_name"],
                        user_id=_unb64(c["user_id"]),
                        user_name=c["user_name"],
                        user_display_name=c["user_display_name"],
                        algorithm=int(c["alg"]),
                        private_key=_unb64(c["private_key"]),
                        discoverable=bool(c["discoverable"]),
                        sign_count=int(c["sign_count"]),
                        sequence=int(c["sequence"]),
                    )
                    for c in data["credentials"]
                ],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError("malformed virtual key state") from exc


class KeyStateStore(Protocol):
    """Where an authenticator keeps its persistent state."""

    def load(self) -> KeyState | None:
        """The stored state, or ``None`` for a key that was never created."""
        ...

    def save(self, state: KeyState) -> None: ...


class MemoryKeyStore:
    """Keeps the state in memory, serialised exactly as a file would hold it."""

    def __init__(self) -> None:
        self._saved: dict[str, Any] | None = None

    def load(self) -> KeyState | None:
        return KeyState.from_json(self._saved) if self._saved is not None else None

    def save(self, state: KeyState) -> None:
        self._saved = state.to_json()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
