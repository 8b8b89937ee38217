"""The one place a failure becomes one plain sentence for the admin at the console.

Errors of the token service, the broker and the devices already carry a sentence written
for a person (``TokenstileError.message``); the common ones get a translated sentence
that also says what to do next. Anything unexpected is named by kind, never by a trace.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from tokenstile.errors import TokenstileError

# The context is spelled out at every call (not through a variable): lupdate finds them.


def _sentences() -> dict[str, str]:
    return {
        "server_unreachable": QCoreApplication.translate(
            "AdminMessages",
            "The token service cannot be reached: check the network, then try again.",
        ),
        "not_logged_in": QCoreApplication.translate(
            "AdminMessages", "Your admin session has ended: sign in again."
        ),
        "session_ended": QCoreApplication.translate(
            "AdminMessages", "Your admin session has ended: sign in again."
        ),
        "not_admin": QCoreApplication.translate(
            "AdminMessages",
            "This person is not an administrator: sign in with an administrator's key, "
            "card or code.",
        ),
        "no_security_key": QCoreApplication.translate(
            "AdminMessages", "No security key was found: insert or tap the key, then retry."
        ),
        "no_reader": QCoreApplication.translate(
            "AdminMessages", "No card reader was found: connect one, then retry."
        ),
        "no_card": QCoreApplication.translate(
            "AdminMessages", "No card is in the reader: insert the card, then retry."
        ),
        "pcsc_unavailable": QCoreApplication.translate(
            "AdminMessages", "The smart card service is not running: start pcscd, then retry."
        ),
        "card_removed": QCoreApplication.translate(
            "AdminMessages", "The card was removed too early: insert it again and retry."
        ),
        "key_removed": QCoreApplication.translate(
            "AdminMessages", "The key was removed too early: insert or tap it again and retry."
        ),
        "key_timed_out": QCoreApplication.translate(
            "AdminMessages", "The key was not touched in time: try again."
        ),
        "key_cancelled": QCoreApplication.translate("AdminMessages", "Cancelled."),
        "pin_entry_cancelled": QCoreApplication.translate("AdminMessages", "Cancelled."),
        "task_cancelled": QCoreApplication.translate("AdminMessages", "Cancelled."),
    }


def describe(exc: BaseException) -> str:
    """One sentence for ``exc``."""
    if isinstance(exc, TokenstileError):
        known = _sentences().get(exc.code)
        if known is not None:
            return known
        text = exc.message.strip()
        if text:
            return text if text.endswith((".", "!", "?")) else text + "."
    if isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
        return QCoreApplication.translate(
            "AdminMessages", "The file could not be used: {reason}."
        ).format(reason=reason)
    return QCoreApplication.translate(
        "AdminMessages", "Something unexpected went wrong ({kind}): try again."
    ).format(kind=type(exc).__name__)
