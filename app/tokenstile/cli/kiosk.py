"""The GUI commands: the sign-in kiosk and the admin console.

::

    tokenstile kiosk [--server URL] [--fullscreen] [--browser URL] [--demo] [--self-test]
    tokenstile admin [--server URL]

``--server`` defaults to ``TOKENSTILE_KIOSK_SERVER``, then this machine's issuer URL.
``--demo`` starts the embedded token service with demo people and devices first
(:mod:`tokenstile.demo.kiosk`). ``--self-test`` builds the window, draws it once, prints
``kiosk ok`` and exits: the packaging smoke test.
"""

from __future__ import annotations

import argparse
import sys

KIOSK_COMMANDS = ("kiosk", "admin")


def add_kiosk_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kiosk = commands.add_parser("kiosk", help="the sign-in screen of a shared workstation")
    kiosk.add_argument("--server", help="token service URL (default: this machine's)")
    kiosk.add_argument("--fullscreen", action="store_true", help="fill the screen (kiosk mode)")
    kiosk.add_argument(
        "--demo", action="store_true", help="embedded service, demo people and devices"
    )
    kiosk.add_argument(
        "--browser",
        metavar="URL",
        help="open URL in Chromium (app mode, a throwaway profile) at each sign-in",
    )
    kiosk.add_argument(
        "--self-test", action="store_true", help="build the window once, print 'kiosk ok'"
    )
    admin = commands.add_parser("admin", help="the admin console: people, factors, audit")
    admin.add_argument("--server", help="token service URL (default: this machine's)")


def run_kiosk_command(args: argparse.Namespace) -> int:
    argv = sys.argv[:1] or ["tokenstile"]  # Qt's own arguments: none
    if args.command == "admin":
        from tokenstile.config import load_settings
        from tokenstile.kiosk.admin.console import run_admin_console

        settings = load_settings(args.config)
        server = args.server or settings.kiosk_server or settings.issuer_url()
        return run_admin_console(server, argv=argv)
    if args.self_test:
        from tokenstile.kiosk.app import self_test

        return self_test(argv)
    if args.demo:
        from tokenstile.demo.kiosk import run_kiosk_demo

        return run_kiosk_demo(args)
    from tokenstile.config import load_settings
    from tokenstile.kiosk.app import run_kiosk

    settings = load_settings(args.config)
    return run_kiosk(
        settings, server=args.server, fullscreen=args.fullscreen, argv=argv, browser=args.browser
    )
