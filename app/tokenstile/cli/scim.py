"""The SCIM commands under ``tokenstile manage``: the bearer tokens of SCIM clients.

::

    tokenstile manage --db URL scim token create NAME [--grant-role ROLE ...]
    tokenstile manage --db URL scim token list
    tokenstile manage --db URL scim token revoke NAME

``create`` prints the token once (only its SHA-256 is stored); the people the client
creates are marked ``scim:NAME`` and only it may change them. ``--grant-role`` names the
roles (admin, helpdesk, enroller) the client's groups may give: none by default, so a
SCIM client cannot make anyone an admin unless an admin said so here. ``revoke`` stops
the token at once; its people stay, disabled or not, and its name is never reused.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tokenstile.cli.arguments import Subcommands, action_group
from tokenstile.cli.formatting import print_table, when

if TYPE_CHECKING:
    from tokenstile.deployment import Deployment

SCIM_ACTIONS = ("scim",)
ACTOR = "tokenstile manage"


def add_scim_commands(actions: Subcommands) -> None:
    """Register ``scim token create|list|revoke`` under ``tokenstile manage``."""
    from tokenstile.store.scim_repository import GRANTABLE_ROLES

    scim = action_group(actions, "scim", help="SCIM 2.0 provisioning clients")
    token = scim.add_parser("token", help="SCIM clients' bearer tokens").add_subparsers(
        dest="scim_token_action", required=True, metavar="ACTION"
    )
    create = token.add_parser("create", help="create a SCIM client's token (printed once)")
    create.add_argument("name", help="the client's name; its people are marked scim:NAME")
    create.add_argument(
        "--grant-role",
        action="append",
        default=[],
        choices=GRANTABLE_ROLES,
        help="a role a group of this client may give its members (repeat; default none)",
    )
    token.add_parser("list", help="list SCIM tokens (never the tokens themselves)")
    revoke = token.add_parser("revoke", help="revoke a SCIM client's token")
    revoke.add_argument("name")


def run_scim_command(args: argparse.Namespace, deployment: Deployment) -> int:
    """Run one ``scim`` command on a ready deployment; the exit status."""
    from tokenstile.store.scim_repository import ScimTokens, directory_of

    tokens = ScimTokens(deployment.store, clock=deployment.clock)
    action = args.scim_token_action
    if action == "create":
        secret = tokens.create(args.name, roles=args.grant_role, by=ACTOR)
        print(secret)
        roles = ", ".join(sorted(set(args.grant_role))) or "none"
        print(
            f"The SCIM token of {args.name} (shown once; people it creates are marked "
            f"{directory_of(args.name)}; roles its groups may give: {roles}).",
            flush=True,
        )
    elif action == "list":
        rows = [["NAME", "CREATED", "REVOKED", "PEOPLE", "ROLES"]]
        rows.extend(
            [
                info.name,
                when(info.created_at),
                "-" if info.revoked_at is None else when(info.revoked_at),
                str(info.people),
                ",".join(info.roles) or "-",
            ]
            for info in tokens.tokens()
        )
        print_table(rows)
    elif tokens.revoke(args.name, by=ACTOR):
        print(f"The SCIM token of {args.name} is revoked.")
    else:
        print(f"The SCIM token of {args.name} was revoked already.")
    return 0
