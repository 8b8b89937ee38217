"""The kiosk's end of the confirm channel: a Unix socket apps of this user ask on.

Apps (``Broker.confirm``, ``tokenstile confirm``) connect to ``confirm.sock`` in the
user's runtime directory (``protocol.confirm``). The rules, each against a malicious
local app:

- the socket is created with mode 0600 in a private (0700) directory, and every
  connection's peer is checked with ``SO_PEERCRED``: another OS user's is answered
  nothing and closed (:func:`peer_allowed`);
- a request is one JSON object of at most ``MAX_MESSAGE_BYTES``, read within
  ``read_timeout`` seconds; anything else is answered ``invalid_request``;
- the reason is made plain text (``protocol.confirm.plain_text``: no control, format or
  bidi characters, one line, at most ``MAX_REASON_CHARS``): the prompt shows only that,
  and never as markup. The app's name is not the app's to say: it is the peer process's
  name from ``/proc/<pid>/comm``, made plain text too;
- one prompt at a time: a request while one is open is answered ``busy`` at once.

The ``handler`` (the kiosk's :class:`~tokenstile.kiosk.confirm.ConfirmDesk`) is called
on the connection's own thread and blocks until the person has answered.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import stat
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenstile import paths
from tokenstile.protocol.confirm import (
    MAX_APP_CHARS,
    MAX_REASON_CHARS,
    ConfirmChannelError,
    plain_text,
    read_message,
    socket_path,
    write_message,
)

logger = logging.getLogger(__name__)

MAX_AUDIENCE_CHARS = 512
_ROLE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")  # the service's role rule (tokens.model)
_ACR_CHARS = 16


@dataclass(frozen=True, slots=True)
class PeerCredentials:
    pid: int
    uid: int
    gid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmAsk:
    """One app's request, as the kiosk may show and forward it."""

    reason: str  # plain text, capped
    app: str  # the peer process's name, plain text
    audience: str | None = None
    min_acr: str | None = None
    max_age: int | None = None
    second_person: str | None = None  # four eyes: the role a second person must hold

    def to_service(self) -> dict[str, Any]:
        """The login body's ``confirm`` member, without the session token."""
        asked: dict[str, Any] = {"reason": self.reason, "app": self.app}
        if self.audience is not None:
            asked["audience"] = self.audience
        if self.min_acr is not None:
            asked["min_acr"] = self.min_acr
        if self.second_person is not None:
            asked["second_person"] = self.second_person
        return asked


Handler = Callable[[ConfirmAsk], dict[str, Any]]


def failure(error: str, message: str) -> dict[str, Any]:
    """A channel answer without a token (``error`` one of ``CHANNEL_ERRORS``)."""
    return {"ok": False, "error": error, "message": message}


def peer_credentials(conn: socket.socket) -> PeerCredentials:
    """The connecting process's pid, uid and gid, as the kernel says (``SO_PEERCRED``)."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return PeerCredentials(pid, uid, gid)


def peer_allowed(peer: PeerCredentials, uid: int) -> bool:
    """Only the kiosk's own user may ask it for a confirm."""
    return peer.uid == uid


def app_name(pid: int, *, proc: Path = Path("/proc")) -> str:
    """The asking process's name (``comm``) as plain text, or ``An app`` when unknown."""
    try:
        raw = (proc / str(pid) / "comm").read_text(encoding="utf-8", errors="replace")
    except OSError:
        raw = ""
    return plain_text(raw, MAX_APP_CHARS) or "An app"


def parse_ask(message: dict[str, Any], app: str) -> ConfirmAsk:
    """The app's request checked and neutralised, or ``ConfirmChannelError`` naming why."""
    reason = message.get("reason")
    if not isinstance(reason, str):
        raise ConfirmChannelError("The request needs a reason (text).")
    shown = plain_text(reason, MAX_REASON_CHARS)
    if not shown:
        raise ConfirmChannelError("The reason has no visible text.")
    audience, min_acr, max_age = (message.get(k) for k in ("audience", "min_acr", "max_age"))
    if audience is not None and (
        not isinstance(audience, str)
        or not 0 < len(audience) <= MAX_AUDIENCE_CHARS
        or plain_text(audience, MAX_AUDIENCE_CHARS) != audience
    ):
        raise ConfirmChannelError("The audience must be a URI of plain text.")
    if min_acr is not None and (
        not isinstance(min_acr, str) or not min_acr.isalnum() or len(min_acr) > _ACR_CHARS
    ):
        raise ConfirmChannelError("min_acr must be an acr value such as phrh.")
    if max_age is not None and (
        not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0
    ):
        raise ConfirmChannelError("max_age must be 0 or more seconds.")
    role = message.get("second_person")
    if role is not None and (not isinstance(role, str) or _ROLE.fullmatch(role) is None):
        raise ConfirmChannelError("second_person must be a role name such as supervisor.")
    unknown = set(message) - {"reason", "audience", "min_acr", "max_age", "second_person"}
    if unknown:
        raise ConfirmChannelError(f"Unknown member {sorted(unknown)[0]!r}.")
    return ConfirmAsk(
        reason=shown,
        app=app,
        audience=audience,
        min_acr=min_acr,
        max_age=max_age,
        second_person=role,
    )


class ConfirmChannel:
    """Listens on the confirm socket; :meth:`start` once, :meth:`stop` before exit."""

    def __init__(
        self,
        handler: Handler,
        *,
        path: Path | None = None,
        uid: int | None = None,
        read_timeout: float = 5.0,
    ) -> None:
        self.path = path if path is not None else socket_path()
        self._handler = handler
        self._uid = os.getuid() if uid is None else uid
        self._read_timeout = read_timeout
        self._one_prompt = threading.Lock()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        paths.make_private_dir(self.path.parent)
        self._remove_stale()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # created 0600: no window in which others may connect
        try:
            server.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        server.listen(8)
        self._server = server
        self._thread = threading.Thread(target=self._accept, name="confirm-channel", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):  # never connected: nothing to shut
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._remove_stale()

    def _remove_stale(self) -> None:
        try:
            if stat.S_ISSOCK(self.path.lstat().st_mode):
                self.path.unlink()
        except FileNotFoundError:
            pass

    def _accept(self) -> None:
        while True:
            server = self._server
            if server is None:
                return
            try:
                conn, _ = server.accept()
            except OSError:
                return  # stopped
            threading.Thread(
                target=self._serve, args=(conn,), name="confirm-request", daemon=True
            ).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                peer = peer_credentials(conn)
                if not peer_allowed(peer, self._uid):
                    logger.warning("confirm: refused a connection of uid %d", peer.uid)
                    return
                conn.settimeout(self._read_timeout)
                try:
                    ask = parse_ask(read_message(conn), app_name(peer.pid))
                except ConfirmChannelError as exc:
                    write_message(conn, failure("invalid_request", exc.message))
                    return
                except TimeoutError:
                    return
                conn.settimeout(None)
                if not self._one_prompt.acquire(blocking=False):
                    write_message(
                        conn, failure("busy", "Another confirmation is waiting at the kiosk.")
                    )
                    return
                try:
                    answer = self._handler(ask)
                finally:
                    self._one_prompt.release()
                write_message(conn, answer)
            except OSError as exc:  # the app went away: nothing to answer
                logger.info("confirm: the asking app went away (%s)", type(exc).__name__)
