"""The ``tokenstile`` command.

::

    tokenstile manage --db URL init
    tokenstile manage --db URL user add USERNAME [--display-name NAME] [--admin]
    tokenstile manage --db URL user disable|enable USERNAME   (disable ends their sessions)
    tokenstile manage --db URL client add NAME --kind kiosk|app|resource-server
                                           [--audience A]... [--scope S]... [--dpop]
    tokenstile manage --db URL client list
    tokenstile manage --db URL audience set AUDIENCE [--format jwt|opaque]
                                           [--lifetime SECONDS] [--min-acr ACR]
    tokenstile manage --db URL rotate-keys [--alg ES256|EdDSA] [--now | --compromised]
    tokenstile manage --db URL audit [--since ISO8601] [--json]
    tokenstile manage --db URL purge [--dry-run]   (ended sessions, expired tokens and challenges)
    tokenstile manage --db URL totp|hotp add ... / otp import|list|revoke|unlock|resync|
                                           confirm|assign ...  (see tokenstile.cli.otp)
    tokenstile manage --db URL piv enroll|list|revoke ... / ca show|import / trust add ...
                                           (see tokenstile.cli.piv)
    tokenstile manage --db URL fido2 enroll|list|revoke|unsuspend ... (see tokenstile.cli.fido2)
    tokenstile virtual-card create|serve PATH ...
    tokenstile virtual-key create|serve-nfc PATH ...
    tokenstile server [--db URL] [--host H] [--port P] [--issuer URL] [--rp-id ID]
                      [--tls-cert F --tls-key F] [--workers N]
    tokenstile demo
    tokenstile kiosk [--server URL] [--fullscreen] [--demo] [--self-test]
    tokenstile admin [--server URL]             (the admin console; see tokenstile.cli.kiosk)
    tokenstile login --server URL --factor totp|fido2|piv [--username U]
                     [--device virtual:PATH|usb|nfc] [--reader NAME] [--client-id ID]
                     [--rp-id ID]
    tokenstile token [--audience A] [--scope S] [--client-id APP] [--min-ttl SECONDS] [--json]
    tokenstile status
    tokenstile logout                           (see tokenstile.cli.session)

Errors are one plain sentence on stderr and exit status 1 (2 for bad usage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenstile import __version__
from tokenstile.cli.formatting import format_time
from tokenstile.errors import TokenstileError

if TYPE_CHECKING:
    from tokenstile.deployment import Deployment

# The command modules are imported where they are used: `tokenstile token` (the fast
# path at the top of main) must not pay for them.

EXIT_ERROR = 1
EXIT_USAGE = 2
MANAGE = "tokenstile manage"  # how audit rows name this command (origin, by)


def _parser() -> argparse.ArgumentParser:
    from tokenstile.cli.fido2 import add_fido2_commands, add_virtual_key_commands
    from tokenstile.cli.kiosk import add_kiosk_commands
    from tokenstile.cli.otp import add_otp_commands
    from tokenstile.cli.piv import add_piv_commands, add_virtual_card_commands
    from tokenstile.cli.session import add_broker_commands

    parser = argparse.ArgumentParser(
        prog="tokenstile", description="Hardware-token login for shared workplaces."
    )
    parser.add_argument("--version", action="version", version=f"tokenstile {__version__}")
    parser.add_argument("--config", type=Path, help="TOML settings file (or TOKENSTILE_CONFIG)")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING, ERROR")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    manage = commands.add_parser("manage", help="administer a token service database offline")
    manage.add_argument("--db", help="database URL (default: the embedded SQLite database)")
    actions = manage.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("init", help="create or upgrade the database (safe to repeat)")

    user = actions.add_parser("user", help="people").add_subparsers(
        dest="user_action", required=True, metavar="ACTION"
    )
    add_user = user.add_parser("add", help="add a person")
    add_user.add_argument("username")
    add_user.add_argument("--display-name", default="")
    add_user.add_argument("--admin", action="store_true")
    for verb in ("disable", "enable"):
        user.add_parser(verb, help=f"{verb} a person").add_argument("username")

    client = actions.add_parser("client", help="clients").add_subparsers(
        dest="client_action", required=True, metavar="ACTION"
    )
    add_client = client.add_parser("add", help="register a client; prints its id (and secret)")
    add_client.add_argument("name")
    add_client.add_argument("--kind", required=True, choices=["kiosk", "app", "resource-server"])
    add_client.add_argument("--audience", action="append", default=[])
    add_client.add_argument("--scope", action="append", default=[])
    add_client.add_argument(
        "--dpop", action="store_true", help="require a DPoP proof (RFC 9449) at every token request"
    )
    client.add_parser("list", help="list clients")

    audience = actions.add_parser("audience", help="per-audience token policy").add_subparsers(
        dest="audience_action", required=True, metavar="ACTION"
    )
    set_aud = audience.add_parser("set", help="set an audience's token format and limits")
    set_aud.add_argument("audience")
    set_aud.add_argument("--format", choices=["jwt", "opaque"], default="jwt")
    set_aud.add_argument("--lifetime", type=int, help="access-token lifetime in seconds")
    set_aud.add_argument("--min-acr", help="minimum assurance: otp, mfa, phr or phrh")

    rotate = actions.add_parser("rotate-keys", help="add a new signing key")
    rotate.add_argument("--alg", choices=["ES256", "EdDSA"])
    when = rotate.add_mutually_exclusive_group()
    when.add_argument(
        "--now",
        action="store_true",
        help="sign with it at once; older keys stay trusted until their tokens expire",
    )
    when.add_argument(
        "--compromised",
        action="store_true",
        help="a signing key leaked: sign with the new key at once and distrust (delete) "
        "every older key, so tokens they signed are refused",
    )

    audit = actions.add_parser("audit", help="print the audit log")
    audit.add_argument("--since", help="ISO 8601 time, e.g. 2026-11-27T08:00:00Z")
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    purge = actions.add_parser("purge", help="delete ended sessions, expired tokens, challenges")
    purge.add_argument("--dry-run", action="store_true", help="count only; delete nothing")
    add_otp_commands(actions)
    add_fido2_commands(actions)
    add_piv_commands(actions)

    server = commands.add_parser("server", help="run the token service")
    server.add_argument("--db")
    server.add_argument("--host")
    server.add_argument("--port", type=int)
    server.add_argument("--issuer")
    server.add_argument("--tls-cert", type=Path)
    server.add_argument("--tls-key", type=Path)
    server.add_argument("--rp-id", help="WebAuthn RP ID (default: the issuer's host name)")
    server.add_argument(
        "--workers", type=int, help="worker processes sharing the socket (1 to 64; default 1)"
    )

    commands.add_parser("demo", help="a fresh embedded token service on loopback")
    add_virtual_card_commands(commands)
    add_virtual_key_commands(commands)
    add_kiosk_commands(commands)
    add_broker_commands(commands)
    return parser


def _parse_time(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TokenstileError(f"{text!r} is not an ISO 8601 time.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _manage(args: argparse.Namespace) -> int:
    from tokenstile.cli.fido2 import FIDO2_ACTIONS, run_fido2_command
    from tokenstile.cli.otp import OTP_ACTIONS, run_otp_command
    from tokenstile.cli.piv import PIV_ACTIONS, run_piv_command
    from tokenstile.config import load_settings
    from tokenstile.deployment import Deployment
    from tokenstile.errors import ConfigError, NotFound
    from tokenstile.tokens.model import ACR_LEVELS, AudiencePolicy, AuditEvent

    settings = load_settings(args.config, db=args.db)
    deployment = Deployment(settings)
    try:
        if args.action == "init":
            report = deployment.init()
            if report.created_schema:
                print("Created the database.")
            else:
                print("The database is up to date.")
            if report.created_kek_file:
                print(f"Created the key-encryption key file {report.created_kek_file} (mode 0600).")
            if report.created_key:
                print(f"Created signing key {report.created_key}.")
            if report.created_client:
                print(f"Registered the kiosk client {report.created_client}.")
            return 0
        deployment.require_ready()
        store, now = deployment.store, deployment.clock.now()
        if args.action == "user":
            return _manage_user(args, deployment)
        if args.action == "client":
            if args.client_action == "list":
                for c in store.list_clients():
                    print(f"{c.client_id}\t{c.name}\t{c.kind}\t{' '.join(c.audiences)}")
                return 0
            client, secret = deployment.add_client(
                args.name,
                kind=args.kind,
                audiences=args.audience,
                scopes=args.scope,
                dpop_bound=args.dpop,
            )
            print(f"client_id: {client.client_id}")
            if secret:
                print(f"client_secret: {secret}")
                print("Store the secret now: it is shown only once.", file=sys.stderr)
        elif args.action == "audience":
            if args.min_acr is not None and args.min_acr not in ACR_LEVELS:
                raise ConfigError(f"--min-acr must be one of {', '.join(ACR_LEVELS)}.")
            if args.lifetime is not None and not 0 < args.lifetime <= 86_400:
                raise ConfigError("--lifetime must be between 1 and 86400 seconds.")
            policy = AudiencePolicy(args.audience, args.format, args.lifetime, args.min_acr)
            store.set_audience(
                policy,
                at=now,
                audit=AuditEvent(
                    "audience_set",
                    "info",
                    origin="tokenstile manage",
                    detail={
                        "audience": args.audience,
                        "format": args.format,
                        "lifetime": args.lifetime,
                        "min_acr": args.min_acr,
                    },
                ),
            )
            print(f"{args.audience}: {args.format} tokens.")
        elif args.action == "rotate-keys" and args.compromised:
            key, distrusted = deployment.distrust_keys(alg=args.alg, origin=MANAGE)
            print(f"New signing key {key.kid} ({key.alg}) signs now.")
            for kid in distrusted:
                print(f"Distrusted and deleted signing key {kid}.")
            print(
                "Tokens signed by the distrusted keys are refused by the service now and "
                "by resource servers at their next JWKS refresh; see docs/operations.md, "
                "'Signing key compromised'.",
                file=sys.stderr,
            )
        elif args.action == "rotate-keys":
            key = deployment.rotate_keys(alg=args.alg, immediately=args.now)
            print(
                f"New signing key {key.kid} ({key.alg}), published now, signs from "
                f"{format_time(key.sign_from)}."
            )
        elif args.action == "audit":
            since = _parse_time(args.since) if args.since else None
            for entry in store.audit_entries(since=since):
                _print_audit(entry, as_json=args.json)
        elif args.action == "purge":
            _manage_purge(args, deployment)
        elif args.action in OTP_ACTIONS:
            return run_otp_command(args, deployment)
        elif args.action in FIDO2_ACTIONS:
            return run_fido2_command(args, deployment)
        elif args.action in PIV_ACTIONS:
            return run_piv_command(args, deployment)
        else:  # pragma: no cover - argparse enforces the choices
            raise NotFound(f"Unknown action {args.action}.")
    finally:
        deployment.close()
    return 0


def _manage_user(args: argparse.Namespace, deployment: Deployment) -> int:
    """``user add|disable|enable``: the admin API's rules and store code (the username
    rule; disabling ends the person's live sessions), the origin ``tokenstile manage``."""
    from tokenstile.store.admin_repository import AdminRepository
    from tokenstile.tokens.model import USERNAME_RULE, is_valid_username

    people = AdminRepository(deployment.store, clock=deployment.clock)
    if args.user_action == "add":
        if not is_valid_username(args.username):
            raise TokenstileError(USERNAME_RULE)
        person = people.add_person(
            args.username,
            display_name=args.display_name.strip(),
            is_admin=args.admin,
            by=MANAGE,
            origin=MANAGE,
        )
        print(f"Added {person.username}{' (admin)' if person.is_admin else ''}.")
        return 0
    enabled = args.user_action == "enable"
    _, revoked = people.set_enabled(args.username, enabled, by=MANAGE, origin=MANAGE)
    if enabled:
        print(f"{args.username} is enabled.")
    else:
        ended = f"{len(revoked)} session{'' if len(revoked) == 1 else 's'}"
        print(f"{args.username} is disabled; {ended} ended.")
    return 0


def _manage_purge(args: argparse.Namespace, deployment: Deployment) -> None:
    from tokenstile.store.purge import longest_rate_limit_window, purge_expired

    settings = deployment.settings
    report = purge_expired(
        deployment.store,
        now=deployment.clock.now(),
        keep_seconds=settings.purge_retention,
        rate_limit_window=longest_rate_limit_window(settings),
        dry_run=args.dry_run,
        origin=MANAGE,
    )
    for table, count in report.counts.items():
        print(f"{table}\t{count}")
    done = "Would delete" if report.dry_run else "Deleted"
    print(f"{done} {report.total} rows{' (dry run: nothing deleted)' if report.dry_run else ''}.")


def _print_audit(entry: dict[str, Any], *, as_json: bool) -> None:
    entry = {**entry, "at": format_time(entry["at"])}
    if as_json:
        print(json.dumps(entry, sort_keys=True))
        return
    who = entry["username"] or "-"
    detail = " ".join(f"{k}={v}" for k, v in sorted(entry["detail"].items()))
    print(f"{entry['at']}  {entry['event']:<16} {entry['outcome']:<8} {who:<16} {detail}")


def _server(args: argparse.Namespace) -> int:
    from tokenstile.config import load_settings
    from tokenstile.server.run import serve

    settings = load_settings(
        args.config,
        db=args.db,
        host=args.host,
        port=args.port,
        issuer=args.issuer,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        rp_id=args.rp_id,
        workers=args.workers,
    )
    issuer = settings.issuer_url()
    serve(
        settings,
        log_level=args.log_level.lower(),
        on_ready=f"Tokenstile token service at {issuer}/.well-known/openid-configuration",
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["token"]:  # the fast path: apps may call it before every request
        from tokenstile.cli.session import token_main

        return token_main(arguments[1:])
    parser = _parser()
    args = parser.parse_args(arguments)
    from tokenstile.cli.fido2 import run_virtual_key_command
    from tokenstile.cli.kiosk import KIOSK_COMMANDS, run_kiosk_command
    from tokenstile.cli.piv import run_virtual_card_command
    from tokenstile.cli.session import BROKER_COMMANDS, run_broker_command
    from tokenstile.logs import configure_logging

    configure_logging(args.log_level)
    try:
        if args.command == "manage":
            return _manage(args)
        if args.command == "server":
            return _server(args)
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
