"""Every failure the kiosk shows, as one plain sentence with what to do next.

The one place where error codes (``tokenstile.errors``, the device errors, the broker's)
become words for the person at the screen. The rest of the kiosk never shows an
exception's own message: it calls :func:`explain`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QCoreApplication

from tokenstile.errors import TokenstileError

logger = logging.getLogger(__name__)

_CONTEXT = "Messages"


class Factor(Enum):
    KEY = "fido2"
    CARD = "piv"
    CODE = "totp"


class Severity(Enum):
    INFO = "info"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    text: str
    severity: Severity = Severity.ERROR
    service_down: bool = False  # the kiosk keeps trying the service and says so
    cancelled: bool = False


def QT_TRANSLATE_NOOP(context: str, text: str) -> str:  # noqa: N802 - the name lupdate knows
    """Marks ``text`` for translation (pyside6-lupdate finds it); translated when shown."""
    return text


def _t(text: str) -> str:
    return QCoreApplication.translate(_CONTEXT, text)


def tries_left(retries: int | None, *, device: Factor) -> str:
    """ "Wrong PIN: 2 tries left." (shown on the PIN pad after a wrong PIN)."""
    if retries is None:
        return QCoreApplication.translate("Messages", "Wrong PIN: try again.")
    if retries == 1:
        if device is Factor.CARD:
            return QCoreApplication.translate(
                "Messages", "Wrong PIN: 1 try left before the card locks."
            )
        return QCoreApplication.translate("Messages", "Wrong PIN: 1 try left before the key locks.")
    if device is Factor.CARD:
        return QCoreApplication.translate(
            "Messages", "Wrong PIN: %1 tries left before the card locks."
        ).replace("%1", str(retries))
    return QCoreApplication.translate(
        "Messages", "Wrong PIN: %1 tries left before the key locks."
    ).replace("%1", str(retries))


# code -> sentence; the same for every factor.
_BY_CODE: dict[str, str] = {
    # a rogue sign-in service (tokenstile.broker.origin): the key was never used
    "origin_mismatch": QT_TRANSLATE_NOOP(
        "Messages",
        "This sign-in service is pretending to be another one, so your key was not used: "
        "tell the service desk.",
    ),
    "piv_foreign_challenge": QT_TRANSLATE_NOOP(
        "Messages",
        "This sign-in service asked the card to sign something else, so it signed nothing: "
        "tell the service desk.",
    ),
    # cards (tokenstile.devices.errors)
    "pin_blocked": QT_TRANSLATE_NOOP(
        "Messages",
        "Your card's PIN is blocked: take the card to the service desk.",
    ),
    "card_removed": QT_TRANSLATE_NOOP(
        "Messages",
        "The card was taken out too soon: insert it again to sign in.",
    ),
    "card_reset": QT_TRANSLATE_NOOP(
        "Messages",
        "The card was reset by another program: insert it again.",
    ),
    "card_in_use": QT_TRANSLATE_NOOP(
        "Messages",
        "Another program is using the card: take it out and insert it again.",
    ),
    "card_io_error": QT_TRANSLATE_NOOP(
        "Messages",
        "The card could not be read: take it out and insert it again.",
    ),
    "card_command_failed": QT_TRANSLATE_NOOP(
        "Messages",
        "The card could not be read: take it out and insert it again.",
    ),
    "no_card": QT_TRANSLATE_NOOP(
        "Messages",
        "The card could not be found: insert it again.",
    ),
    "not_piv_card": QT_TRANSLATE_NOOP(
        "Messages",
        "This card cannot sign in here: use your work card, or see the service desk.",
    ),
    "no_certificate": QT_TRANSLATE_NOOP(
        "Messages",
        "This card has no sign-in certificate: see the service desk.",
    ),
    "object_not_found": QT_TRANSLATE_NOOP(
        "Messages",
        "This card has no sign-in certificate: see the service desk.",
    ),
    "invalid_card_data": QT_TRANSLATE_NOOP(
        "Messages",
        "This card cannot be read here: see the service desk.",
    ),
    "unsupported_key": QT_TRANSLATE_NOOP(
        "Messages",
        "This card cannot sign in here: see the service desk.",
    ),
    "invalid_pin_format": QT_TRANSLATE_NOOP(
        "Messages",
        "A card PIN is 6 to 8 digits: try again.",
    ),
    "pcsc_unavailable": QT_TRANSLATE_NOOP(
        "Messages",
        "The card reader is not working: use your key or code, or see the service desk.",
    ),
    "no_reader": QT_TRANSLATE_NOOP(
        "Messages",
        "The card reader is not connected: use your key or code, or see the service desk.",
    ),
    "pin_entry_cancelled": QT_TRANSLATE_NOOP(
        "Messages",
        "Sign-in cancelled.",
    ),
    # security keys (tokenstile.devices.fido2_errors)
    "no_security_key": QT_TRANSLATE_NOOP(
        "Messages",
        "No security key was found: insert or tap your key.",
    ),
    "key_pin_blocked": QT_TRANSLATE_NOOP(
        "Messages",
        "Your key's PIN is blocked: take the key to the service desk.",
    ),
    "key_pin_auth_blocked": QT_TRANSLATE_NOOP(
        "Messages",
        "Three wrong PINs in a row: take the key out, insert it again and retry.",
    ),
    "key_pin_not_set": QT_TRANSLATE_NOOP(
        "Messages",
        "Your key has no PIN yet: see the service desk to set one.",
    ),
    "key_pin_required": QT_TRANSLATE_NOOP(
        "Messages",
        "Your key needs its PIN: tap or insert it again and enter the PIN.",
    ),
    "key_uv_blocked": QT_TRANSLATE_NOOP(
        "Messages",
        "Your key's fingerprint check is blocked: tap it again and use its PIN.",
    ),
    "key_uv_failed": QT_TRANSLATE_NOOP(
        "Messages",
        "Your fingerprint was not recognised: tap your key and try again.",
    ),
    "key_timed_out": QT_TRANSLATE_NOOP(
        "Messages",
        "The key was not touched in time: tap or insert it again.",
    ),
    "key_cancelled": QT_TRANSLATE_NOOP(
        "Messages",
        "Sign-in cancelled.",
    ),
    "key_removed": QT_TRANSLATE_NOOP(
        "Messages",
        "The key was taken away too soon: insert or tap it again.",
    ),
    "key_no_credential": QT_TRANSLATE_NOOP(
        "Messages",
        "This key is not enrolled here: see the service desk.",
    ),
    "key_denied": QT_TRANSLATE_NOOP(
        "Messages",
        "The sign-in was refused on the key: tap it again to retry.",
    ),
    "key_unsupported": QT_TRANSLATE_NOOP(
        "Messages",
        "This key cannot sign in here: see the service desk.",
    ),
    "key_io_error": QT_TRANSLATE_NOOP(
        "Messages",
        "The key could not be read: take it out and try again.",
    ),
    "security_key_error": QT_TRANSLATE_NOOP(
        "Messages",
        "The key could not be read: take it out and try again.",
    ),
    # the broker (tokenstile.broker)
    "server_unreachable": QT_TRANSLATE_NOOP(
        "Messages",
        "The sign-in service cannot be reached: retrying…",
    ),
    "keychain_unavailable": QT_TRANSLATE_NOOP(
        "Messages",
        "This workstation cannot keep your session (its keychain is not "
        "available): see the service desk.",
    ),
    "not_logged_in": QT_TRANSLATE_NOOP(
        "Messages",
        "You are not signed in: sign in again.",
    ),
    # the service's own answers
    "temporarily_unavailable": QT_TRANSLATE_NOOP(
        "Messages",
        "The sign-in service is busy: retrying…",
    ),
}

# login_refused: what the service's refusal means depends on what was shown to it.
_REFUSED: dict[Factor | None, str] = {
    Factor.CARD: QT_TRANSLATE_NOOP(
        "Messages",
        "This card is not enrolled here: see the service desk.",
    ),
    Factor.KEY: QT_TRANSLATE_NOOP(
        "Messages",
        "This key is not enrolled here: see the service desk.",
    ),
    Factor.CODE: QT_TRANSLATE_NOOP(
        "Messages",
        "That username and code do not match: check the code on your fob and try again.",
    ),
    None: QT_TRANSLATE_NOOP(
        "Messages",
        "Sign-in was refused: try again, or see the service desk.",
    ),
}

_CANCELLED = {"pin_entry_cancelled", "key_cancelled"}
_SERVICE_DOWN = {"server_unreachable", "temporarily_unavailable"}
_GENERIC = QT_TRANSLATE_NOOP(
    "Messages", "Something went wrong: try again, or see the service desk."
)


def explain(error: BaseException, *, factor: Factor | None = None) -> Problem:
    """The sentence for ``error``, raised while signing in with ``factor``."""
    code = error.code if isinstance(error, TokenstileError) else ""
    if code in ("wrong_pin", "key_wrong_pin"):
        device = Factor.CARD if code == "wrong_pin" else Factor.KEY
        return Problem(text=tries_left(getattr(error, "retries_left", None), device=device))
    if code in ("login_refused", "tap_refused"):
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > 0:
            text = QCoreApplication.translate(
                "Messages", "Too many tries: wait %1 seconds, then try again."
            ).replace("%1", str(max(1, round(retry_after))))
            return Problem(text=text)
        oauth_error = getattr(error, "oauth_error", "")
        if oauth_error in _SERVICE_DOWN:
            return Problem(text=_t(_BY_CODE["temporarily_unavailable"]), service_down=True)
        if code == "tap_refused" and isinstance(error, TokenstileError) and error.message:
            return Problem(text=error.message)  # the service's sentence says why, as it is
        return Problem(text=_t(_REFUSED.get(factor, _REFUSED[None])))
    if code in _BY_CODE:
        return Problem(
            text=_t(_BY_CODE[code]),
            severity=Severity.INFO if code in _CANCELLED else Severity.ERROR,
            service_down=code in _SERVICE_DOWN,
            cancelled=code in _CANCELLED,
        )
    if isinstance(error, TokenstileError):
        logger.info("no kiosk sentence for %s", code)
    else:
        logger.error("unexpected failure in the kiosk", exc_info=error)
    return Problem(text=_t(_GENERIC))
