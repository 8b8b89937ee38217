""" "Confirm with your key": what an app, the kiosk and the token service all read alike.

An app (``Broker.confirm``, ``tokenstile confirm``) asks the kiosk of this workstation,
over a Unix socket in the user's runtime directory, for a fresh factor ceremony of the
person signed in there; the kiosk runs it and asks the token service for a single-use
confirm token. Three sides see the request's text, so the rules live here once:

- :func:`plain_text`: the reason (and the app's name) as plain text: control, format
  and bidi characters dropped, white space folded, capped at a length. The kiosk shows
  only what this returns; the service refuses a reason this would change.
- the channel: one JSON object per connection each way, at most
  :data:`MAX_MESSAGE_BYTES`, ended by the writer's shutdown (:func:`read_message`).
  Request ``{"reason", "audience"?, "min_acr"?, "max_age"?}``; answer
  ``{"ok": true, "token", "expires_in", "auth_time", "acr", "amr"}`` or
  ``{"ok": false, "error", "message"}`` with ``error`` one of :data:`CHANNEL_ERRORS`.
- the claim the confirm token carries: :data:`CONFIRM_CLAIM`
  (``{"reason": ..., "app": ...}``).
"""

from __future__ import annotations

import json
import socket
import unicodedata
from pathlib import Path
from typing import Any, Final

from tokenstile import paths
from tokenstile.errors import TokenstileError

CONFIRM_CLAIM: Final = "confirm"
MAX_REASON_CHARS: Final = 200
MAX_APP_CHARS: Final = 64
MAX_MESSAGE_BYTES: Final = 16 * 1024
SOCKET_NAME: Final = "confirm.sock"

# What the kiosk may answer instead of a token.
CHANNEL_ERRORS: Final = frozenset(
    {
        "cancelled",  # the person closed the prompt
        "not_signed_in",  # nobody is signed in at the kiosk
        "busy",  # another confirm prompt is open
        "refused",  # the service refused the ceremony (someone else's key, too weak...)
        "invalid_request",  # the request does not parse or breaks a rule
        "unavailable",  # the kiosk or the service could not do it
    }
)


class ConfirmChannelError(TokenstileError):
    """The confirm channel's message is too large, not JSON or not an object."""

    code = "confirm_channel"


def plain_text(text: str, limit: int) -> str:
    """``text`` as one line of plain text of at most ``limit`` characters.

    Control (Cc), format (Cf: zero-width, bidi overrides), surrogate, private-use and
    unassigned characters are dropped; any run of white space becomes one space. Markup
    is left as the characters it is: the kiosk never renders it (a plain-text label)."""
    kept: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if char.isspace():
            kept.append(" ")
        elif category[0] != "C":
            kept.append(char)
    folded = " ".join("".join(kept).split())
    if len(folded) > limit:
        folded = folded[: limit - 1].rstrip() + "…"
    return folded


def socket_path() -> Path:
    """Where the kiosk of this user listens: ``confirm.sock`` in the runtime directory."""
    return paths.runtime_dir() / SOCKET_NAME


def read_message(conn: socket.socket) -> dict[str, Any]:
    """One JSON object from ``conn``, read until the peer's shutdown; ``ConfirmChannelError``
    when it passes :data:`MAX_MESSAGE_BYTES` or is not a JSON object."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_MESSAGE_BYTES:
            raise ConfirmChannelError(f"A confirm message is at most {MAX_MESSAGE_BYTES} bytes.")
        chunks.append(chunk)
    try:
        message = json.loads(b"".join(chunks).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfirmChannelError("A confirm message must be one JSON object.") from exc
    if not isinstance(message, dict):
        raise ConfirmChannelError("A confirm message must be one JSON object.")
    return message


def write_message(conn: socket.socket, message: dict[str, Any]) -> None:
    """Send ``message`` and shut the writing side, which ends it for the reader."""
    conn.sendall(json.dumps(message, separators=(",", ":")).encode("utf-8"))
    conn.shutdown(socket.SHUT_WR)
