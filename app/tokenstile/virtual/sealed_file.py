"""One JSON document in a private file, so a virtual device survives restarts.

:class:`SealedJsonFile` reads and writes the document; :class:`SealedStateFile` is the
state store a virtual device is handed (the key's and the card's files are two of them).

The file is created with mode 0600 and replaced atomically (temporary file in the same
directory, fsync, ``os.replace``), so a crash leaves either the old or the new document
and never half of one. With a key-encryption key (32 bytes, e.g. kept in the OS
keychain) the whole document is sealed with AES-256-GCM, its format and version bound
in as associated data; without one the file's permissions are the only protection.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tokenstile.errors import TokenstileError

_T = TypeVar("_T")


class JsonState(Protocol):
    def to_json(self) -> dict[str, Any]: ...


_S = TypeVar("_S", bound=JsonState)


@dataclass(frozen=True)
class FileKind:
    """One kind of state file: its format and version (bound into the seal), the error
    its failures raise, and what their messages call it ("virtual key file")."""

    format: str
    version: int
    error: type[TokenstileError]
    name: str


def write_private_file(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` atomically, readable by its owner only."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        # mkstemp creates the file with mode 0600 already; say so for umask-proof reading.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


class SealedJsonFile:
    """The file of one document of ``format``/``version``; its failures are ``error``s
    whose messages call it a ``kind`` ("virtual key file")."""

    def __init__(
        self,
        path: Path | str,
        *,
        kek: bytes | None,
        format: str,
        version: int,
        error: type[TokenstileError],
        kind: str,
    ) -> None:
        if kek is not None and len(kek) != 32:
            raise ValueError("the key-encryption key must be 32 bytes")
        self.path = Path(path)
        self._kek = kek
        self._format = format
        self._version = version
        self._aad = f"{format}/{version}".encode()
        self._error = error
        self._kind = kind

    def exists(self) -> bool:
        return self.path.exists()

    def load(self, parse: Callable[[dict[str, Any]], _T]) -> _T | None:
        """``parse`` of the stored document, or ``None`` when there is no file."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(f"cannot read the {self._kind} {self.path}") from exc
        try:
            return parse(self._open(_json_object(raw)))
        except (ValueError, TypeError, KeyError) as exc:
            raise self._error(f"{self.path} is not a readable {self._kind}") from exc

    def save(self, document: dict[str, Any]) -> None:
        write_private_file(self.path, json.dumps(self._seal(document), indent=1).encode())

    def _seal(self, document: dict[str, Any]) -> dict[str, Any]:
        if self._kek is None:
            return document
        nonce = os.urandom(12)
        sealed = AESGCM(self._kek).encrypt(nonce, json.dumps(document).encode(), self._aad)
        return {
            "format": self._format,
            "version": self._version,
            "sealed": base64.b64encode(nonce + sealed).decode("ascii"),
        }

    def _open(self, document: dict[str, Any]) -> dict[str, Any]:
        if "sealed" not in document:
            if self._kek is not None:
                raise self._error(f"{self.path} is not sealed but a KEK was given")
            return document
        if self._kek is None:
            raise self._error(f"{self.path} is sealed: a key-encryption key is needed")
        try:
            blob = base64.b64decode(document["sealed"], validate=True)
            plain = AESGCM(self._kek).decrypt(blob[:12], blob[12:], self._aad)
        except (InvalidTag, binascii.Error, TypeError) as exc:
            raise self._error(
                f"cannot open {self.path}: wrong key-encryption key or damaged file"
            ) from exc
        return _json_object(plain)


class SealedStateFile(Generic[_S]):
    """A device's state store backed by one file of ``kind``: states read with ``parse``,
    written one at a time."""

    def __init__(
        self,
        path: Path | str,
        *,
        kek: bytes | None,
        kind: FileKind,
        parse: Callable[[dict[str, Any]], _S],
    ) -> None:
        self._file = SealedJsonFile(
            path,
            kek=kek,
            format=kind.format,
            version=kind.version,
            error=kind.error,
            kind=kind.name,
        )
        self._parse = parse
        self.path = self._file.path
        self._lock = threading.Lock()

    def exists(self) -> bool:
        return self._file.exists()

    def load(self) -> _S | None:
        return self._file.load(self._parse)

    def save(self, state: _S) -> None:
        document = state.to_json()
        with self._lock:
            self._file.save(document)


def _json_object(raw: bytes) -> dict[str, Any]:
    document = json.loads(raw)
    if not isinstance(document, dict):
        raise TypeError("not a JSON object")
    return document
