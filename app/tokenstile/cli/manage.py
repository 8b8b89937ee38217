"""``tokenstile manage``: administer a token service database offline.

::

    tokenstile manage --db URL init
    tokenstile manage --db URL user add|disable|enable ...
    tokenstile manage --db URL client add|list ...   (--kind web|native --redirect-uri URI...)
    tokenstile manage --db URL audience set ...
    tokenstile manage --db URL rotate-keys [--alg ES256|EdDSA] [--now | --compromised]
    tokenstile manage --db URL audit [--since ISO8601] [--json]
    tokenstile manage --db URL purge [--dry-run]
    tokenstile manage --db URL kiosk-group set NAME --shift-hours H | list
    tokenstile manage --db URL kiosk-group assign CLIENT_ID (GROUP | --none)
    tokenstile manage --db URL scim token create NAME | list | revoke NAME
    tokenstile manage --db URL directory add|list|sync ...   (LDAP / Active Directory)
    tokenstile manage --db URL access-code issue USER [--hours H] [--uses N]

Here are the commands on people, clients, audiences, signing keys, the audit log and the
purge, and the dispatch to the factor groups (:mod:`tokenstile.cli.otp`,
:mod:`tokenstile.cli.piv`, :mod:`tokenstile.cli.fido2`). The whole usage is in
:mod:`tokenstile.cli.main`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenstile.cli.arguments import Subcommands, action_group
from tokenstile.cli.formatting import format_time
from tokenstile.errors import ConfigError, TokenstileError

if TYPE_CHECKING:
    from tokenstile.deployment import Deployment

MANAGE = "tokenstile manage"  # how audit rows name this command (origin, by)


def add_manage_commands(commands: Subcommands) -> None:
    """Register ``manage`` and every action under it, the factor groups' too."""
    manage = commands.add_parser("manage", help="administer a token service database offline")
    manage.add_argument("--db", help="database URL (default: the embedded SQLite database)")
    actions = manage.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("init", help="create or upgrade the database (safe to repeat)")

    user = action_group(actions, "user", help="people")
    add_user = user.add_parser("add", help="add a person")
    add_user.add_argument("username")
    add_user.add_argument("--display-name", default="")
    add_user.add_argument("--admin", action="store_true")
    for verb in ("disable", "enable"):
        user.add_parser(verb, help=f"{verb} a person").add_argument("username")
    role = user.add_parser(
        "role",
        help="give a person a role: admin, helpdesk, enroller (built in), or one a four-eyes "
        "confirm asks for",
    )
    role.add_argument("username")
    role.add_argument("role")
    role.add_argument("--remove", action="store_true", help="take the role away instead")

    client = action_group(actions, "client", help="clients")
    add_client = client.add_parser("add", help="register a client; prints its id (and secret)")
    add_client.add_argument("name")
    add_client.add_argument(
        "--kind",
        required=True,
        choices=["kiosk", "app", "resource-server", "web", "native"],
        help="web: a confidential web app (authorization code + PKCE, client_secret_basic or "
        "client_secret_post; the secret is printed once); native: a public app with loopback "
        "or claimed https redirects (PKCE only)",
    )
    add_client.add_argument(
        "--redirect-uri",
        nargs="+",
        action="extend",
        default=[],
        metavar="URI",
        help="where /authorize may send a web or native client's answers (exact match; a "
        "native client's http://127.0.0.1/path or http://[::1]/path matches at any port)",
    )
    add_client.add_argument(
        "--post-logout-redirect-uri",
        nargs="+",
        action="extend",
        default=[],
        metavar="URI",
        help="where /logout may send the browser back after sign-out (exact match; https, "
        "or http on a loopback address)",
    )
    add_client.add_argument(
        "--backchannel-logout-uri",
        default=None,
        metavar="URI",
        help="a web client's back-channel logout endpoint: the service POSTs a logout token "
        "there whenever a session that gave the client tokens ends (https, or http on "
        "a loopback address)",
    )
    add_client.add_argument(
        "--jwks",
        default=None,
        metavar="FILE",
        help="a web client's JWK Set file (public keys only: ES256, EdDSA or RS256): the "
        "client authenticates with private_key_jwt and gets no secret",
    )
    add_client.add_argument("--audience", action="append", default=[])
    add_client.add_argument("--scope", action="append", default=[])
    add_client.add_argument(
        "--dpop", action="store_true", help="require a DPoP proof (RFC 9449) at every token request"
    )
    client.add_parser("list", help="list clients")

    audience = action_group(actions, "audience", help="per-audience token policy")
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
    _add_group_commands(actions)


def _add_group_commands(actions: Any) -> None:
    """The groups with modules of their own: kiosk groups, the factors, directories."""
    from tokenstile.cli.access_code import add_access_code_commands
    from tokenstile.cli.directory import add_directory_commands
    from tokenstile.cli.fido2 import add_fido2_commands
    from tokenstile.cli.otp import add_otp_commands
    from tokenstile.cli.piv import add_piv_commands
    from tokenstile.cli.scim import add_scim_commands

    _add_kiosk_group_commands(actions)
    for add_group in (
        add_otp_commands,
        add_fido2_commands,
        add_piv_commands,
        add_scim_commands,
        add_directory_commands,
        add_access_code_commands,
    ):
        add_group(actions)


def _add_kiosk_group_commands(actions: Any) -> None:
    group = action_group(
        actions, "kiosk-group", help="kiosk groups and tap-and-go shifts", dest="group_action"
    )
    set_group = group.add_parser(
        "set", help="create a kiosk group or set its shift length (0 turns tap-and-go off)"
    )
    set_group.add_argument("name")
    set_group.add_argument(
        "--shift-hours",
        type=float,
        required=True,
        help="after a full sign-in at a kiosk of the group, the same person re-enters there "
        "with a tap for this many hours (0 to 24; 0: off, and open shifts end)",
    )
    assign = group.add_parser("assign", help="put a kiosk client in a kiosk group")
    assign.add_argument("client_id")
    which = assign.add_mutually_exclusive_group(required=True)
    which.add_argument("group", nargs="?", help="the kiosk group's name")
    which.add_argument("--none", action="store_true", help="take the kiosk out of its group")
    group.add_parser("list", help="list kiosk groups, their shift length and kiosks")


def _parse_time(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TokenstileError(f"{text!r} is not an ISO 8601 time.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def run_manage_command(args: argparse.Namespace) -> int:
    """Run one ``tokenstile manage`` action; the exit status."""
    from tokenstile.cli.access_code import ACCESS_CODE_ACTIONS, run_access_code_command
    from tokenstile.cli.directory import DIRECTORY_ACTIONS, run_directory_command
    from tokenstile.cli.fido2 import FIDO2_ACTIONS, run_fido2_command
    from tokenstile.cli.otp import OTP_ACTIONS, run_otp_command
    from tokenstile.cli.piv import PIV_ACTIONS, run_piv_command
    from tokenstile.cli.scim import SCIM_ACTIONS, run_scim_command
    from tokenstile.config import load_settings
    from tokenstile.deployment import Deployment
    from tokenstile.errors import NotFound

    settings = load_settings(args.config, db=args.db)
    deployment = Deployment(settings)
    try:
        if args.action == "init":
            _manage_init(deployment)
            return 0
        deployment.require_ready()
        if args.action == "user":
            return _manage_user(args, deployment)
        if args.action in _ACTIONS:
            _ACTIONS[args.action](args, deployment)
        elif args.action in OTP_ACTIONS:
            return run_otp_command(args, deployment)
        elif args.action in FIDO2_ACTIONS:
            return run_fido2_command(args, deployment)
        elif args.action in PIV_ACTIONS:
            return run_piv_command(args, deployment)
        elif args.action in SCIM_ACTIONS:
            return run_scim_command(args, deployment)
        elif args.action in DIRECTORY_ACTIONS:
            return run_directory_command(args, deployment)
        elif args.action in ACCESS_CODE_ACTIONS:
            return run_access_code_command(args, deployment)
        else:  # pragma: no cover - argparse enforces the choices
            raise NotFound(f"Unknown action {args.action}.")
    finally:
        deployment.close()
    return 0


def _manage_init(deployment: Deployment) -> None:
    """``init``: create or upgrade the database, and say what was made."""
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


def _manage_client(args: argparse.Namespace, deployment: Deployment) -> None:
    """``client list|add``: a new client's secret is shown once, here."""
    if args.client_action == "list":
        for c in deployment.store.list_clients():
            print(f"{c.client_id}\t{c.name}\t{c.kind}\t{' '.join(c.audiences)}")
        return
    client, secret = deployment.add_client(
        args.name,
        kind=args.kind,
        audiences=args.audience,
        scopes=args.scope,
        dpop_bound=args.dpop,
        redirect_uris=args.redirect_uri,
        post_logout_redirect_uris=args.post_logout_redirect_uri,
        backchannel_logout_uri=args.backchannel_logout_uri,
        jwks=_read_jwks(args.jwks),
    )
    print(f"client_id: {client.client_id}")
    for uri in client.redirect_uris:
        print(f"redirect_uri: {uri}")
    for uri in client.post_logout_redirect_uris:
        print(f"post_logout_redirect_uri: {uri}")
    if client.backchannel_logout_uri:
        print(f"backchannel_logout_uri: {client.backchannel_logout_uri}")
    if secret:
        print(f"client_secret: {secret}")
        print("Store the secret now: it is shown only once.", file=sys.stderr)


def _read_jwks(path: str | None) -> str | None:
    """The JWK Set file ``--jwks`` names, as text (``add_client`` checks it)."""
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the JWK Set file {path}: {exc}") from exc


def _manage_audience(args: argparse.Namespace, deployment: Deployment) -> None:
    """``audience set``: an audience's token format and limits."""
    from tokenstile.errors import ConfigError
    from tokenstile.tokens.model import ACR_LEVELS, AudiencePolicy, AuditEvent

    if args.min_acr is not None and args.min_acr not in ACR_LEVELS:
        raise ConfigError(f"--min-acr must be one of {', '.join(ACR_LEVELS)}.")
    if args.lifetime is not None and not 0 < args.lifetime <= 86_400:
        raise ConfigError("--lifetime must be between 1 and 86400 seconds.")
    policy = AudiencePolicy(args.audience, args.format, args.lifetime, args.min_acr)
    deployment.store.set_audience(
        policy,
        at=deployment.clock.now(),
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


def _manage_rotate_keys(args: argparse.Namespace, deployment: Deployment) -> None:
    """``rotate-keys``: a new signing key; ``--compromised`` also distrusts the old ones."""
    if args.compromised:
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
        return
    key = deployment.rotate_keys(alg=args.alg, immediately=args.now)
    print(
        f"New signing key {key.kid} ({key.alg}), published now, signs from "
        f"{format_time(key.sign_from)}."
    )


def _manage_user(args: argparse.Namespace, deployment: Deployment) -> int:
    """``user add|disable|enable|role``: the admin API's rules and store code (the username
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
    if args.user_action == "role":
        from tokenstile.tokens.model import ROLE_RULE, is_valid_role

        if not is_valid_role(args.role):
            raise TokenstileError(ROLE_RULE)
        roles = people.set_role(args.username, args.role, not args.remove, by=MANAGE, origin=MANAGE)
        print(f"{args.username}'s roles: {', '.join(roles) or 'none'}.")
        return 0
    enabled = args.user_action == "enable"
    _, revoked = people.set_enabled(args.username, enabled, by=MANAGE, origin=MANAGE)
    if enabled:
        print(f"{args.username} is enabled.")
    else:
        ended = f"{len(revoked)} session{'' if len(revoked) == 1 else 's'}"
        print(f"{args.username} is disabled; {ended} ended.")
    return 0


def _manage_kiosk_group(args: argparse.Namespace, deployment: Deployment) -> None:
    """``kiosk-group set|assign|list`` (tap-and-go, ``tokens.shifts``)."""
    from tokenstile.store.shift_repository import KioskGroups

    groups = KioskGroups(deployment.store, clock=deployment.clock)
    if args.group_action == "set":
        info = groups.set_shift_hours(args.name, args.shift_hours, by=MANAGE)
        state = f"shift {info.shift_hours:g} h" if info.shift_hours > 0 else "tap-and-go off"
        print(f"kiosk group {info.name}: {state}")
    elif args.group_action == "assign":
        shift = groups.assign(args.client_id, None if args.none else args.group, by=MANAGE)
        print(f"{args.client_id}: " + (f"kiosk group {shift.group}" if shift else "no group"))
    else:
        for info in groups.groups():
            kiosks = " ".join(info.kiosks) or "-"
            print(f"{info.name}\t{info.shift_hours:g}\t{kiosks}\t{info.live_grants} open shifts")


def _manage_purge(args: argparse.Namespace, deployment: Deployment) -> None:
    from tokenstile.deployment import longest_rate_limit_window
    from tokenstile.store.purge import purge_expired

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


def _manage_audit(args: argparse.Namespace, deployment: Deployment) -> None:
    since = _parse_time(args.since) if args.since else None
    for entry in deployment.store.audit_entries(since=since):
        _print_audit(entry, as_json=args.json)


def _print_audit(entry: dict[str, Any], *, as_json: bool) -> None:
    entry = {**entry, "at": format_time(entry["at"])}
    if as_json:
        print(json.dumps(entry, sort_keys=True))
        return
    who = entry["username"] or "-"
    detail = " ".join(f"{k}={v}" for k, v in sorted(entry["detail"].items()))
    print(f"{entry['at']}  {entry['event']:<16} {entry['outcome']:<8} {who:<16} {detail}")


_ACTIONS: dict[str, Callable[[argparse.Namespace, Deployment], None]] = {
    "client": _manage_client,
    "audience": _manage_audience,
    "rotate-keys": _manage_rotate_keys,
    "audit": _manage_audit,
    "purge": _manage_purge,
    "kiosk-group": _manage_kiosk_group,
}
