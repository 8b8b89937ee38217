"""The kiosk and the key of the FIDO2 tests: the software key driven by python-fido2's real
client (through ``devices.fido2_client``), producing the WebAuthn JSON the server gets.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
from typing import Any

from tests.unit.virtual.ceremony import PIN, new_key
from tokenstile.devices.fido2_client import PinPrompt, SecurityKeyClient
from tokenstile.factors.webauthn import RelyingParty, b64url, relying_party_for
from tokenstile.factors.webauthn_login import WebAuthnLogin
from tokenstile.factors.webauthn_registration import AttestationPolicy, creation_options
from tokenstile.virtual import VirtualAuthenticator

ISSUER = "https://auth.example"
# The policy of a deployment that enrolls the project's software key (the tests' key).
SOFTWARE_KEYS_ALLOWED = AttestationPolicy(allow_software_keys=True)
RP: RelyingParty = relying_party_for(ISSUER)
ORIGIN = "https://auth.example"

__all__ = ["ORIGIN", "PIN", "RP", "new_key"]


class Kiosk:
    """A person at the kiosk with a key: types ``pin`` when asked, counts the prompts."""

    def __init__(
        self, device: VirtualAuthenticator | None = None, *, pin: str | None = PIN
    ) -> None:
        self.device = device if device is not None else new_key()
        self.pin = pin
        self.touches = 0
        self.pin_prompts: list[PinPrompt] = []
        self.client = SecurityKeyClient(
            self.device, origin=ORIGIN, on_touch=self._touch, on_pin=self._pin
        )

    def _touch(self) -> None:
        self.touches += 1

    def _pin(self, prompt: PinPrompt) -> str | None:
        self.pin_prompts.append(prompt)
        return self.pin

    def register(self, options: dict[str, Any]) -> dict[str, Any]:
        return _json_roundtrip(self.client.register(options))

    def authenticate(self, options: dict[str, Any]) -> dict[str, Any]:
        return _json_roundtrip(self.client.authenticate(options))


def _json_roundtrip(value: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(json.dumps(value))
    return decoded


def registration_options(
    *, challenge: bytes, user_handle: bytes = b"alice-handle", name: str = "alice", **extra: Any
) -> dict[str, Any]:
    return creation_options(
        RP, challenge=challenge, user_handle=user_handle, username=name, display_name=name, **extra
    )


def request_options(challenge: bytes, rp: RelyingParty = RP) -> dict[str, Any]:
    return WebAuthnLogin(rp, clock=_Clock()).request_options(challenge)


class _Clock:
    def now(self) -> float:
        return 1_800_000_000.0


def new_challenge() -> bytes:
    return secrets.token_bytes(32)


# -- tampering ----------------------------------------------------------------------------


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def with_response(credential: dict[str, Any], **members: Any) -> dict[str, Any]:
    """A copy of ``credential`` with members of ``response`` replaced (bytes are encoded)."""
    changed = copy.deepcopy(credential)
    for name, value in members.items():
        changed["response"][name] = b64url(value) if isinstance(value, bytes) else value
    return changed


def client_data(credential: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(unb64(credential["response"]["clientDataJSON"]))
    return decoded


def with_client_data(credential: dict[str, Any], **members: Any) -> dict[str, Any]:
    data = client_data(credential) | members
    raw = json.dumps(data, separators=(",", ":")).encode()
    return with_response(credential, clientDataJSON=raw)


def with_flags(credential: dict[str, Any], *, clear: int = 0, set_: int = 0) -> dict[str, Any]:
    auth = bytearray(unb64(credential["response"]["authenticatorData"]))
    auth[32] = (auth[32] & ~clear) | set_
    return with_response(credential, authenticatorData=bytes(auth))


def with_counter(credential: dict[str, Any], count: int) -> dict[str, Any]:
    auth = bytearray(unb64(credential["response"]["authenticatorData"]))
    auth[33:37] = count.to_bytes(4, "big")
    return with_response(credential, authenticatorData=bytes(auth))


def flip_bit(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def resigned(kiosk: Kiosk, credential: dict[str, Any], *, count: int) -> dict[str, Any]:
    """The assertion with its counter set to ``count`` and signed again with the key's own
    private key: what a key without a counter (or a cloned one) would send."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    [stored] = [
        c
        for c in kiosk.device.authenticator.credentials()
        if b64url(c.credential_id) == credential["rawId"]
    ]
    key = serialization.load_der_private_key(stored.private_key, password=None)
    auth = bytearray(unb64(credential["response"]["authenticatorData"]))
    auth[33:37] = count.to_bytes(4, "big")
    import hashlib

    message = bytes(auth) + hashlib.sha256(unb64(credential["response"]["clientDataJSON"])).digest()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        signature = key.sign(message)
    return with_response(credential, authenticatorData=bytes(auth), signature=signature)
