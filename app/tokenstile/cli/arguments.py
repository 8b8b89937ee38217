"""What the command groups share in taking their arguments: the argparse shape of a group
whose actions are subcommands, and the files a command is handed, read within a limit."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeAlias

from tokenstile.errors import TokenstileError

if TYPE_CHECKING:
    from pathlib import Path

# A string: the class is not subscriptable at run time.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def action_group(parent: Subcommands, name: str, *, help: str, dest: str = "") -> Subcommands:
    """Add ``name`` under ``parent``; its required ACTION goes to ``dest`` (``<name>_action``)."""
    return parent.add_parser(name, help=help).add_subparsers(
        dest=dest or f"{name}_action", required=True, metavar="ACTION"
    )


def read_bounded(path: Path, limit: int, what: str, *, size: str, article: str = "") -> bytes:
    """The file's bytes, refused with one sentence when unreadable or over ``limit`` bytes.

    The sentences say ``Cannot read <article><what> <path>`` and ``The <what> <path> is
    larger than <size>``.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise TokenstileError(f"Cannot read {article}{what} {path}: {exc.strerror}.") from exc
    if len(data) > limit:
        raise TokenstileError(f"The {what} {path} is larger than {size}.")
    return data
