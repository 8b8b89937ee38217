"""The broker commands: sign in from a terminal, hand tokens to scripts and apps.

::

    tokenstile login --server URL --factor totp|fido2|piv [--username U]
                     [--device virtual:PATH|usb|nfc] [--reader NAME] [--client-id ID]
    tokenstile token [--audience A] [--scope S] [--client-id APP] [--min-ttl SECONDS] [--json]
    tokenstile status [--json]
    tokenstile logout
    tokenstile confirm --reason TEXT [--audience A] [--min-acr A] [--max-age SECONDS]
                       [--second-person ROLE] [--timeout SECONDS] [--json]

``login`` asks for the code or PIN without echo on a terminal, and reads one line of
standard input per question otherwise. ``token`` prints the access token (or, with
``--json``, the token with its type and expiry); with ``--audience`` the token comes by
token exchange, requested as the app ``--client-id`` (or ``TOKENSTILE_BROKER_APP_ID``)
when given, else as the session's client. It runs before the rest of the CLI is
imported (``cli.main``'s fast path), since apps may call it before every request.
Not signed in: one sentence on stderr and exit status 2 (``token``, ``status`` and
``confirm``). ``confirm`` asks the kiosk of this workstation to have the person signed in
there confirm ``--reason`` with their key or card (``Broker.confirm``) and prints the
single-use confirm token (``--json``: with ``expires_in``, ``auth_time``, ``acr``,
``amr``); refused or cancelled, one sentence on stderr, exit status 1, and with
``--json`` ``{"error": REASON, "message"}`` on stdout (REASON ``cancelled``, ``busy``,
``refused``, ``invalid_request``, ``unavailable``).
Not signed in: one sentence on stderr and exit status 2 (``token`` and ``status``).
Parked at the kiosk (``kiosk_park_sessions``): one sentence naming who stepped away and
exit status 3 (``token``); ``status`` shows who is parked, by name only, and exits 3.
While a kiosk demo runs, ``token``, ``status`` and ``logout`` see the demo's session (see
``broker/store.py``) and ``login`` is refused, so a real sign-in never lands in it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenstile.errors import TokenstileError

if TYPE_CHECKING:
    from tokenstile.broker.client import TokenServiceClient
    from tokenstile.broker.model import TokenGrant
    from tokenstile.broker.session import Broker
    from tokenstile.devices.fido2_client import PinPrompt as KeyPinPrompt
    from tokenstile.devices.piv import PivCard
    from tokenstile.devices.piv_login import PinRequest

BROKER_COMMANDS = ("login", "token", "status", "logout", "confirm")
EXIT_ERROR = 1
EXIT_NOT_SIGNED_IN = 2
EXIT_PARKED = 3


def add_broker_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    login = commands.add_parser("login", help="sign in at a token service; keep the session")
    login.add_argument("--server", required=True, help="the token service, https://host[:port]")
    login.add_argument("--factor", required=True, choices=["totp", "fido2", "piv"])
    login.add_argument("--username", help="who signs in (TOTP; asked when not given)")
    login.add_argument(
        "--device",
        metavar="virtual:PATH|usb|nfc",
        help="fido2: the software key in PATH, a USB key (default) or one on the NFC reader; "
        "piv: the virtual card in PATH (default: the card in a PC/SC reader)",
    )
    login.add_argument("--reader", help="piv: the reader's name (or part of it)")
    login.add_argument("--client-id", help="the client to sign in as (default: the kiosk's)")
    login.add_argument(
        "--rp-id",
        help="fido2: the WebAuthn RP ID, the --server host or a domain it belongs to "
        "(default: the server's announcement when it belongs to the --server host, "
        "else that host; localhost on loopback)",
    )
    _add_token_options(commands.add_parser("token", help="print a valid access token"))
    status = commands.add_parser("status", help="who is signed in, where, until when")
    status.add_argument(
        "--json", action="store_true", help="as JSON: state, who, and who is parked (names)"
    )
    commands.add_parser("logout", help="revoke the session at the server and forget it here")
    confirm = commands.add_parser(
        "confirm", help="have the person signed in at the kiosk confirm an action with their key"
    )
    confirm.add_argument("--reason", required=True, help="what they confirm, shown at the kiosk")
    confirm.add_argument("--audience", help="the confirm token's audience (default: local)")
    confirm.add_argument("--min-acr", help="the weakest acr accepted (e.g. phrh)")
    confirm.add_argument(
        "--max-age", type=int, metavar="SECONDS", help="the confirmation may be this old at most"
    )
    confirm.add_argument(
        "--second-person",
        metavar="ROLE",
        help="four eyes: someone else holding ROLE must confirm too, with their own factor",
    )
    confirm.add_argument(
        "--timeout", type=float, default=120.0, metavar="SECONDS", help="wait this long (120)"
    )
    confirm.add_argument("--json", action="store_true", help="the token with its claims")


def _add_token_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--audience", help="a token for this audience (token exchange)")
    parser.add_argument("--scope", help="narrowed to these scopes (space-separated)")
    parser.add_argument(
        "--client-id",
        metavar="APP",
        help="the registered app asking (token exchange; default TOKENSTILE_BROKER_APP_ID, "
        "else the session's client)",
    )
    parser.add_argument(
        "--min-ttl",
        type=int,
        default=60,
        metavar="SECONDS",
        help="renew the token when it has less left (default 60)",
    )
    parser.add_argument("--json", action="store_true", help="the token with its type and expiry")


def token_main(argv: Sequence[str]) -> int:
    """``tokenstile token ...`` without the rest of the CLI (the fast path)."""
    parser = argparse.ArgumentParser(prog="tokenstile token", description="Print a valid token.")
    _add_token_options(parser)
    args = parser.parse_args(argv)
    return _guarded(lambda: _token(args, _broker(None, app_id=args.client_id)))


def run_broker_command(args: argparse.Namespace) -> int:
    """Run ``login``, ``token``, ``status`` or ``logout`` (errors reach ``cli.main``)."""
    broker = _broker(args.config, app_id=args.client_id if args.command == "token" else None)
    if args.command == "token":
        return _guarded(lambda: _token(args, broker))
    if args.command == "status":
        return _guarded(lambda: _status(broker, as_json=args.json))
    if args.command == "logout":
        return _logout(broker)
    if args.command == "confirm":
        return _guarded(lambda: _confirm(args, broker))
    return _login(args, broker)


def _broker(config: Path | None, *, app_id: str | None = None) -> Broker:
    from tokenstile.broker.session import Broker

    if config is None:
        return Broker(app_id=app_id)
    from tokenstile.config import load_settings

    return Broker(settings=load_settings(config), app_id=app_id)


def _guarded(run: Any) -> int:
    """Not signed in is exit status 2; other errors go to ``cli.main`` (or are printed)."""
    from tokenstile.broker.errors import NotLoggedIn, Parked

    try:
        status: int = run()
    except NotLoggedIn as exc:
        print(f"tokenstile: {exc.message}", file=sys.stderr)
        return EXIT_NOT_SIGNED_IN
    except Parked as exc:
        print(f"tokenstile: {exc.message}", file=sys.stderr)
        return EXIT_PARKED
    except TokenstileError as exc:
        print(f"tokenstile: {exc.message}", file=sys.stderr)
        return EXIT_NOT_SIGNED_IN if exc.code == "config_error" else EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    return status


def _token(args: argparse.Namespace, broker: Broker) -> int:
    if args.min_ttl < 0:
        raise TokenstileError("--min-ttl must not be negative.")
    token = broker.token(args.audience, args.scope, args.min_ttl)
    if not args.json:
        sys.stdout.write(token.access_token + "\n")
        return 0
    now = time.time()
    body = {
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_in": max(0, int(token.expires_at - now)),
        "expires_at": int(token.expires_at),
        "scope": token.scope,
    }
    sys.stdout.write(json.dumps(body) + "\n")
    return 0


def _confirm(args: argparse.Namespace, broker: Broker) -> int:
    from tokenstile.broker.errors import ConfirmFailed, NotLoggedIn

    try:
        confirmed = broker.confirm(
            args.reason,
            audience=args.audience,
            min_acr=args.min_acr,
            max_age=args.max_age,
            second_person=args.second_person,
            timeout=args.timeout,
        )
    except ConfirmFailed as exc:
        if args.json:
            sys.stdout.write(json.dumps({"error": exc.reason, "message": exc.message}) + "\n")
        if exc.reason == "not_signed_in":
            raise NotLoggedIn(exc.message) from exc
        raise
    if args.json:
        sys.stdout.write(json.dumps(confirmed.to_json()) + "\n")
    else:
        sys.stdout.write(confirmed.token + "\n")
    return 0


def _status(broker: Broker, *, as_json: bool = False) -> int:
    from tokenstile.broker.errors import NotLoggedIn
    from tokenstile.broker.session import NOT_SIGNED_IN

    state = broker.state()
    info = broker.session()
    if state.state == "signed_out":
        raise NotLoggedIn(NOT_SIGNED_IN)
    parked = [{"name": p.name, "until": _when(p.until)} for p in state.parked]
    if as_json:
        body: dict[str, Any] = {"state": state.state, "parked": parked}
        if info is not None:
            body.update(
                name=state.name,
                username=info.username,
                server=info.server,
                client_id=info.client_id,
                factor=info.factor,
                acr=info.acr,
                auth_time=int(info.auth_time),
                session_expires_at=info.session_expires_at and int(info.session_expires_at),
                dpop_bound=info.dpop_jkt is not None,
                offline=info.offline,
            )
        sys.stdout.write(json.dumps(body) + "\n")
        return 0 if state.state == "signed_in" else EXIT_PARKED
    if info is None:
        print(f"{'state:':<14}parked at the kiosk (nobody is signed in)")
        for person in parked:
            print(f"{'parked:':<14}{person['name']} (until {person['until']})")
        return EXIT_PARKED
    rows = [
        ("user", f"{info.username} ({info.display_name})" if info.display_name else info.username),
        ("server", info.server),
        ("client", info.client_id),
        ("factor", f"{info.factor} (acr {info.acr or '-'}, amr {' '.join(info.amr) or '-'})"),
        ("signed in", _when(info.auth_time) if info.auth_time else "-"),
        ("access token", f"until {_when(info.access_expires_at)}"),
        ("session", f"until {_when(info.session_expires_at)}" if info.session_expires_at else "-"),
        ("scope", info.scope or "-"),
        ("DPoP", f"bound to key {info.dpop_jkt}" if info.dpop_jkt else "no"),
        ("kept in", broker.store.location),
    ]
    if info.offline:
        rows.append(("offline", "signed in at the kiosk while the token service was unreachable"))
    from tokenstile.broker.store import running_demo

    demo = running_demo()
    if demo is not None:
        rows.append(("demo", f"the kiosk demo's session (process {demo.pid}, {demo.server})"))
    rows.extend(("parked", f"{p['name']} (until {p['until']})") for p in parked)
    for name, value in rows:
        print(f"{name + ':':<14}{value}")
    return 0


def _when(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _logout(broker: Broker) -> int:
    if broker.session() is None:
        print("Not signed in.")
        return 0
    if broker.logout():
        print("Signed out: the session is revoked and forgotten here.")
    else:
        print(
            "Signed out here; the token service could not be told, so the session stays "
            "valid there until it expires."
        )
    return 0


# -- login ---------------------------------------------------------------------------


def _ask_secret(prompt: str) -> str | None:
    """Without echo on a terminal; else one line of standard input (None at its end)."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt) or None
    line = sys.stdin.readline()
    return line.rstrip("\r\n") or None if line else None


def _ask_line(prompt: str) -> str | None:
    if sys.stdin.isatty():
        return input(prompt).strip() or None
    line = sys.stdin.readline()
    return line.strip() or None if line else None


def _login(args: argparse.Namespace, broker: Broker) -> int:
    from tokenstile.broker.store import running_demo

    demo = running_demo()
    if demo is not None:
        # Its session is the one every app sees until it ends: a login now would land in
        # the demo's item and vanish with it.
        raise TokenstileError(
            f"A kiosk demo is running (process {demo.pid}): end it before signing in here."
        )
    with broker.login_client(args.server, client_id=args.client_id) as client:
        if args.factor == "totp":
            grant = _login_totp(args, client)
        elif args.factor == "fido2":
            grant = _login_fido2(args, client)
        else:
            grant = _login_piv(args, client)
        info = broker.save_login(grant, server=client.server, client_id=client.client_id)
    bound = ", bound to a DPoP key" if info.dpop_jkt else ""
    print(
        f"Signed in as {info.username} at {info.server} ({info.factor}, acr {info.acr}{bound}); "
        f"the session is kept in {broker.store.location}."
    )
    return 0


def _login_totp(args: argparse.Namespace, client: TokenServiceClient) -> TokenGrant:
    username = args.username or _ask_line("Username: ")
    if not username:
        raise TokenstileError("Give the username with --username.")
    code = _ask_secret("One-time code: ")
    if not code:
        raise TokenstileError("No one-time code was given.")
    return client.login_totp(username, code.replace(" ", "").replace("-", ""))


def _login_fido2(args: argparse.Namespace, client: TokenServiceClient) -> TokenGrant:
    from tokenstile.devices.fido2_client import SecurityKeyClient
    from tokenstile.devices.fido2_errors import KeyPinRequired
    from tokenstile.devices.key_ceremonies import login_with_key

    def on_pin(prompt: KeyPinPrompt) -> str | None:
        tries = f" ({prompt.retries_left} tries left)" if prompt.retries_left is not None else ""
        pin = _ask_secret(f"PIN of the security key{tries}: ")
        if pin is None:
            raise KeyPinRequired()
        return pin

    def on_touch() -> None:
        print("Touch your key.", file=sys.stderr, flush=True)

    from tokenstile.cli.fido2 import open_security_key

    # The origin comes from --server (and --rp-id), never from the server's word: what
    # it announces is only checked, and a mismatch stops here, before any key is opened.
    _rp_id, origin = client.webauthn_origin(args.rp_id)
    key = open_security_key(args.device or "usb")
    try:
        security_key = SecurityKeyClient(key, origin=origin, on_touch=on_touch, on_pin=on_pin)
        return login_with_key(security_key, client.webauthn_login_steps(), cancel=threading.Event())
    finally:
        key.close()


def _login_piv(args: argparse.Namespace, client: TokenServiceClient) -> TokenGrant:
    from tokenstile.devices.piv_login import login_with_card

    def ask_pin(request: PinRequest) -> str | None:
        if request.wrong_pin:
            print("Wrong PIN.", file=sys.stderr)
        tries = f" ({request.retries_left} tries left)" if request.retries_left is not None else ""
        return _ask_secret(f"PIN of the card{tries}: ")

    card = _open_card(args)
    try:
        return login_with_card(card, client.piv_login_steps(), ask_pin)
    finally:
        card.close()


def _open_card(args: argparse.Namespace) -> PivCard:
    from tokenstile.devices.piv import PivCard

    device: str | None = args.device
    if device is not None and device.startswith("virtual:"):
        from tokenstile.devices.connection import DirectConnection
        from tokenstile.virtual.piv_card import PivCardApplet

        path = Path(device.removeprefix("virtual:"))
        if not path.is_file():
            raise TokenstileError(
                f"No virtual card at {path}: create one with `tokenstile virtual-card create`."
            )
        return PivCard(DirectConnection(PivCardApplet.from_file(path)))
    if device is not None:
        raise TokenstileError(f"--device for a card must be virtual:PATH, not {device!r}.")
    from tokenstile.devices.pcsc import open_piv_card

    return open_piv_card(args.reader)
