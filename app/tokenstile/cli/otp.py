"""The OTP commands of ``tokenstile manage``.

::

    tokenstile manage --db URL totp add USERNAME [--secret BASE32] [--algorithm SHA1|SHA256|SHA512]
                                   [--digits 6|8] [--period 30|60] [--qr FILE.png]
                                   [--label TEXT] [--serial SERIAL]
    tokenstile manage --db URL hotp add USERNAME --secret BASE32 [--counter N] [--digits 6|8]
                                   [--algorithm ...] [--label TEXT] [--serial SERIAL]
    tokenstile manage --db URL otp import FILE.pskc [--psk HEX] [--assign MAP.csv]
    tokenstile manage --db URL otp list [USERNAME]
    tokenstile manage --db URL otp revoke SERIAL
    tokenstile manage --db URL otp unlock USERNAME
    tokenstile manage --db URL otp resync SERIAL CODE1 CODE2
    tokenstile manage --db URL otp confirm SERIAL CODE
    tokenstile manage --db URL otp assign SERIAL USERNAME

``totp add`` prints the ``otpauth://`` URI and the QR code for a terminal (and writes
it as a PNG with ``--qr``): active at once when the admin supplies ``--secret``,
pending until ``otp confirm`` otherwise. Errors are one sentence and change nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from tokenstile.cli.arguments import Subcommands, action_group, read_bounded
from tokenstile.cli.formatting import print_table, when
from tokenstile.errors import TokenstileError
from tokenstile.factors.otp import HASH_NAMES, HashName, OtpParameters

if TYPE_CHECKING:
    from tokenstile.deployment import Deployment
    from tokenstile.factors.otp_service import OtpService
    from tokenstile.factors.otp_tx import OtpCredentialInfo

OTP_ACTIONS = ("totp", "hotp", "otp")
ACTOR = "tokenstile manage"
EXIT_ERROR = 1


def _counter(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if not 0 <= value < 2**63 - 1:
        raise argparse.ArgumentTypeError("the counter must be between 0 and 2**63 - 2")
    return value


def add_otp_commands(actions: Subcommands) -> None:
    """Register ``totp``, ``hotp`` and ``otp`` under ``tokenstile manage``."""
    totp = action_group(actions, "totp", help="TOTP authenticator apps and fobs")
    totp_add = totp.add_parser(
        "add", help="enroll TOTP for a person; prints the otpauth URI and a QR code"
    )
    totp_add.add_argument("username")
    totp_add.add_argument(
        "--secret", help="base32 seed of a fob (active at once); default: a new 160-bit seed"
    )
    totp_add.add_argument("--algorithm", choices=HASH_NAMES, default="SHA1")
    totp_add.add_argument("--digits", type=int, choices=(6, 8), default=6)
    totp_add.add_argument("--period", type=int, choices=(30, 60), default=30)
    totp_add.add_argument("--qr", type=Path, metavar="FILE.png", help="also write the QR as PNG")
    totp_add.add_argument("--label", default=None, help="what the person calls it")
    totp_add.add_argument("--serial", help="the serial printed on a fob (default: generated)")

    hotp = action_group(actions, "hotp", help="HOTP (event counter) fobs")
    hotp_add = hotp.add_parser("add", help="enroll an HOTP fob for a person (active at once)")
    hotp_add.add_argument("username")
    hotp_add.add_argument("--secret", required=True, help="base32 seed of the fob")
    hotp_add.add_argument(
        "--counter", type=_counter, default=0, help="the next counter the fob shows (default 0)"
    )
    hotp_add.add_argument("--digits", type=int, choices=(6, 8), default=6)
    hotp_add.add_argument("--algorithm", choices=HASH_NAMES, default="SHA1")
    hotp_add.add_argument("--label", default="HOTP fob")
    hotp_add.add_argument("--serial", help="the serial printed on the fob (default: generated)")

    otp = action_group(actions, "otp", help="OTP credentials of every kind")
    imp = otp.add_parser("import", help="import fob seeds from a PSKC file (all or nothing)")
    imp.add_argument("file", type=Path, metavar="FILE.pskc")
    imp.add_argument("--psk", metavar="HEX", help="pre-shared AES key of an encrypted file")
    imp.add_argument("--assign", type=Path, metavar="MAP.csv", help="'serial,username' lines")
    listing = otp.add_parser("list", help="list credentials (all, or one person's)")
    listing.add_argument("username", nargs="?")
    otp.add_parser("revoke", help="revoke a credential for good").add_argument("serial")
    otp.add_parser(
        "unlock", help="clear a person's failures, unlock their credentials"
    ).add_argument("username")
    resync = otp.add_parser("resync", help="resynchronise from two consecutive codes")
    resync.add_argument("serial")
    resync.add_argument("code1")
    resync.add_argument("code2")
    confirm = otp.add_parser("confirm", help="activate a pending app with its first code")
    confirm.add_argument("serial")
    confirm.add_argument("code")
    assign = otp.add_parser("assign", help="hand a fob to a person")
    assign.add_argument("serial")
    assign.add_argument("username")


def run_otp_command(args: argparse.Namespace, deployment: Deployment) -> int:
    """Run one OTP command on a ready deployment; the exit status."""
    from tokenstile.composition import Services

    repository = Services(deployment).otp_service()
    if args.action == "totp":
        return _totp_add(args, repository)
    if args.action == "hotp":
        return _hotp_add(args, repository)
    action = args.otp_action
    if action == "import":
        return _import(args, repository)
    if action == "list":
        _print_credentials(repository.credentials(args.username))
    elif action == "revoke":
        done = repository.revoke(args.serial, by=ACTOR, origin=ACTOR)
        owner = f" of {done.info.username}" if done.info.username else ""
        print(f"Revoked {done.info.serial}{owner}; {done.sessions_text}.")
    elif action == "unlock":
        serials = repository.unlock(args.username, by=ACTOR, origin=ACTOR)
        unlocked = f" and unlocked {', '.join(serials)}" if serials else ""
        print(f"Cleared the OTP failures of {args.username}{unlocked}.")
    elif action == "resync":
        found = repository.resync(args.serial, args.code1, args.code2, by=ACTOR, origin=ACTOR)
        info = repository.credential(args.serial)
        unit = "step(s)" if info.kind == "totp" else "counter(s)"
        drift = f"; its clock is {found.drift} {unit} off" if info.kind == "totp" else ""
        print(f"Resynchronised {args.serial}{drift}.")
    elif action == "confirm":
        info = repository.confirm(args.serial, args.code, by=ACTOR, origin=ACTOR)
        print(f"{info.serial} is active.")
    else:  # assign
        info = repository.assign(args.serial, args.username, by=ACTOR, origin=ACTOR)
        print(f"{info.serial} now belongs to {info.username}.")
    return 0


def _totp_add(args: argparse.Namespace, repository: OtpService) -> int:
    from tokenstile.factors.otp_enrollment import parse_base32_secret

    seed = parse_base32_secret(args.secret) if args.secret is not None else None
    algorithm: HashName = args.algorithm
    params = OtpParameters.totp(algorithm=algorithm, digits=args.digits, period=args.period)
    label = args.label or ("TOTP fob" if seed is not None else "Authenticator app")
    enrollment = repository.prepare_app(
        args.username, params=params, seed=seed, label=label, serial=args.serial
    )
    # The PNG holds the seed: written to a private temporary file first, put in place
    # only once the credential is stored, removed if anything fails.
    staged = _stage_png(args.qr, enrollment.qr_png()) if args.qr is not None else None
    try:
        info = repository.store_enrollment(
            args.username, enrollment, active=seed is not None, by=ACTOR, origin=ACTOR
        )
        if staged is not None:
            try:
                os.replace(staged, args.qr)
            except OSError as exc:
                # A rename next to a file just written: only a race gets here. The
                # credential must not outlive a QR code nobody received.
                repository.revoke(enrollment.serial, by=ACTOR, origin=ACTOR)
                raise TokenstileError(f"Cannot write {args.qr}: {exc.strerror}.") from exc
            staged = None
    finally:
        if staged is not None:
            with contextlib.suppress(OSError):
                staged.unlink()
    state = (
        "active"
        if info.state == "active"
        else f"pending until its first code: tokenstile manage otp confirm {info.serial} CODE"
    )
    print(f"Enrolled TOTP {info.serial} for {info.username} ({state}).")
    print(enrollment.uri)
    print(enrollment.qr_text(), end="")
    if args.qr is not None:
        print(f"Wrote the QR code to {args.qr} (mode 0600: it holds the secret).")
    return 0


def _stage_png(target: Path, png: bytes) -> Path:
    directory = target.parent if str(target.parent) else Path()
    try:
        fd, name = tempfile.mkstemp(prefix=".tokenstile-qr-", suffix=".png", dir=directory)
    except OSError as exc:
        raise TokenstileError(f"Cannot write {target}: {exc.strerror}.") from exc
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp files are mode 0600
            out.write(png)
    except OSError as exc:
        Path(name).unlink(missing_ok=True)
        raise TokenstileError(f"Cannot write {target}: {exc.strerror}.") from exc
    return Path(name)


def _hotp_add(args: argparse.Namespace, repository: OtpService) -> int:
    from tokenstile.factors.otp_enrollment import parse_base32_secret

    algorithm: HashName = args.algorithm
    info = repository.enroll_hotp(
        args.username,
        parse_base32_secret(args.secret),
        by=ACTOR,
        origin=ACTOR,
        counter=args.counter,
        params=OtpParameters.hotp(algorithm=algorithm, digits=args.digits),
        label=args.label,
        serial=args.serial,
    )
    print(f"Enrolled HOTP {info.serial} for {info.username} (active, next counter {args.counter}).")
    return 0


def _read_file(path: Path, limit: int, what: str) -> bytes:
    return read_bounded(path, limit, what, size=f"{limit // 2**20} MiB")


def _import(args: argparse.Namespace, repository: OtpService) -> int:
    from tokenstile.factors.pskc_import import MAX_CSV_BYTES, MAX_PSKC_BYTES, parse_psk_hex

    data = _read_file(args.file, MAX_PSKC_BYTES, "PSKC file")
    psk = parse_psk_hex(args.psk) if args.psk is not None else None
    csv_text = None
    if args.assign is not None:
        raw = _read_file(args.assign, MAX_CSV_BYTES, "CSV mapping")
        try:
            csv_text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TokenstileError(f"The CSV mapping {args.assign} is not UTF-8 text.") from exc
    result = repository.import_pskc(data, by=ACTOR, origin=ACTOR, psk=psk, assignments_csv=csv_text)
    if not result.ok:
        print(result.describe(), file=sys.stderr)
        return EXIT_ERROR
    print(result.describe())
    return 0


def _print_credentials(infos: list[OtpCredentialInfo]) -> None:
    if not infos:
        print("No OTP credentials.")
        return
    rows = [("SERIAL", "USER", "KIND", "PARAMETERS", "STATE", "LAST USED", "LABEL")]
    for info in infos:
        params = f"{info.algorithm} {info.digits} digits"
        if info.period:
            params += f" {info.period} s"
        state = info.state
        if info.failures and state == "active":
            state += f" ({info.failures} failures)"
        rows.append(
            (
                info.serial,
                info.username or "-",
                info.kind.upper(),
                params,
                state,
                when(info.last_used_at),
                info.label,
            )
        )
    print_table(rows)
