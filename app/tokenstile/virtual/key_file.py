"""A software key's state in a JSON file, so the key survives restarts.

The file is created with mode 0600 and replaced atomically (temporary file in the same
directory, fsync, ``os.replace``), so a crash leaves either the old or the new state and
never half of one. It holds private keys and the PIN hash: with a key-encryption key
(32 bytes, e.g. kept in the OS keychain) the whole state is sealed with AES-256-GCM;
without one the file's permissions are the only protection.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tokenstile.errors import TokenstileError
from tokenstile.virtual.key_state import STATE_FORMAT, STATE_VERSION, KeyState

_SEALED_AAD = f"{STATE_FORMAT}/{STATE_VERSION}".encode()


class VirtualKeyFileError(TokenstileError):
    """A virtual key file that cannot be read: not ours, damaged, or the wrong KEK."""

    code = "virtual_key_file"


class KeyFile:
    """A :class:`~tokenstile.virtual.key_state.KeyStateStore` backed by one file."""

    def __init__(self, path: Path | str, *, kek: bytes | None = None) -> None:
        if kek is not None and len(kek) != 32:
            raise ValueError("the key-encryption key must be 32 bytes")
        self.path = Path(path)
        self._kek = kek

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> KeyState | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise VirtualKeyFileError(f"cannot read the virtual key file {self.path}") from exc
        try:
            return KeyState.from_json(self._open(_json_object(raw)))
        except (ValueError, TypeError) as exc:
            raise VirtualKeyFileError(f"{self.path} is not a readable virtual key file") from exc

    def save(self, state: KeyState) -> None:
        payload = json.dumps(self._seal(state.to_json()), indent=1).encode()
        directory = self.path.parent
        if not directory.exists():
            directory.mkdir(mode=0o700, parents=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            # mkstemp creates the file with mode 0600 already; say so for umask-proof reading.
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def _seal(self, document: dict[str, Any]) -> dict[str, Any]:
        if self._kek is None:
            return document
        nonce = os.urandom(12)
        sealed = AESGCM(self._kek).encrypt(nonce, json.dumps(document).encode(), _SEALED_AAD)
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "sealed": base64.b64encode(nonce + sealed).decode("ascii"),
        }

    def _open(self, document: dict[str, Any]) -> dict[str, Any]:
        if "sealed" not in document:
            if self._kek is not None:
                raise VirtualKeyFileError(f"{self.path} is not sealed but a KEK was given")
            return document
        if self._kek is None:
            raise VirtualKeyFileError(f"{self.path} is sealed: a key-encryption key is needed")
        try:
            blob = base64.b64decode(document["sealed"], validate=True)
            plain = AESGCM(self._kek).decrypt(blob[:12], blob[12:], _SEALED_AAD)
        except (InvalidTag, binascii.Error, TypeError) as exc:
            raise VirtualKeyFileError(
                f"cannot open {self.path}: wrong key-encryption key or damaged file"
            ) from exc
        return _json_object(plain)


def _json_object(raw: bytes) -> dict[str, Any]:
    document = json.loads(raw)
    if not isinstance(document, dict):
        raise TypeError("not a JSON object")
    return document
