"""What can go wrong with a reader, a card or a security key, as the kiosk sees it.

The tree (all under :class:`tokenstile.errors.TokenstileError`)::

    DeviceError                        device_error
    ├── PcscUnavailable                pcsc_unavailable      pcscd is not running
    ├── NoReader                       no_reader             no (such) reader attached
    ├── NoCard                         no_card               the reader is empty
    ├── CardRemoved                    card_removed          pulled mid-operation
    ├── CardReset                      card_reset            reset by another program
    ├── CardInUse                      card_in_use           held exclusively elsewhere
    ├── CardCommunicationError         card_io_error         any other PC/SC failure
    ├── NotPivCard                     not_piv_card          no PIV application
    ├── InvalidCardData                invalid_card_data     a container that does not parse
    ├── UnsupportedKey                 unsupported_key       a key a login cannot use
    ├── InvalidPinFormat               invalid_pin_format    refused before the card sees it
    ├── NoSecurityKey                  no_security_key       no FIDO2 key found in time
    └── CardCommandError(sw)           card_command_failed   the card refused a command
        ├── WrongPin(retries_left)     wrong_pin
        ├── PinBlocked                 pin_blocked
        ├── WrongPuk(retries_left)     wrong_puk
        ├── PukBlocked                 puk_blocked
        ├── PinRequired                pin_required          verify the PIN first
        ├── ManagementKeyRejected      management_key_rejected
        └── ObjectNotFound             object_not_found      no such data object
            └── NoCertificate          no_certificate        the slot holds no certificate

pyscard's exceptions and PC/SC return codes never leave ``tokenstile.devices``: they are
translated where they are caught (``raise ... from exc``). Messages are sentences for a
person and never contain a PIN.
"""

from __future__ import annotations

from tokenstile.errors import TokenstileError


class DeviceError(TokenstileError):
    code = "device_error"


class PcscUnavailable(DeviceError):
    code = "pcsc_unavailable"


class NoReader(DeviceError):
    code = "no_reader"


class NoCard(DeviceError):
    code = "no_card"


class CardRemoved(DeviceError):
    code = "card_removed"


class CardReset(DeviceError):
    code = "card_reset"


class CardInUse(DeviceError):
    code = "card_in_use"


class CardCommunicationError(DeviceError):
    code = "card_io_error"


class NotPivCard(DeviceError):
    code = "not_piv_card"


class InvalidCardData(DeviceError):
    code = "invalid_card_data"


class CardSetupInterrupted(DeviceError):
    """A card set-up that failed part way: ``steps`` were done (for the audit row) before
    the card refused or went away; the message says which step failed and why."""

    code = "card_setup_interrupted"

    def __init__(self, message: str, steps: list[str]) -> None:
        super().__init__(message)
        self.steps = steps


class UnsupportedKey(DeviceError):
    code = "unsupported_key"


class InvalidPinFormat(DeviceError):
    code = "invalid_pin_format"


class NoSecurityKey(DeviceError):
    code = "no_security_key"


def tries_left(retries_left: int) -> str:
    """``1 try left`` or ``N tries left``: what a card or key says after a wrong PIN."""
    return f"{retries_left} {'try' if retries_left == 1 else 'tries'} left"


class CardCommandError(DeviceError):
    """The card answered a status word other than ``9000``."""

    code = "card_command_failed"

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(message)
        self.sw = sw


class WrongPin(CardCommandError):
    code = "wrong_pin"

    def __init__(self, retries_left: int, sw: int) -> None:
        super().__init__(f"Wrong PIN: {tries_left(retries_left)} before the card locks.", sw)
        self.retries_left = retries_left


class PinBlocked(CardCommandError):
    code = "pin_blocked"

    def __init__(self, sw: int = 0x6983) -> None:
        super().__init__("The card's PIN is blocked: unblock it with the PUK.", sw)


class WrongPuk(CardCommandError):
    code = "wrong_puk"

    def __init__(self, retries_left: int, sw: int) -> None:
        super().__init__(f"Wrong PUK: {tries_left(retries_left)}.", sw)
        self.retries_left = retries_left


class PukBlocked(CardCommandError):
    code = "puk_blocked"

    def __init__(self, sw: int = 0x6983) -> None:
        super().__init__("The card's PUK is blocked: the card must be reissued.", sw)


class PinRequired(CardCommandError):
    code = "pin_required"


class ManagementKeyRejected(CardCommandError):
    code = "management_key_rejected"


class ObjectNotFound(CardCommandError):
    code = "object_not_found"


class NoCertificate(ObjectNotFound):
    code = "no_certificate"
