"""Command APDUs as the virtual cards read them, and the status words they answer.

ISO/IEC 7816-4 section 5.1: cases 1 to 4 in short and extended length. A malformed
command is answered with a status word (``6700`` wrong length), never an exception. A
reply longer than the host takes leaves in pieces, each but the last ending ``61xx``
(section 5.3.4); the host fetches the rest with GET RESPONSE. The PIV card and the NFC
FIDO applet both read and answer this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from tokenstile.errors import TokenstileError


class SW(IntEnum):
    """The status words the cards use (SP 800-73-4 Part 2 section 3, ISO 7816-4 5.6)."""

    OK = 0x9000
    VERIFY_FAILED = 0x63C0  # | retries left
    WRONG_LENGTH = 0x6700
    SECURE_MESSAGING_UNSUPPORTED = 0x6882
    LAST_COMMAND_EXPECTED = 0x6883
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    CONDITIONS_NOT_SATISFIED = 0x6985
    INCORRECT_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    NOT_FOUND = 0x6A82
    NOT_ENOUGH_MEMORY = 0x6A84
    INCORRECT_P1P2 = 0x6A86
    REFERENCE_NOT_FOUND = 0x6A88
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00


class StatusWordError(TokenstileError):
    """Ends a command with ``sw`` and no data."""

    code = "status_word"

    def __init__(self, sw: int) -> None:
        super().__init__(f"SW {sw:04X}")
        self.sw = sw


@dataclass(frozen=True, kw_only=True)
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    ne: int  # most response bytes the host takes at once
    extended: bool


def parse_command(apdu: bytes) -> CommandApdu:
    if len(apdu) < 4:
        raise StatusWordError(SW.WRONG_LENGTH)
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    data, ne = b"", 0
    extended = len(body) >= 3 and body[0] == 0
    if not body:  # case 1
        pass
    elif len(body) == 1:  # case 2S
        ne = body[0] or 256
    elif not extended:
        lc = body[0]
        if len(body) == 1 + lc:  # case 3S
            data = body[1:]
        elif len(body) == 2 + lc:  # case 4S
            data, ne = body[1:-1], body[-1] or 256
        else:
            raise StatusWordError(SW.WRONG_LENGTH)
    elif len(body) == 3:  # case 2E
        ne = int.from_bytes(body[1:3], "big") or 65536
    else:
        lc = int.from_bytes(body[1:3], "big")
        data = body[3 : 3 + lc]
        rest = body[3 + lc :]
        if lc == 0 or len(data) != lc or len(rest) not in (0, 2):
            raise StatusWordError(SW.WRONG_LENGTH)
        if rest:  # case 4E
            ne = int.from_bytes(rest, "big") or 65536
    if ne == 0:
        # No Le: the card may still answer; a short command gets up to 256 bytes at once
        # (GET RESPONSE fetches the rest), an extended one up to 65536.
        ne = 65536 if extended else 256
    return CommandApdu(cla=cla, ins=ins, p1=p1, p2=p2, data=data, ne=ne, extended=extended)


class PendingReply:
    """The part of a reply the host has not fetched yet (section 5.3.4)."""

    def __init__(self) -> None:
        self._outgoing = b""

    @property
    def waiting(self) -> bool:
        return bool(self._outgoing)

    def send(self, data: bytes, ne: int) -> tuple[bytes, int]:
        """Answer with ``data``: its first piece of at most ``ne`` bytes, and its SW."""
        self._outgoing = data
        return self.next_piece(ne)

    def next_piece(self, ne: int) -> tuple[bytes, int]:
        """GET RESPONSE: the next piece of at most ``ne`` bytes, and its SW."""
        piece, self._outgoing = self._outgoing[:ne], self._outgoing[ne:]
        if self._outgoing:
            return piece, 0x6100 | (min(len(self._outgoing), 0x100) & 0xFF)  # 6100: 256 or more
        return piece, SW.OK

    def drop(self) -> None:
        """Any other command abandons an unread reply."""
        self._outgoing = b""
