"""What the command groups share in taking their arguments: the argparse shape of a group
whose actions are subcommands."""

from __future__ import annotations

import argparse
from typing import TypeAlias

# A string: the class is not subscriptable at run time.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def action_group(parent: Subcommands, name: str, *, help: str, dest: str = "") -> Subcommands:
    """Add ``name`` under ``parent``; its required ACTION goes to ``dest`` (``<name>_action``)."""
    return parent.add_parser(name, help=help).add_subparsers(
        dest=dest or f"{name}_action", required=True, metavar="ACTION"
    )
