"""A virtual card in a vpcd reader: the TCP client that puts a software card into pcscd.

vsmartcard's vpcd driver gives pcscd the readers ``Virtual PCD 00 00`` and ``... 00 01``
and listens on 127.0.0.1:35963 and :35964 for a card. A card "is inserted" while its
TCP connection stands. Every message is a 2-byte big-endian length and a payload; a
1-byte payload is a control (``0`` power off, ``1`` power on, ``2`` reset, ``4`` send
the ATR), anything longer a command APDU to answer with a response APDU.

:class:`VpcdCard` serves any card object with ``handle_apdu`` and ``power_cycle`` from
a background thread; :meth:`~VpcdCard.insert` and :meth:`~VpcdCard.remove` put the card
in and pull it out on demand, and it reconnects when pcscd restarts. A
:class:`MultiAppletCard` puts several applets on one card (PIV and the FIDO NFC applet,
selected by AID), as dual-interface cards and security keys carry them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from tokenstile.errors import TokenstileError

logger = logging.getLogger(__name__)

VPCD_HOST = "127.0.0.1"
VPCD_BASE_PORT = 35963

# 3B 8A 80 01 + "Tokenstile" + TCK: T=0/T=1 via TD1/TD2 as contactless ATRs carry (PC/SC
# part 3), historical bytes that name no known card so middleware identifies us by AID.
_HISTORICAL = b"Tokenstile"
DEFAULT_ATR = bytes([0x3B, 0x80 | len(_HISTORICAL), 0x80, 0x01]) + _HISTORICAL


def _with_tck(atr: bytes) -> bytes:
    check = 0
    for byte in atr[1:]:
        check ^= byte
    return atr + bytes([check])


DEFAULT_ATR = _with_tck(DEFAULT_ATR)

_CTRL_OFF, _CTRL_ON, _CTRL_RESET, _CTRL_ATR = 0, 1, 2, 4
_SW_FILE_NOT_FOUND = b"\x6a\x82"


class CardApplet(Protocol):
    """What a vpcd reader can serve: a card, or one applet standing for a whole card."""

    def handle_apdu(self, apdu: bytes) -> bytes: ...

    def power_cycle(self) -> None: ...


class VpcdError(TokenstileError):
    """The vpcd reader cannot be reached (pcscd not running, or without vpcd)."""

    code = "vpcd_unavailable"


class VpcdCard(AbstractContextManager["VpcdCard", None]):
    """``card`` in vpcd reader ``reader`` (0 or 1) of the local pcscd.

    Not inserted until :meth:`insert`. Use as a context manager, or call :meth:`close`:
    both pull the card and stop the thread.
    """

    def __init__(
        self,
        card: CardApplet,
        *,
        reader: int = 0,
        atr: bytes = DEFAULT_ATR,
        host: str = VPCD_HOST,
        port: int | None = None,
        retry_interval: float = 0.1,
    ) -> None:
        if reader not in (0, 1) and port is None:
            raise ValueError("vpcd has readers 0 and 1")
        if not 2 <= len(atr) <= 33:
            raise ValueError("an ATR is 2 to 33 bytes")
        self.card = card
        self.reader = reader
        self.atr = atr
        self.address = (host, port if port is not None else VPCD_BASE_PORT + reader)
        self._retry_interval = retry_interval
        self._lock = threading.Condition()
        self._want_inserted = False
        self._closing = False
        self._socket: socket.socket | None = None
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._disconnected.set()
        self._thread: threading.Thread | None = None
        self.connections = 0  # how many times the card has entered the reader

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def inserted(self) -> bool:
        """The card is in the reader: connected to vpcd."""
        return self._connected.is_set()

    def insert(self, *, timeout: float | None = 5.0) -> None:
        """Put the card in the reader; with ``timeout``, wait until vpcd has it.

        Without a timeout the card goes in as soon as vpcd listens (pcscd may start
        later). Raises :class:`VpcdError` when vpcd did not take it in time.
        """
        with self._lock:
            if self._closing:
                raise VpcdError("this virtual card has been closed")
            self._want_inserted = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"vpcd-reader-{self.reader}", daemon=True
                )
                self._thread.start()
            self._lock.notify_all()
        if timeout is not None and not self._connected.wait(timeout):
            raise VpcdError(
                f"vpcd at {self.address[0]}:{self.address[1]} did not take the card: "
                "is pcscd running with the vsmartcard-vpcd driver?"
            )

    def remove(self, *, timeout: float = 5.0) -> None:
        """Pull the card out; returns once the connection is closed (or after
        ``timeout``; 0 returns at once, which a card may do from inside its own APDU
        handler to leave the reader mid-command).
        """
        with self._lock:
            self._want_inserted = False
            self._drop_connection()
            self._lock.notify_all()
        self._disconnected.wait(timeout)

    def close(self) -> None:
        """Pull the card and stop the thread (idempotent)."""
        with self._lock:
            self._closing = True
            self._want_inserted = False
            self._drop_connection()
            self._lock.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(10)

    def wait_inserted(self, timeout: float | None = None) -> bool:
        """Wait until vpcd has the card; False on time-out."""
        return self._connected.wait(timeout)

    def wait_removed(self, timeout: float | None = None) -> bool:
        return self._disconnected.wait(timeout)

    def _drop_connection(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)

    # -- the reader thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._closing and not self._want_inserted:
                    self._lock.wait()
                if self._closing:
                    return
            connection = self._connect()
            if connection is None:
                with self._lock:
                    self._lock.wait_for(
                        lambda: self._closing or not self._want_inserted, self._retry_interval
                    )
                continue
            try:
                self._serve(connection)
            finally:
                with self._lock:
                    self._socket = None
                connection.close()
                self._connected.clear()
                self._power_cycle()
                self._disconnected.set()

    def _connect(self) -> socket.socket | None:
        try:
            connection = socket.create_connection(self.address, timeout=1.0)
        except OSError:
            return None
        if connection.getsockname() == connection.getpeername():
            # vpcd's ports lie in Linux's ephemeral range: while nothing listens there,
            # a connect may be given the same port as its source and "connect" to
            # itself (TCP simultaneous open). That is no reader; and such a socket's
            # TIME_WAIT once kept the next pcscd from binding the port.
            # Closed with a reset (no linger), so no TIME_WAIT keeps the port.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()
            return None
        connection.settimeout(None)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._closing or not self._want_inserted:
                connection.close()
                return None
            self._socket = connection
            self._disconnected.clear()
            self.connections += 1
        self._power_cycle()  # a card entering the field starts from power-on
        self._connected.set()
        logger.debug("virtual card in vpcd reader %d", self.reader)
        return connection

    def _serve(self, connection: socket.socket) -> None:
        while True:
            try:
                message = _receive(connection)
            except OSError:
                return
            if message is None:
                return
            if len(message) == 1:
                control = message[0]
                if control in (_CTRL_OFF, _CTRL_RESET):
                    self._power_cycle()
                if control != _CTRL_ATR:
                    continue  # power on: the card is ready; controls get no answer
                reply = self.atr
            else:
                try:
                    reply = self.card.handle_apdu(message)
                except Exception:  # the reader thread must outlive a card bug
                    logger.exception("virtual card: APDU handling failed")
                    reply = b"\x6f\x00"
            try:
                connection.sendall(struct.pack(">H", len(reply)) + reply)
            except OSError:
                return

    def _power_cycle(self) -> None:
        try:
            self.card.power_cycle()
        except Exception:
            logger.exception("virtual card: power cycle failed")


def _receive(connection: socket.socket) -> bytes | None:
    _quick_ack(connection)
    header = _receive_exactly(connection, 2)
    if header is None:
        return None
    (length,) = struct.unpack(">H", header)
    return _receive_exactly(connection, length)


def _quick_ack(connection: socket.socket) -> None:
    # vpcd writes the length and the APDU separately; with Nagle on its side, a delayed
    # ACK on ours would hold every command back by ~40 ms. Linux resets this flag after
    # each receive, so it is set again before every one.
    quick_ack = getattr(socket, "TCP_QUICKACK", None)
    if quick_ack is not None:
        with contextlib.suppress(OSError):
            connection.setsockopt(socket.IPPROTO_TCP, quick_ack, 1)


def _receive_exactly(connection: socket.socket, count: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = count
    while remaining:
        _quick_ack(connection)
        chunk = connection.recv(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class MultiAppletCard:
    """Several applets on one card; SELECT by AID chooses which one gets the APDUs.

    ``applets`` pairs each applet with its AID. The first is current after power-on
    (the card's default application). A SELECT whose AID is a prefix of an applet's AID
    (at least the 5-byte RID) goes to that applet, which answers it; a SELECT of an AID
    no applet has answers ``6A82`` and leaves the current applet current.
    """

    def __init__(self, applets: Sequence[tuple[bytes, CardApplet]]) -> None:
        if not applets:
            raise ValueError("a card needs at least one applet")
        self.applets = list(applets)
        self._current = self.applets[0][1]
        self._lock = threading.RLock()

    @property
    def current(self) -> CardApplet:
        return self._current

    def power_cycle(self) -> None:
        with self._lock:
            for _, applet in self.applets:
                applet.power_cycle()
            self._current = self.applets[0][1]

    def handle_apdu(self, apdu: bytes) -> bytes:
        with self._lock:
            if len(apdu) >= 5 and apdu[0] & 0xFC == 0x00 and apdu[1:3] == b"\xa4\x04":
                aid = _select_aid(apdu)
                target = next(
                    (
                        applet
                        for applet_aid, applet in self.applets
                        if aid is not None and len(aid) >= 5 and applet_aid.startswith(aid)
                    ),
                    None,
                )
                if target is None:
                    return _SW_FILE_NOT_FOUND
                response = target.handle_apdu(apdu)
                if response[-2:] == b"\x90\x00" or response[-2] == 0x61:
                    self._current = target
                return response
            return self._current.handle_apdu(apdu)


def _select_aid(apdu: bytes) -> bytes | None:
    body = apdu[4:]
    if body[0] == 0 and len(body) >= 3:
        length = int.from_bytes(body[1:3], "big")
        aid = body[3 : 3 + length]
    else:
        length = body[0]
        aid = body[1 : 1 + length]
    return aid if len(aid) == length else None


# -- serving from the command line ------------------------------------------------------


def serve(
    card: CardApplet,
    *,
    reader: int = 0,
    stop: threading.Event | None = None,
    atr: bytes = DEFAULT_ATR,
) -> None:
    """Keep ``card`` in vpcd reader ``reader`` until ``stop`` is set (or Ctrl-C).

    Waits for pcscd when it is not running yet and comes back after it restarts.
    """
    stop = stop or threading.Event()
    with VpcdCard(card, reader=reader, atr=atr) as slot:
        slot.insert(timeout=None)
        if not slot.wait_inserted(2):
            logger.warning("waiting for pcscd with the vpcd driver (reader %d)", reader)
        # In short waits, so a signal's handler (the CLI's sets ``stop``) runs within
        # half a second whichever thread the signal was delivered to.
        while not stop.wait(0.5):
            pass


def serve_virtual_card(
    path: Path | str,
    *,
    reader: int = 0,
    kek: bytes | None = None,
    stop: threading.Event | None = None,
) -> None:
    """``tokenstile virtual-card serve PATH [--reader 0|1]``: the PIV card kept in ``path``."""
    from tokenstile.virtual.piv_card import PivCardApplet

    serve(PivCardApplet.from_file(path, kek=kek), reader=reader, stop=stop)


def serve_virtual_key_nfc(
    path: Path | str,
    *,
    reader: int = 0,
    kek: bytes | None = None,
    stop: threading.Event | None = None,
) -> None:
    """``tokenstile virtual-key serve-nfc PATH [--reader 0|1]``: the FIDO2 key kept in
    ``path``, as a contactless key lying on the reader (a tap is user presence).
    """
    from tokenstile.virtual.ctap2_authenticator import Ctap2Authenticator
    from tokenstile.virtual.key_file import KeyFile, VirtualKeyFileError
    from tokenstile.virtual.nfc_applet import CtapNfcApplet
    from tokenstile.virtual.user_presence import always_approve

    key_file = KeyFile(path, kek=kek)
    if not key_file.exists():
        raise VirtualKeyFileError(f"no virtual key at {path}: create one first")
    authenticator = Ctap2Authenticator(key_file, presence=always_approve, transports=["nfc"])
    serve(CtapNfcApplet(authenticator), reader=reader, stop=stop)
