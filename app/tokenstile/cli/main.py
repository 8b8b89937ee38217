"""The ``tokenstile`` command.

::

    tokenstile manage --db URL init
    tokenstile manage --db URL user add USERNAME [--display-name NAME] [--admin]
    tokenstile manage --db URL user disable|enable USERNAME   (disable ends their sessions)
    tokenstile manage --db URL user role USERNAME ROLE [--remove]
    tokenstile manage --db URL client add NAME --kind kiosk|app|resource-server|web|native
                                           [--audience A]... [--scope S]... [--dpop]
                                           [--redirect-uri URI...]   (web, native)
    tokenstile manage --db URL client list
    tokenstile manage --db URL audience set AUDIENCE [--format jwt|opaque]
                                           [--lifetime SECONDS] [--min-acr ACR]
    tokenstile manage --db URL rotate-keys [--alg ES256|EdDSA] [--now | --compromised]
    tokenstile manage --db URL audit [--since ISO8601] [--json]
    tokenstile manage --db URL purge [--dry-run]   (ended sessions, expired tokens and challenges)
    tokenstile manage --db URL kiosk-group set NAME --shift-hours H | list   (tap-and-go)
    tokenstile manage --db URL kiosk-group assign CLIENT_ID (GROUP | --none)
    tokenstile manage --db URL directory add NAME --url ldaps://HOST --bind-dn DN
        --password-file F --base-dn DN [--filter F] [--group-dn DN] [--admin-group-dn DN]
        [--map username=sAMAccountName,...] [--ca-file F] [--starttls]   (LDAP / AD)
    tokenstile manage --db URL directory list | sync [NAME] [--dry-run]
    tokenstile manage --db URL access-code issue USER [--hours H] [--uses N]   (lost factor)
    tokenstile manage --db URL totp|hotp add ... / otp import|list|revoke|unlock|resync|
                                           confirm|assign ...  (see tokenstile.cli.otp)
    tokenstile manage --db URL piv enroll|list|revoke ... / ca show|import / trust add ...
                                           (see tokenstile.cli.piv)
    tokenstile manage --db URL fido2 enroll|list|revoke|unsuspend ... (see tokenstile.cli.fido2)
    tokenstile manage --db URL scim token create NAME [--grant-role ROLE] | list | revoke NAME
    tokenstile virtual-card create|serve PATH ...
    tokenstile virtual-key create|serve-nfc PATH ...
    tokenstile server [--db URL] [--host H] [--port P] [--issuer URL] [--rp-id ID]
                      [--tls-cert F --tls-key F] [--workers N]
    tokenstile demo
    tokenstile kiosk [--server URL] [--fullscreen] [--browser URL] [--demo] [--self-test]
    tokenstile admin [--server URL]             (the admin console; see tokenstile.cli.kiosk)
    tokenstile login --server URL --factor totp|fido2|piv [--username U]
                     [--device virtual:PATH|usb|nfc] [--reader NAME] [--client-id ID]
                     [--rp-id ID]
    tokenstile token [--audience A] [--scope S] [--client-id APP] [--min-ttl SECONDS] [--json]
    tokenstile status
    tokenstile logout                           (see tokenstile.cli.session)
    tokenstile confirm --reason TEXT [--audience A] [--min-acr A] [--max-age SECONDS]
                       [--second-person ROLE] [--timeout SECONDS] [--json]

Errors are one plain sentence on stderr and exit status 1 (2 for bad usage). This module
parses the command line and dispatches; each command group is a module of its own
(``manage`` and ``server`` in :mod:`tokenstile.cli.manage` and :mod:`tokenstile.cli.server`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tokenstile import __version__
from tokenstile.errors import TokenstileError

# The command modules are imported where they are used: `tokenstile token` (the fast
# path at the top of main) must not pay for them.

EXIT_ERROR = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    from tokenstile.cli.fido2 import add_virtual_key_commands
    from tokenstile.cli.kiosk import add_kiosk_commands
    from tokenstile.cli.manage import add_manage_commands
    from tokenstile.cli.piv import add_virtual_card_commands
    from tokenstile.cli.server import add_server_command
    from tokenstile.cli.session import add_broker_commands

    parser = argparse.ArgumentParser(
        prog="tokenstile", description="Hardware-token login for shared workplaces."
    )
    parser.add_argument("--version", action="version", version=f"tokenstile {__version__}")
    parser.add_argument("--config", type=Path, help="TOML settings file (or TOKENSTILE_CONFIG)")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING, ERROR")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_manage_commands(commands)
    add_server_command(commands)
    commands.add_parser("demo", help="a fresh embedded token service on loopback")
    add_virtual_card_commands(commands)
    add_virtual_key_commands(commands)
    add_kiosk_commands(commands)
    add_broker_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["token"]:  # the fast path: apps may call it before every request
        from tokenstile.cli.session import token_main

        return token_main(arguments[1:])
    from tokenstile.cli.fido2 import dashed_credential_ids, run_virtual_key_command

    parser = _parser()
    args = parser.parse_args(dashed_credential_ids(arguments))
    from tokenstile.cli.kiosk import KIOSK_COMMANDS, run_kiosk_command
    from tokenstile.cli.manage import run_manage_command
    from tokenstile.cli.piv import run_virtual_card_command
    from tokenstile.cli.server import run_server_command
    from tokenstile.cli.session import BROKER_COMMANDS, run_broker_command
    from tokenstile.logs import configure_logging

    configure_logging(args.log_level)
    try:
        if args.command == "manage":
            return run_manage_command(args)
        if args.command == "server":
            return run_server_command(args)
        if args.command == "virtual-card":
            return run_virtual_card_command(args)
        if args.command == "virtual-key":
            return run_virtual_key_command(args)
        if args.command in KIOSK_COMMANDS:
            return run_kiosk_command(args)
        if args.command in BROKER_COMMANDS:
            return run_broker_command(args)
        from tokenstile.demo.headless import run_demo

        return run_demo()
    except TokenstileError as exc:
        print(f"tokenstile: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if exc.code == "config_error" else EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `tokenstile manage audit | head`: the reader left; say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
