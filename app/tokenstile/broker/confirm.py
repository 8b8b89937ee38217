"""An app's side of "confirm with your key": ask the kiosk of this workstation, get a token.

The kiosk serves a Unix socket in this user's runtime directory
(``protocol.confirm.socket_path``; mode 0600, and it answers only connections of its own
user). :func:`ask_kiosk` sends one request, waits for the person to confirm at the kiosk
(or not), and turns the answer into a :class:`ConfirmToken` or a
:class:`~tokenstile.broker.errors.ConfirmFailed` whose ``reason`` says why: the person
cancelled, nobody is signed in, another prompt is open, the service refused, the request
was bad, or the kiosk could not be reached.

The token is checked here only for what the app asked (``max_age`` against its
``auth_time``, on this machine's clock); its signature and single use are for the
resource server that receives it (``/introspect``, docs/integrator-guide.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenstile.broker.errors import ConfirmFailed
from tokenstile.clock import Clock, SystemClock
from tokenstile.protocol.confirm import (
    CHANNEL_ERRORS,
    ConfirmChannelError,
    read_message,
    socket_path,
    write_message,
)

DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class ConfirmToken:
    """A confirm token, with what its claims say (unverified here: informative)."""

    token: str
    expires_in: int
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    reason: str
    second_person: str | None = None  # four eyes: who else confirmed (their username)

    def to_json(self) -> dict[str, Any]:
        return {
            "confirm_token": self.token,
            "expires_in": self.expires_in,
            "auth_time": self.auth_time,
            "acr": self.acr,
            "amr": list(self.amr),
            "reason": self.reason,
            "second_person": self.second_person,
        }


def ask_kiosk(
    reason: str,
    *,
    audience: str | None = None,
    min_acr: str | None = None,
    max_age: int | None = None,
    second_person: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    path: Path | None = None,
    clock: Clock | None = None,
) -> ConfirmToken:
    """Ask the kiosk for a confirm of ``reason``; blocks until the person answers there
    (at most ``timeout`` seconds)."""
    if not isinstance(reason, str) or not reason.strip():
        raise ConfirmFailed(
            "Say what the person confirms: the reason is empty.", reason="invalid_request"
        )
    if max_age is not None and max_age < 0:
        raise ConfirmFailed("max_age must be 0 or more seconds.", reason="invalid_request")
    request: dict[str, Any] = {"reason": reason}
    if audience is not None:
        request["audience"] = audience
    if min_acr is not None:
        request["min_acr"] = min_acr
    if max_age is not None:
        request["max_age"] = max_age
    if second_person is not None:
        request["second_person"] = second_person
    where = path if path is not None else socket_path()
    answer = _exchange(where, request, timeout)
    if answer.get("ok") is not True:
        error = answer.get("error")
        message = answer.get("message")
        if error not in CHANNEL_ERRORS or not isinstance(message, str):
            raise ConfirmFailed(
                "The kiosk answered something that is not a confirm.", reason="unavailable"
            )
        raise ConfirmFailed(message, reason=str(error))
    confirmed = _token_of(answer)
    now = (clock or SystemClock()).now()
    if max_age is not None and now - confirmed.auth_time > max_age:
        raise ConfirmFailed(
            f"The confirmation is older than {max_age} s: ask again.", reason="refused"
        )
    return confirmed


def _exchange(where: Path, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(timeout)
        try:
            conn.connect(str(where))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ConfirmFailed(
                "No kiosk is running for this user here, so nobody can confirm.",
                reason="unavailable",
            ) from exc
        except OSError as exc:
            raise ConfirmFailed(
                f"The kiosk cannot be reached ({exc.strerror or exc}).", reason="unavailable"
            ) from exc
        try:
            write_message(conn, request)
            return read_message(conn)
        except TimeoutError as exc:
            raise ConfirmFailed(
                f"Nobody confirmed within {timeout:g} s.", reason="cancelled"
            ) from exc
        except ConfirmChannelError as exc:
            raise ConfirmFailed(
                f"The kiosk's answer cannot be read ({exc})", reason="unavailable"
            ) from exc
        except OSError as exc:
            raise ConfirmFailed(
                f"The kiosk closed the connection ({exc.strerror or exc}).", reason="unavailable"
            ) from exc
    finally:
        conn.close()


def _token_of(answer: dict[str, Any]) -> ConfirmToken:
    token, expires_in = answer.get("token"), answer.get("expires_in")
    if (
        not isinstance(token, str)
        or not isinstance(expires_in, int)
        or isinstance(expires_in, bool)
    ):
        raise ConfirmFailed("The kiosk answered a confirm without a token.", reason="unavailable")
    claims = _claims(token)
    auth_time, acr, amr = claims.get("auth_time"), claims.get("acr"), claims.get("amr")
    confirm = claims.get("confirm")
    if (
        not isinstance(auth_time, int)
        or not isinstance(acr, str)
        or not isinstance(amr, list)
        or not isinstance(confirm, dict)
    ):
        raise ConfirmFailed(
            "The kiosk answered a token that is not a confirm token.", reason="unavailable"
        )
    return ConfirmToken(
        token=token,
        expires_in=expires_in,
        auth_time=auth_time,
        acr=acr,
        amr=tuple(str(a) for a in amr),
        reason=str(confirm.get("reason", "")),
        second_person=_second_of(confirm),
    )


def _second_of(confirm: dict[str, Any]) -> str | None:
    second = confirm.get("second_person")
    sub = second.get("sub") if isinstance(second, dict) else None
    return sub if isinstance(sub, str) else None


def _claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}
