"""The kiosk's side of the hardware: PIV smart cards through PC/SC, and FIDO2 keys.

- :mod:`~tokenstile.devices.connection`: the ``SmartCardConnection`` port and the
  ISO 7816-4 ``ApduChannel`` (chaining, GET RESPONSE) every card session uses;
  ``DirectConnection`` for a card living in this process.
- :mod:`~tokenstile.devices.piv`: ``PivCard``, a PIV session (SP 800-73-4): certificates,
  CHUID, PIN status and verification, signing a challenge, PIN change and unblock,
  management-key authentication, key generation and certificate storage.
- :mod:`~tokenstile.devices.pcsc`: the pyscard adapter: readers, ``PcscConnection``,
  ``open_piv_card``; PC/SC failures become :mod:`~tokenstile.devices.errors`.
- :mod:`~tokenstile.devices.monitor`: ``CardMonitor``, card insert/remove events on a
  watcher thread, surviving pcscd restarts.
- :mod:`~tokenstile.devices.security_keys`: FIDO2 keys over USB HID, NFC (PC/SC) or
  handed in (the demo's virtual key) behind one ``KeyFinder``.
- :mod:`~tokenstile.devices.key_ceremonies`: a security key's login and enrollment
  (with its first PIN), run between two server steps the caller hands in.
- :mod:`~tokenstile.devices.piv_login`: a card's login between two server steps, the PIN
  loop, and the card's identity (GUID, proof that it holds its certificate's key).

Nothing here imports Qt, HTTP clients, the broker or the server: device calls block, so the GUI
runs them on a worker thread. pyscard exceptions never leave this package.
"""

from tokenstile.devices.connection import ApduChannel, DirectConnection, SmartCardConnection
from tokenstile.devices.errors import (
    CardCommandError,
    CardCommunicationError,
    CardInUse,
    CardRemoved,
    CardReset,
    DeviceError,
    InvalidCardData,
    InvalidPinFormat,
    ManagementKeyRejected,
    NoCard,
    NoCertificate,
    NoReader,
    NoSecurityKey,
    NotPivCard,
    ObjectNotFound,
    PcscUnavailable,
    PinBlocked,
    PinRequired,
    PukBlocked,
    UnsupportedKey,
    WrongPin,
    WrongPuk,
)
from tokenstile.devices.piv import (
    Chuid,
    KeyAlgorithm,
    ManagementKeyAlgorithm,
    PinStatus,
    PivCard,
    PivSlot,
)
from tokenstile.devices.security_keys import (
    FixedKeys,
    KeyFinder,
    KeySource,
    KeyTransport,
    NfcKeys,
    SecurityKey,
    UsbKeys,
    default_key_finder,
)

__all__ = [
    "ApduChannel",
    "CardCommandError",
    "CardCommunicationError",
    "CardInUse",
    "CardRemoved",
    "CardReset",
    "Chuid",
    "DeviceError",
    "DirectConnection",
    "FixedKeys",
    "InvalidCardData",
    "InvalidPinFormat",
    "KeyAlgorithm",
    "KeyFinder",
    "KeySource",
    "KeyTransport",
    "ManagementKeyAlgorithm",
    "ManagementKeyRejected",
    "NfcKeys",
    "NoCard",
    "NoCertificate",
    "NoReader",
    "NoSecurityKey",
    "NotPivCard",
    "ObjectNotFound",
    "PcscUnavailable",
    "PinBlocked",
    "PinRequired",
    "PinStatus",
    "PivCard",
    "PivSlot",
    "PukBlocked",
    "SecurityKey",
    "SmartCardConnection",
    "UnsupportedKey",
    "UsbKeys",
    "WrongPin",
    "WrongPuk",
    "default_key_finder",
]
