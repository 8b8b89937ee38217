"""Times and tables as the ``tokenstile manage`` commands print them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime


def format_time(epoch: float) -> str:
    """UTC to the second, ISO 8601 with a ``Z``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def when(epoch: float | None) -> str:
    return "never" if epoch is None else format_time(epoch)


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell; the last column is left ragged."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
