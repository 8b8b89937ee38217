"""The session in an encrypted file, for headless hosts without a keychain (opt-in).

Chosen with ``TOKENSTILE_BROKER_STORE=encrypted-file``. The file (default
``<data dir>/broker-session.enc``, mode 0600, replaced atomically) is AES-256-GCM under a
key derived with scrypt from a passphrase: ``TOKENSTILE_BROKER_STORE_PASSPHRASE_FILE``
(a file readable only by its owner, e.g. a systemd credential or a TPM-unsealed secret)
or ``TOKENSTILE_BROKER_STORE_PASSPHRASE``. Without one, the store refuses to work: the
session is never written in plaintext.

Layout: ``b"TSB1"`` | salt (16) | nonce (12) | ciphertext with its tag; the magic and the
salt are the additional authenticated data.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from tokenstile.broker.errors import BrokerError, KeychainUnavailable
from tokenstile.broker.options import BrokerOptions, default_store_file

MAGIC: Final = b"TSB1"
SALT_BYTES: Final = 16
NONCE_BYTES: Final = 12
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
MAX_FILE_BYTES: Final = 1 << 20

NO_PASSPHRASE: Final = (
    "The encrypted session file needs a passphrase: set TOKENSTILE_BROKER_STORE_PASSPHRASE_FILE "  # noqa: S105
    "to a file only you can read (or TOKENSTILE_BROKER_STORE_PASSPHRASE), or use the OS "
    "keychain (TOKENSTILE_BROKER_STORE=keychain)."
)


def _read_passphrase_file(path: Path) -> str:
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeychainUnavailable(
                f"The passphrase file {path} is readable by others; make it mode 0600."
            )
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise KeychainUnavailable(
            f"Cannot read the passphrase file {path} ({exc.strerror})."
        ) from exc
    if not text:
        raise KeychainUnavailable(f"The passphrase file {path} is empty.")
    return text


def demo_store_file(path: Path) -> Path:
    """The kiosk demo's file beside ``path`` (``demo-<name>``): never the real session's."""
    return path.with_name(f"demo-{path.name}")


class EncryptedFileStore:
    """``follow_demo``: while a kiosk demo runs (``store.running_demo``), use its file,
    :func:`demo_store_file` of ``path`` (what ``Broker()`` does; the demo pins its own)."""

    def __init__(self, path: Path, passphrase: str, *, follow_demo: bool = False) -> None:
        if not passphrase:
            raise KeychainUnavailable(NO_PASSPHRASE)
        self._file = path
        self._follow_demo = follow_demo
        self._passphrase = passphrase.encode("utf-8")

    @property
    def _path(self) -> Path:
        if self._follow_demo:
            from tokenstile.broker.store import running_demo

            if running_demo() is not None:
                return demo_store_file(self._file)
        return self._file

    @classmethod
    def from_options(cls, options: BrokerOptions, *, demo: bool = False) -> EncryptedFileStore:
        """The store the options name; ``demo``: the kiosk demo's own file, pinned."""
        if options.store_passphrase_file is not None:
            passphrase = _read_passphrase_file(options.store_passphrase_file)
        elif options.store_passphrase:
            passphrase = options.store_passphrase
        else:
            raise KeychainUnavailable(NO_PASSPHRASE)
        path = options.store_file or default_store_file()
        if demo:
            return cls(demo_store_file(path), passphrase)
        return cls(path, passphrase, follow_demo=True)

    @property
    def location(self) -> str:
        return f"the encrypted file {self._path}"

    def __repr__(self) -> str:
        return f"EncryptedFileStore({str(self._path)!r})"

    def _key(self, salt: bytes) -> bytes:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=1).derive(self._passphrase)

    def load(self) -> str | None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        path = self._path  # once: a demo may start or end meanwhile

        try:
            with path.open("rb") as handle:
                blob = handle.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BrokerError(f"Cannot read {path} ({exc.strerror}).") from exc
        header = len(MAGIC) + SALT_BYTES
        if len(blob) > MAX_FILE_BYTES or blob[:4] != MAGIC or len(blob) < header + NONCE_BYTES:
            raise BrokerError(f"{path} is not a Tokenstile session file.")
        salt, nonce = blob[4:header], blob[header : header + NONCE_BYTES]
        try:
            plain = AESGCM(self._key(salt)).decrypt(
                nonce, blob[header + NONCE_BYTES :], blob[:header]
            )
        except InvalidTag as exc:
            raise KeychainUnavailable(
                f"{path} does not open with this passphrase (wrong passphrase, or the "
                "file was changed)."
            ) from exc
        return plain.decode("utf-8")

    def save(self, document: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        salt, nonce = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(NONCE_BYTES)
        aad = MAGIC + salt
        sealed = AESGCM(self._key(salt)).encrypt(nonce, document.encode("utf-8"), aad)
        self._write(aad + nonce + sealed)

    def _write(self, blob: bytes) -> None:
        path = self._path  # once: a demo may start or end meanwhile
        directory = path.parent
        temporary = directory / f".{path.name}.{secrets.token_hex(4)}"
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise BrokerError(f"Cannot write {path} ({exc.strerror}).") from exc

    def clear(self) -> None:
        try:
            self._path.unlink(missing_ok=True)
        except OSError as exc:
            raise BrokerError(f"Cannot remove {self._path} ({exc.strerror}).") from exc
