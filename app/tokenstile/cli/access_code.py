"""``tokenstile manage access-code issue USER [--hours H] [--uses N]``: a temporary access code.

For a person who lost their factor: they sign in with it at the kiosk (``POST /login/tac``,
acr ``tac``) and enroll a new one. The code is printed once, here; only its hash is kept.
Issuing a new one ends the person's earlier live codes. Audited as ``access_code_issued``
by ``tokenstile manage``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from tokenstile.cli.arguments import Subcommands, action_group
from tokenstile.cli.formatting import format_time
from tokenstile.errors import TokenstileError

if TYPE_CHECKING:
    from tokenstile.deployment import Deployment

ACCESS_CODE_ACTIONS = ("access-code",)
ACTOR = "tokenstile manage"


def add_access_code_commands(actions: Subcommands) -> None:
    group = action_group(
        actions, "access-code", help="temporary access codes", dest="access_code_action"
    )
    issue = group.add_parser("issue", help="issue a person a temporary access code (printed once)")
    issue.add_argument("username")
    issue.add_argument(
        "--hours", type=float, default=8.0, help="how long it is valid (more than 0, at most 72)"
    )
    issue.add_argument(
        "--uses", type=int, default=1, help="how many sign-ins it allows (1 to 20; default 1)"
    )


def run_access_code_command(args: argparse.Namespace, deployment: Deployment) -> int:
    from tokenstile.store.access_codes import AccessCodeRepository

    codes = AccessCodeRepository(deployment.store, clock=deployment.clock)
    try:
        issued = codes.issue(
            args.username, hours=args.hours, uses=args.uses, by=ACTOR, origin=ACTOR
        )
    except TokenstileError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    uses = "once" if issued.uses == 1 else f"{issued.uses} times"
    print(f"Temporary access code for {issued.username}: {issued.code}")
    print(f"Valid until {format_time(issued.expires_at)}, {uses}. It is not shown again.")
    if issued.replaced:
        print(f"Their earlier code ({issued.replaced}) no longer works.")
    return 0
