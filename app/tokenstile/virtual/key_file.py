"""A software key's state in a JSON file, so the key survives restarts.

The file is created with mode 0600 and replaced atomically (temporary file in the same
directory, fsync, ``os.replace``), so a crash leaves either the old or the new state and
never half of one. It holds private keys and the PIN hash: with a key-encryption key
(32 bytes, e.g. kept in the OS keychain) the whole state is sealed with AES-256-GCM;
without one the file's permissions are the only protection.
"""

from __future__ import annotations

from pathlib import Path

from tokenstile.errors import TokenstileError
from tokenstile.virtual.key_state import STATE_FORMAT, STATE_VERSION, KeyState
from tokenstile.virtual.sealed_file import FileKind, SealedStateFile


class VirtualKeyFileError(TokenstileError):
    """A virtual key file that cannot be read: not ours, damaged, or the wrong KEK."""

    code = "virtual_key_file"


_KIND = FileKind(STATE_FORMAT, STATE_VERSION, VirtualKeyFileError, "virtual key file")


class KeyFile(SealedStateFile[KeyState]):
    """A :class:`~tokenstile.virtual.key_state.KeyStateStore` backed by one file."""

    def __init__(self, path: Path | str, *, kek: bytes | None = None) -> None:
        super().__init__(path, kek=kek, kind=_KIND, parse=KeyState.from_json)
