"""The FIDO2 commands: security keys under ``tokenstile manage``, and the software key.

::

    tokenstile virtual-key create PATH [--pin PIN]
    tokenstile virtual-key serve-nfc PATH [--reader 0|1]
    tokenstile manage --db URL fido2 enroll USERNAME --device virtual:PATH|usb|nfc
                                    [--pin PIN] [--label TEXT] [--vouch]
    tokenstile manage --db URL fido2 metadata load FILE|URL
    tokenstile manage --db URL fido2 list [USERNAME]
    tokenstile manage --db URL fido2 revoke CREDENTIAL_ID
    tokenstile manage --db URL fido2 unsuspend CREDENTIAL_ID

``fido2 enroll`` is the offline admin's ceremony: the database directly (no HTTP), the
key on this machine. It asks for the key's PIN without echo when ``--pin`` is not given
and standard input is a terminal, sets a first PIN on a key that has none (``--pin``, or
typed twice), and says when to touch the key. ``--vouch`` is the admin's word that the
key is hardware although its attestation was not verified to a configured root (it is
recorded in the audit row; a key that says it is software stays software). Credential
IDs are base64url, as
``fido2 list`` prints them (with each key's model from the loaded FIDO metadata, or its
AAGUID). ``metadata load`` takes a file or an https:// URL (http:// on loopback only),
fetched within ``webauthn_mds_timeout`` and ``webauthn_mds_max_bytes``; it says how many
enrolled credentials the new BLOB's statuses suspended. Errors are one sentence and change
nothing.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenstile.cli.arguments import action_group
from tokenstile.cli.formatting import print_table, when
from tokenstile.errors import TokenstileError

if TYPE_CHECKING:
    from tokenstile.composition import Services
    from tokenstile.deployment import Deployment
    from tokenstile.devices.fido2_client import PinPrompt
    from tokenstile.devices.security_keys import SecurityKey
    from tokenstile.factors.webauthn_service import WebAuthnCredentialInfo, WebAuthnService

FIDO2_ACTIONS = ("fido2",)
ACTOR = "tokenstile manage"
KEY_WAIT = 30.0  # seconds to wait for a USB key to be inserted or an NFC key tapped


def add_fido2_commands(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``fido2`` under ``tokenstile manage``."""
    fido2 = action_group(actions, "fido2", help="FIDO2 security keys")
    enroll = fido2.add_parser("enroll", help="enroll a security key for a person, here")
    enroll.add_argument("username")
    enroll.add_argument(
        "--device",
        required=True,
        metavar="virtual:PATH|usb|nfc",
        help="the software key kept in PATH, a USB key, or a key on the NFC reader",
    )
    enroll.add_argument("--pin", help="the key's PIN (or its first PIN, for a key without one)")
    enroll.add_argument("--label", default=None, help="what the person calls the key")
    enroll.add_argument(
        "--vouch",
        action="store_true",
        help="vouch that the key is hardware although no configured attestation root "
        "verified it (audited): its logins then get amr hwk and acr phrh",
    )
    metadata = fido2.add_parser("metadata", help="FIDO Metadata Service (MDS3) BLOBs")
    metadata.add_subparsers(dest="metadata_action", required=True, metavar="ACTION").add_parser(
        "load",
        help="verify a metadata BLOB (a file, or an https:// URL) to webauthn_mds_root, use "
        "it at enrollment, and suspend the enrolled keys of the models it refuses",
    ).add_argument("source", metavar="FILE|URL")
    listing = fido2.add_parser("list", help="list credentials (all, or one person's)")
    listing.add_argument("username", nargs="?")
    fido2.add_parser("revoke", help="revoke a credential for good").add_argument(
        "credential_id", metavar="CREDENTIAL_ID"
    )
    fido2.add_parser(
        "unsuspend",
        help="make a suspended credential usable again (refused while the loaded FIDO "
        "metadata refuses its model)",
    ).add_argument("credential_id", metavar="CREDENTIAL_ID")


def dashed_credential_ids(arguments: list[str]) -> list[str]:
    """``fido2 revoke|unsuspend ID`` where the base64url ID starts with ``-`` (one ID in 64):
    argparse would take it for an option and say the ID is missing, so mark the end of options
    before it."""
    for at in range(len(arguments) - 2):
        if arguments[at] == "fido2" and arguments[at + 1] in ("revoke", "unsuspend"):
            value = arguments[at + 2]
            if value.startswith("-") and value not in ("-h", "--help", "--"):
                return [*arguments[: at + 2], "--", *arguments[at + 2 :]]
    return arguments


def add_virtual_key_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the top-level ``virtual-key`` group."""
    group = action_group(
        commands,
        "virtual-key",
        help="the software FIDO2 key (demo and tests)",
        dest="virtual_key_action",
    )
    create = group.add_parser("create", help="create a software key kept in PATH")
    create.add_argument("path", type=Path, metavar="PATH")
    create.add_argument("--pin", help="give the key a PIN (4 to 63 characters)")
    serve = group.add_parser(
        "serve-nfc", help="put the key on a vpcd reader of pcscd, as if tapped on NFC"
    )
    serve.add_argument("path", type=Path, metavar="PATH")
    serve.add_argument("--reader", type=int, choices=(0, 1), default=0)


# -- the software key ------------------------------------------------------------------------


def run_virtual_key_command(args: argparse.Namespace) -> int:
    if args.virtual_key_action == "create":
        return _create_virtual_key(args.path, args.pin)
    from tokenstile.virtual.vpcd import serve_virtual_key_nfc

    print(
        f"The key {args.path} is on vpcd reader {args.reader}; Ctrl-C takes it off.",
        file=sys.stderr,
        flush=True,
    )
    serve_virtual_key_nfc(args.path, reader=args.reader)
    return 0


def _create_virtual_key(path: Path, pin: str | None) -> int:
    from tokenstile.virtual import Ctap2Authenticator, KeyFile

    key_file = KeyFile(path)
    if key_file.exists():
        raise TokenstileError(f"{path} already exists: a key file is never overwritten.")
    if pin is not None and not (len(pin) >= 4 and len(pin.encode()) <= 63):
        raise TokenstileError("A PIN has 4 to 63 characters.")
    try:
        authenticator = Ctap2Authenticator(key_file)
        if pin is not None:
            authenticator.provision_pin(pin)
    except OSError as exc:
        raise TokenstileError(f"Cannot create {path}: {exc.strerror}.") from exc
    except ValueError as exc:  # the PIN policy
        path.unlink(missing_ok=True)
        raise TokenstileError(f"Cannot set that PIN: {exc}.") from exc
    aaguid = authenticator.aaguid.hex()
    uuid = f"{aaguid[:8]}-{aaguid[8:12]}-{aaguid[12:16]}-{aaguid[16:20]}-{aaguid[20:]}"
    state = "with a PIN" if pin is not None else "without a PIN (enrollment sets one)"
    print(f"Created the software security key {path} (AAGUID {uuid}), {state}.")
    return 0


# -- manage fido2 ------------------------------------------------------------------------------


def run_fido2_command(args: argparse.Namespace, deployment: Deployment) -> int:
    """Run one ``fido2`` command on a ready deployment; the exit status."""
    from tokenstile.composition import Services
    from tokenstile.factors.webauthn_service import parse_credential_id

    services = Services(deployment)
    repository = services.webauthn_service()
    action = args.fido2_action
    if action == "enroll":
        return _enroll(args, repository)
    if action == "metadata":
        _load_metadata(args.source, repository, services)
    elif action == "list":
        _print_credentials(repository.credentials(args.username))
    elif action == "revoke":
        done = repository.revoke(parse_credential_id(args.credential_id), by=ACTOR, origin=ACTOR)
        info = done.info
        print(f"Revoked {info.credential_id} of {info.username}; {done.sessions_text}.")
    else:
        info = repository.unsuspend(parse_credential_id(args.credential_id), by=ACTOR, origin=ACTOR)
        print(f"{info.credential_id} of {info.username} is active again.")
    return 0


def _load_metadata(source: str, repository: WebAuthnService, services: Services) -> None:
    from tokenstile.fetch.mds import fetch_blob, is_url

    if is_url(source):
        fetcher = services.metadata_fetcher()
        try:
            blob = fetch_blob(source, fetcher)
        finally:
            fetcher.close()
    else:
        try:
            blob = Path(source).read_bytes()
        except OSError as exc:
            raise TokenstileError(f"Cannot read {source}: {exc.strerror}.") from exc
    loaded = repository.load_metadata(blob, by=ACTOR, origin=ACTOR)
    print(
        f"Loaded FIDO metadata BLOB number {loaded.no} ({loaded.entries} entries, "
        f"next update {loaded.next_update}); {len(loaded.suspended)} enrolled credentials "
        "suspended by its statuses."
    )
    for info in loaded.suspended:
        print(
            f"Suspended {info.credential_id} of {info.username}: the metadata reports "
            f"{info.metadata_status} for its model ({info.model or info.aaguid})."
        )


def open_security_key(device: str) -> SecurityKey:
    """The key ``--device`` names (``virtual:PATH``, ``usb`` or ``nfc``), waiting up to
    ``KEY_WAIT`` for a real one; the caller closes it. Used by ``login`` too."""
    from tokenstile.devices.security_keys import (
        FixedKeys,
        KeyFinder,
        KeySource,
        KeyTransport,
        NfcKeys,
        UsbKeys,
    )

    if device.startswith("virtual:"):
        from tokenstile.virtual import KeyFile, VirtualAuthenticator

        path = Path(device.removeprefix("virtual:"))
        if not str(path) or not KeyFile(path).exists():
            raise TokenstileError(
                f"No software key at {path}: create one with `tokenstile virtual-key create`."
            )
        return FixedKeys([VirtualAuthenticator.from_file(path)], KeyTransport.VIRTUAL).find()[0]
    sources: dict[str, KeySource] = {"usb": UsbKeys(), "nfc": NfcKeys()}
    if device not in sources:
        raise TokenstileError(f"--device must be virtual:PATH, usb or nfc, not {device!r}.")
    where = "Insert the key" if device == "usb" else "Put the key on the NFC reader"
    print(f"{where}...", file=sys.stderr, flush=True)
    return KeyFinder([sources[device]]).wait_for_key(timeout=KEY_WAIT)


def _ask_pin(prompt: PinPrompt) -> str | None:
    tries = f" ({prompt.retries_left} tries left)" if prompt.retries_left is not None else ""
    return getpass.getpass(f"PIN of the security key{tries}: ") or None


def _new_pin() -> str:
    first = getpass.getpass("The key has no PIN. New PIN (4 to 63 characters): ")
    if getpass.getpass("The same PIN again: ") != first:
        raise TokenstileError("The two PINs differ: nothing was changed.")
    return first


def _touch() -> None:
    print("Touch your key.", file=sys.stderr, flush=True)


def _enroll(args: argparse.Namespace, repository: WebAuthnService) -> int:
    from tokenstile.devices.fido2_errors import KeyPinNotSet, KeyPinRequired
    from tokenstile.devices.key_ceremonies import enroll_security_key
    from tokenstile.factors.webauthn_registration import parse_registration

    interactive = sys.stdin.isatty()
    pin: str | None = args.pin

    def on_pin(prompt: PinPrompt) -> str | None:
        if pin is not None:
            return pin
        if interactive:
            return _ask_pin(prompt)
        raise KeyPinRequired()

    def new_pin() -> str:
        nonlocal pin
        if pin is None and not interactive:
            raise KeyPinNotSet()
        pin = pin if pin is not None else _new_pin()
        return pin

    rp = repository.rp
    origin = f"https://{rp.id}" if f"https://{rp.id}" in rp.origins else sorted(rp.origins)[0]
    repository.credentials(args.username)  # an unknown person fails before the key is asked
    key = open_security_key(args.device)
    kind = "Software" if key.transport.value == "virtual" else key.transport.value.upper()
    label = args.label or f"{kind} security key"

    def begin() -> dict[str, Any]:
        options = repository.begin_registration(args.username, label=label, by=ACTOR, origin=ACTOR)
        return {"handle": options.handle, "publicKey": options.public_key}

    def complete(handle: str, response: dict[str, Any], uv_method: str) -> WebAuthnCredentialInfo:
        return repository.complete_registration(
            handle,
            parse_registration(response),
            by=ACTOR,
            origin=ACTOR,
            uv_method=uv_method,
            vouched=args.vouch,
        )

    try:
        stored = enroll_security_key(
            key,
            begin,
            complete,
            origin=origin,
            new_pin=new_pin,
            on_pin=on_pin,
            on_touch=_touch,
            on_pin_set=lambda: print("Set the key's PIN.", file=sys.stderr),
        )
    finally:
        key.close()
    print(
        f"Enrolled {stored.credential_id} for {stored.username} ({stored.algorithm}, "
        f"AAGUID {stored.aaguid}, verification: {stored.uv_method})."
    )
    return 0


def _print_credentials(infos: list[WebAuthnCredentialInfo]) -> None:
    if not infos:
        print("No security keys.")
        return
    rows = [("CREDENTIAL ID", "USER", "STATE", "ALG", "COUNT", "MODEL", "LAST USED", "LABEL")]
    for info in infos:
        state = info.state if info.state_reason is None else f"{info.state}:{info.state_reason}"
        if info.state_reason == "metadata_status" and info.metadata_status:
            state += f"({info.metadata_status})"
        rows.append(
            (
                info.credential_id,
                info.username,
                state,
                info.algorithm,
                str(info.sign_count),
                info.model or info.aaguid,
                when(info.last_used_at),
                info.label,
            )
        )
    print_table(rows)
