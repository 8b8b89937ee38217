"""What the console reaches outside itself, handed in so tests can stand in real parts.

- :class:`AdminDevices`: where security keys and cards come from (USB/NFC keys and the
  first PIV card through PC/SC here; the software key and the virtual card in tests),
  and how a card is administered (its management key, the key type to generate, and
  how a card still on its factory management key is set up: ``piv_puk_policy``,
  ``piv_setup_management_key_algorithm``).
- :class:`Dialogs`: the native file and confirmation dialogs, which block; tests inject
  answers instead of driving a native dialog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from tokenstile.config import Settings
from tokenstile.devices.piv import KeyAlgorithm, ManagementKeyAlgorithm, PivCard
from tokenstile.devices.security_keys import KeyFinder, default_key_finder
from tokenstile.errors import ConfigError

# A factory-fresh card's management key (SP 800-73-4 leaves it to the issuer; every PIV
# middleware tries this one first); the ``piv_management_key`` setting replaces it.
FACTORY_MANAGEMENT_KEY = bytes.fromhex("010203040506070801020304050607080102030405060708")


@dataclass(frozen=True, slots=True, kw_only=True)
class CardAdministration:
    management_key: bytes = FACTORY_MANAGEMENT_KEY
    management_key_algorithm: ManagementKeyAlgorithm = ManagementKeyAlgorithm.TDES
    key_algorithm: KeyAlgorithm = KeyAlgorithm.ECCP256
    # The set-up of a factory card: its PUK replaced ("set") or blocked, and the
    # algorithm of the random management key stored under its PIN.
    puk_policy: Literal["block", "set"] = "block"
    setup_management_key_algorithm: ManagementKeyAlgorithm = ManagementKeyAlgorithm.AES192

    @classmethod
    def from_settings(cls, settings: Settings) -> CardAdministration:
        secret = settings.piv_management_key
        try:
            key = (
                bytes.fromhex(secret.get_secret_value())
                if secret is not None
                else FACTORY_MANAGEMENT_KEY
            )
        except ValueError as exc:
            raise ConfigError("The piv_management_key setting is not hex.") from exc
        return cls(
            management_key=key,
            management_key_algorithm=ManagementKeyAlgorithm[settings.piv_management_key_algorithm],
            key_algorithm=KeyAlgorithm[settings.piv_key_algorithm],
            puk_policy=settings.piv_puk_policy,
            setup_management_key_algorithm=ManagementKeyAlgorithm[
                settings.piv_setup_management_key_algorithm
            ],
        )


def _open_first_card() -> PivCard:
    from tokenstile.devices.pcsc import open_piv_card

    return open_piv_card(None, exclusive=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminDevices:
    key_finder: KeyFinder = field(default_factory=default_key_finder)
    open_card: Callable[[], PivCard] = _open_first_card
    cards: CardAdministration = field(default_factory=CardAdministration)
    key_wait: float = 30.0  # seconds to wait for a key to be inserted or tapped


class Dialogs(Protocol):
    def open_pskc(self, parent: QWidget) -> Path | None:
        """The PSKC file to import, or ``None`` when the admin cancelled."""
        ...

    def save_export(self, parent: QWidget, suggested: str) -> Path | None:
        """Where to save an audit export, or ``None``."""
        ...

    def confirm(self, parent: QWidget, title: str, text: str) -> bool: ...


class QtDialogs:
    """The platform's dialogs."""

    def open_pskc(self, parent: QWidget) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(
            parent,
            QCoreApplication.translate("QtDialogs", "Import a PSKC file"),
            str(Path.home()),
            QCoreApplication.translate(
                "QtDialogs", "PSKC files (*.xml *.pskc *.pskcxml);;All files (*)"
            ),
        )
        return Path(name) if name else None

    def save_export(self, parent: QWidget, suggested: str) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(
            parent,
            QCoreApplication.translate("QtDialogs", "Export the audit log"),
            str(Path.home() / suggested),
        )
        return Path(name) if name else None

    def confirm(self, parent: QWidget, title: str, text: str) -> bool:
        answer = QMessageBox.question(parent, title, text)
        return answer == QMessageBox.StandardButton.Yes
