"""``keyring``'s Secret Service backend on the process's one connection.

The same items as ``keyring.backends.SecretService.Keyring`` (its attributes, label and
application name: ``keyring get tokenstile session`` and older Tokenstile versions read
them), but every call goes through :mod:`tokenstile.broker.secret_service`, which keeps
one D-Bus connection per process instead of one per call (why: that module's docstring).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from keyring.backends import SecretService
from keyring.errors import KeyringLocked, PasswordDeleteError
from secretstorage.collection import Collection

from tokenstile.broker import secret_service
from tokenstile.broker.errors import KeychainLocked

_T = TypeVar("_T")


class SharedConnectionKeyring(SecretService.Keyring):
    """The Secret Service, one connection per process (``keyring``'s interface)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def get_password(self, service: str, username: str) -> str | None:
        query = self._query(service, username)
        return self._unlocked(lambda c: secret_service.first_secret(c, query))

    def set_password(self, service: str, username: str, password: str) -> None:
        attributes = self._query(service, username, application=self.appid)
        label = f"Password for '{username}' on '{service}'"
        self._unlocked(lambda c: secret_service.store(c, label, attributes, password))

    def delete_password(self, service: str, username: str) -> None:
        query = self._query(service, username)
        if not self._unlocked(lambda c: secret_service.delete_first(c, query)):
            raise PasswordDeleteError("No such password!")

    @staticmethod
    def _unlocked(action: Callable[[Collection], _T]) -> _T:
        try:
            return secret_service.using(action)
        except KeychainLocked:
            if not secret_service.unlock():  # the person dismissed the prompt
                raise KeyringLocked("Failed to unlock the collection!") from None
        try:
            return secret_service.using(action)
        except KeychainLocked:  # the item itself stays locked
            raise KeyringLocked("Failed to unlock the item!") from None
