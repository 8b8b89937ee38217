"""BER-TLV as PIV cards use it (ISO 7816-4 5.2): multi-byte tags, 1 to 3 length bytes."""

from __future__ import annotations

from tokenstile.devices.errors import InvalidCardData


def tlv(tag: int, value: bytes = b"") -> bytes:
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    length = len(value)
    if length < 0x80:
        encoded = bytes([length])
    elif length <= 0xFF:
        encoded = bytes([0x81, length])
    else:
        encoded = b"\x82" + length.to_bytes(2, "big")
    return tag_bytes + encoded + value


def parse(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, value) pairs of a run of TLVs; raises :class:`InvalidCardData`."""
    items: list[tuple[int, bytes]] = []
    offset = 0
    try:
        while offset < len(data):
            tag = data[offset]
            offset += 1
            if tag & 0x1F == 0x1F:
                while True:
                    tag = (tag << 8) | data[offset]
                    offset += 1
                    if not data[offset - 1] & 0x80:
                        break
            length = data[offset]
            offset += 1
            if length & 0x80:
                count = length & 0x7F
                if not 1 <= count <= 3:
                    raise InvalidCardData("The card sent a malformed length.")
                length = int.from_bytes(data[offset : offset + count], "big")
                offset += count
            if offset + length > len(data):
                raise InvalidCardData("The card sent a truncated data object.")
            items.append((tag, data[offset : offset + length]))
            offset += length
    except IndexError as exc:
        raise InvalidCardData("The card sent a truncated data object.") from exc
    return items


def find(data: bytes, tag: int) -> bytes | None:
    """The value of the first ``tag`` at the top level of ``data``."""
    return next((value for found, value in parse(data) if found == tag), None)


def unwrap(data: bytes, tag: int) -> bytes:
    """The value of the single ``tag`` TLV that ``data`` must be."""
    items = parse(data)
    if len(items) != 1 or items[0][0] != tag:
        raise InvalidCardData(f"The card sent something other than a {tag:X} data object.")
    return items[0][1]
