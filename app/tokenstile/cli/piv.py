"""The PIV commands: ``tokenstile manage piv|ca|trust ...`` and ``tokenstile virtual-card``.

::

    tokenstile virtual-card create PATH [--pin PIN] [--puk PUK] [--algorithm ECCP256|RSA2048]
    tokenstile virtual-card serve PATH [--reader 0|1]
    tokenstile manage --db URL piv enroll USERNAME [--reader NAME] [--generate] [--pin PIN]
                                          [--new-pin PIN] [--new-puk PUK]
    tokenstile manage --db URL piv list [USERNAME]
    tokenstile manage --db URL piv revoke FINGERPRINT
    tokenstile manage --db URL ca show | ca import CERT.pem KEY.pem | trust add CA.pem
    tokenstile manage --db URL ca crl [--out FILE]

``ca crl`` writes the issuing CA's CRL (the certificates it issued whose cards are
revoked; what ``GET /pki/ca.crl`` serves): DER to ``FILE``, or PEM to standard output.

``piv enroll`` runs at an enrollment station with the card in a reader (PC/SC):

- without ``--generate`` it registers the certificate the card holds in slot 9A;
- with ``--generate`` it authenticates with the card's management key (the
  ``piv_management_key`` setting, default the well-known factory key), generates a new
  key in 9A (``piv_key_algorithm``, default ECC P-256), has the issuing CA certify it
  (the built-in CA is created on first use), writes the certificate to the card and
  enrolls it. A card that still takes the factory management key is set up on the way
  (:mod:`tokenstile.devices.piv_setup`: new PIN, PUK blocked or set, a random AES
  management key stored under the PIN), audited as ``piv_card_setup``; a card set up
  so gives its management key after the PIN.

Either way the card is asked to attest the slot's key (YubiKey's PIV ATTEST), and the
PIV service judges the answer as it judges the admin console's
(``PivService.judge_attestation``): the attestation must chain to a
``piv_attestation_roots`` certificate and name the slot's key. With
``piv_require_attestation`` a card that cannot prove its key was generated on the card
is refused before a certificate is issued (and before a factory card is set up); without
it a card that does not attest is enrolled and its audit row ``piv_attestation`` says
"not_attested".

With ``--pin`` the card proves it holds the key: the PIN is verified first (so a wrong
PIN changes nothing), and the card signs a fresh challenge that must verify with the
certificate's key; a card that cannot is not enrolled. Errors are one sentence.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tokenstile.cli.arguments import action_group, read_bounded
from tokenstile.cli.formatting import print_table, when
from tokenstile.errors import TokenstileError

if TYPE_CHECKING:
    import threading

    from cryptography import x509

    from tokenstile.deployment import Deployment
    from tokenstile.devices.piv import PivCard
    from tokenstile.devices.piv_setup import CardSetup
    from tokenstile.factors.piv_attestation import AttestationVerdict, PivPublicKey
    from tokenstile.factors.piv_port import CaCertificateInfo, PivCardInfo
    from tokenstile.factors.piv_service import PivService

logger = logging.getLogger(__name__)

PIV_ACTIONS = ("piv", "ca", "trust")
ACTOR = "tokenstile manage"
MAX_PEM_BYTES = 64 * 1024
# The management key of a factory-fresh card (and of the virtual card): SP 800-73-4
# leaves it to the issuer; every PIV middleware tries this one first.
DEFAULT_MANAGEMENT_KEY = "010203040506070801020304050607080102030405060708"


def add_piv_commands(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``piv``, ``ca`` and ``trust`` under ``tokenstile manage``."""
    piv = action_group(actions, "piv", help="PIV smart cards")
    enroll = piv.add_parser(
        "enroll", help="enroll the card in a reader for a person (its certificate, or a new key)"
    )
    enroll.add_argument("username")
    enroll.add_argument("--reader", help="reader name (or part of it); default: the first card")
    enroll.add_argument(
        "--generate",
        action="store_true",
        help="generate a new key in slot 9A and issue its certificate from the issuing CA",
    )
    enroll.add_argument("--pin", help="the card's PIN: the card proves it holds the key")
    enroll.add_argument(
        "--new-pin",
        help="with --generate on a factory card: its new PIN (asked for when the PIN is the "
        "factory one and this is not given)",
    )
    enroll.add_argument(
        "--new-puk", help="with --generate on a factory card and piv_puk_policy=set: its new PUK"
    )
    listing = piv.add_parser("list", help="list enrolled cards (all, or one person's)")
    listing.add_argument("username", nargs="?")
    piv.add_parser("revoke", help="revoke a card for good").add_argument(
        "fingerprint", help="SHA-256 fingerprint of its certificate (or its first digits)"
    )

    ca = action_group(actions, "ca", help="the issuing CA for card certificates")
    ca.add_parser("show", help="print the issuing CA (created on first use) and the anchors")
    imported = ca.add_parser("import", help="issue from an organisation's CA from now on")
    imported.add_argument("certificate", type=Path, metavar="CERT.pem")
    imported.add_argument("key", type=Path, metavar="KEY.pem")
    crl = ca.add_parser("crl", help="write the issuing CA's CRL (DER to --out, else PEM)")
    crl.add_argument("--out", type=Path, metavar="FILE", help="write DER to FILE")

    trust = action_group(
        actions, "trust", help="trust anchors for card certificates issued elsewhere"
    )
    trust.add_parser("add", help="trust the CA certificate(s) of a PEM file").add_argument(
        "file", type=Path, metavar="CA.pem"
    )


def add_virtual_card_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register ``tokenstile virtual-card create|serve``."""
    virtual = action_group(
        commands,
        "virtual-card",
        help="a software PIV card for the demo and tests",
        dest="card_action",
    )
    create = virtual.add_parser("create", help="create a virtual PIV card kept in a file")
    create.add_argument("path", type=Path, metavar="PATH")
    create.add_argument("--pin", default="123456", help="6 to 8 digits (default 123456)")
    create.add_argument("--puk", default="12345678", help="6 to 8 characters (default 12345678)")
    create.add_argument("--algorithm", choices=["ECCP256", "RSA2048"], default="ECCP256")
    serve = virtual.add_parser("serve", help="put the card into a vpcd reader of pcscd")
    serve.add_argument("path", type=Path, metavar="PATH")
    serve.add_argument("--reader", type=int, choices=[0, 1], default=0)


# -- tokenstile virtual-card ---------------------------------------------------------------------


def run_virtual_card_command(args: argparse.Namespace) -> int:
    if args.card_action == "create":
        return _create_virtual_card(args)
    import signal
    import threading

    from tokenstile.virtual.vpcd import serve_virtual_card

    # Ctrl+C and a service manager's SIGTERM both pull the card out cleanly. Set here
    # rather than left to Python: a shell starting this in the background without job
    # control ignores SIGINT, and Python then raises no KeyboardInterrupt for it.
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda _number, _frame: stop.set())
    print(
        f"Serving the virtual PIV card {args.path} in vpcd reader {args.reader} "
        f"(Virtual PCD 00 0{args.reader}); Ctrl+C pulls it out.",
        flush=True,
    )
    threading.Thread(target=_exit_if_stuck, args=(stop,), name="stop-watch", daemon=True).start()
    serve_virtual_card(args.path, reader=args.reader, stop=stop)
    return 0


STOP_GRACE_SECONDS = 5.0


def _exit_if_stuck(stop: threading.Event) -> None:
    """Once asked to stop, the process ends within ``STOP_GRACE_SECONDS`` even if the
    reader thread does not let go (seen once in a full test run, cause not found): the
    card leaves the reader with the process's connection either way."""
    import os
    import time

    stop.wait()
    time.sleep(STOP_GRACE_SECONDS)
    sys.stderr.write(
        f"The virtual card's reader did not stop within {STOP_GRACE_SECONDS:.0f} s; "
        "ending the process (the card is pulled out with its connection).\n"
    )
    sys.stderr.flush()
    os._exit(0)


def _create_virtual_card(args: argparse.Namespace) -> int:
    from tokenstile.devices.connection import DirectConnection
    from tokenstile.devices.piv import PivCard
    from tokenstile.factors.piv import fingerprint
    from tokenstile.virtual.piv_objects import Algorithm
    from tokenstile.virtual.piv_provision import create_piv_card

    try:
        applet = create_piv_card(
            args.path, pin=args.pin, puk=args.puk, algorithm=Algorithm[args.algorithm]
        )
    except ValueError as exc:
        raise TokenstileError(f"Cannot create the card: {exc}.") from exc
    except OSError as exc:
        raise TokenstileError(f"Cannot write {args.path}: {exc.strerror}.") from exc
    certificate = PivCard(DirectConnection(applet)).read_certificate()
    defaults = args.pin == "123456" and args.puk == "12345678"
    print(f"Created a virtual PIV card in {args.path}.")
    print(f"  slot 9A: {args.algorithm} key, self-signed certificate")
    print(f"  fingerprint: {fingerprint(certificate)}")
    print(f"  PIN and PUK: {'the defaults, 123456 and 12345678' if defaults else 'as given'}")
    print(f"Put it into a reader with: tokenstile virtual-card serve {args.path}")
    return 0


# -- tokenstile manage piv|ca|trust ---------------------------------------------------------------


def run_piv_command(args: argparse.Namespace, deployment: Deployment) -> int:
    """Run one PIV command on a ready deployment; the exit status."""
    from tokenstile.composition import Services

    # One PIV service per command: its checker cache lives as long as the command.
    piv = Services(deployment).piv_service()
    if args.action == "ca":
        if args.ca_action == "show":
            _show_ca(piv)
        elif args.ca_action == "crl":
            _write_crl(piv, args.out)
        else:
            ca = piv.import_ca(
                _read(args.certificate, "certificate file"),
                _read(args.key, "key file"),
                by=ACTOR,
                origin=ACTOR,
            )
            print(f"Imported the CA {ca.subject} ({ca.fingerprint}); it issues from now on.")
            print("Cards issued by an earlier CA keep working.")
        return 0
    if args.action == "trust":
        added, present = piv.add_trust_anchors(_read(args.file, "CA file"), by=ACTOR, origin=ACTOR)
        for anchor in added:
            print(f"Trusted {anchor.subject} ({anchor.fingerprint}).")
        for anchor in present:
            print(f"Already trusted: {anchor.subject} ({anchor.fingerprint}).")
        return 0
    action = args.piv_action
    if action == "enroll":
        return _enroll(args, deployment, piv)
    if action == "list":
        _print_cards(piv.cards(args.username))
    else:  # revoke
        done = piv.revoke(args.fingerprint, by=ACTOR, origin=ACTOR)
        info = done.info
        print(f"Revoked the card {info.fingerprint} of {info.username}; {done.sessions_text}.")
    return 0


def _write_crl(piv: PivService, out: Path | None) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    crl = piv.ca_crl()
    if out is None:
        sys.stdout.write(crl.public_bytes(Encoding.PEM).decode("ascii"))
        return
    try:
        out.write_bytes(crl.public_bytes(Encoding.DER))
    except OSError as exc:
        raise TokenstileError(f"Cannot write {out}: {exc.strerror}.") from exc
    count = len(list(crl))
    print(f"Wrote the CRL of {crl.issuer.rfc4514_string()} ({count} revoked) to {out}.")


def _read(path: Path, what: str) -> bytes:
    return read_bounded(
        path, MAX_PEM_BYTES, what, size=f"{MAX_PEM_BYTES // 1024} KiB", article="the "
    )


def _management_key(deployment: Deployment) -> tuple[bytes, str]:
    settings = deployment.settings
    secret = settings.piv_management_key
    text = secret.get_secret_value() if secret is not None else DEFAULT_MANAGEMENT_KEY
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise TokenstileError("The piv_management_key setting is not hex.") from exc
    return key, settings.piv_management_key_algorithm


@dataclass(frozen=True, kw_only=True)
class _Station:
    """One enrollment at the station: the card in the reader, for whom, with what."""

    card: PivCard
    args: argparse.Namespace
    deployment: Deployment
    piv: PivService
    guid: str | None


@dataclass(frozen=True, kw_only=True)
class _Enrolled:
    info: PivCardInfo
    how: str
    verdict: AttestationVerdict
    steps: list[str]


def _enroll(args: argparse.Namespace, deployment: Deployment, piv: PivService) -> int:
    from tokenstile.devices.pcsc import open_piv_card
    from tokenstile.devices.piv_login import card_guid
    from tokenstile.errors import NotFound

    if deployment.store.find_user(args.username) is None:
        raise NotFound(f"No user named {args.username!r}.")
    card = open_piv_card(args.reader, exclusive=True)
    try:
        guid = card_guid(card)
        if args.pin is not None:
            card.verify_pin(args.pin)  # before anything changes on the card
        station = _Station(card=card, args=args, deployment=deployment, piv=piv, guid=guid)
        done = _enroll_new_key(station) if args.generate else _enroll_certificate(station)
        card_auth = _enroll_card_auth(station, done.info.fingerprint)
    finally:
        card.close()
    info, verdict = done.info, done.verdict
    logger.info("PIV card of %s enrolled: %s (%s)", info.username, verdict.status, verdict.reason)
    proof = "it proved it holds the key" if args.pin is not None else "give --pin to test the key"
    print(f"Enrolled a card for {info.username}: {done.how}; {proof}.")
    print(f"  fingerprint: {info.fingerprint}")
    print(f"  serial {info.cert_serial}, {info.subject}, valid until {when(info.not_after)}")
    attested = "yes, by " + str(verdict.root) if verdict.attested else f"no ({verdict.reason})"
    print(f"  key generated on the card (attested): {attested}")
    if done.steps:
        print(f"  card set up: {', '.join(done.steps)}")
    print(f"  card authentication key (9E, card tap without PIN): {card_auth}")
    return 0


def _enroll_card_auth(station: _Station, fingerprint: str) -> str:
    """The card's 9E certificate enrolled with the card when it has one, its key proved
    (no PIN needed): that card may then tap in during a shift. What happened, for the
    station's output; a card without one is enrolled all the same (no card tap)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from tokenstile.devices.errors import NoCertificate
    from tokenstile.devices.piv import PivSlot
    from tokenstile.devices.piv_login import card_proves_card_auth_key
    from tokenstile.factors.piv import CertificateRefused
    from tokenstile.factors.piv_port import PivConflict

    card = station.card
    try:
        certificate = card.read_certificate(PivSlot.CARD_AUTHENTICATION)
    except NoCertificate:
        return "none on the card, so no card tap"
    if not card_proves_card_auth_key(card):
        return "its key does not match its certificate: not enrolled, no card tap"
    try:
        station.piv.card_taps().enroll(
            fingerprint, certificate.public_bytes(Encoding.DER), by=ACTOR, origin=ACTOR
        )
    except (CertificateRefused, PivConflict) as exc:
        return f"not enrolled ({exc.message}), no card tap"
    return "enrolled"


def _enroll_new_key(station: _Station) -> _Enrolled:
    """A new 9A key, attested, the card set up when it is a factory one, a certificate
    from the issuing CA written back; the card must sign with it (given the PIN)."""
    from tokenstile.devices.errors import CardSetupInterrupted
    from tokenstile.devices.piv import KeyAlgorithm, ManagementKeyAlgorithm, PivSlot
    from tokenstile.devices.piv_login import card_proves_key
    from tokenstile.devices.piv_setup import (
        FACTORY_MANAGEMENT_KEY,
        authenticate_with_protected_key,
        management_key_is_protected,
        set_up_card,
    )

    card, args, deployment, piv = station.card, station.args, station.deployment, station.piv
    setup = None
    if management_key_is_protected(card):  # set up before: its key is under the PIN
        if args.pin is None:
            raise TokenstileError("This card keeps its management key under its PIN: give --pin.")
        authenticate_with_protected_key(card)
    else:
        key, algorithm = _management_key(deployment)
        try:
            card.authenticate(key, ManagementKeyAlgorithm[algorithm])
        except ValueError as exc:
            raise TokenstileError(f"The piv_management_key setting: {exc}.") from exc
        # A factory card is set up; what that needs is checked before the card changes.
        if key == FACTORY_MANAGEMENT_KEY:
            setup = _setup_plan(args, deployment)
    public_key = card.generate_key(
        PivSlot.AUTHENTICATION, KeyAlgorithm[deployment.settings.piv_key_algorithm]
    )
    verdict = _attestation(station, public_key)
    steps: list[str] = []
    if setup is not None:
        try:
            steps = set_up_card(card, setup, pin=args.pin)
        except CardSetupInterrupted as exc:
            if exc.steps:  # what did change on the card is audited all the same
                piv.record_card_setup(
                    args.username, exc.steps, by=ACTOR, origin=ACTOR, card_guid=station.guid
                )
            raise
        logger.info("PIV card of %s set up: %s", args.username, ", ".join(steps))
        piv.record_card_setup(args.username, steps, by=ACTOR, origin=ACTOR, card_guid=station.guid)
    info, certificate = piv.issue(
        args.username,
        public_key,
        by=ACTOR,
        origin=ACTOR,
        card_guid=station.guid,
        attestation=verdict,
    )
    card.put_certificate(PivSlot.AUTHENTICATION, certificate)
    if args.pin is not None and not card_proves_key(card):
        piv.revoke(info.fingerprint, by=ACTOR, origin=ACTOR)
        raise TokenstileError(
            "The card did not sign with its new key; the certificate was revoked."
        )
    how = f"new {info.key_algorithm} key, certificate from the issuing CA"
    return _Enrolled(info=info, how=how, verdict=verdict, steps=steps)


def _enroll_certificate(station: _Station) -> _Enrolled:
    """The certificate the card holds in 9A, its key attested (by policy) and proved."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from tokenstile.devices.piv import PivSlot
    from tokenstile.devices.piv_login import card_proves_key

    card, args = station.card, station.args
    certificate = card.read_certificate(PivSlot.AUTHENTICATION)
    verdict = _attestation(station, _card_key(certificate))
    if args.pin is not None and not card_proves_key(card):
        raise TokenstileError(
            "The card's signature does not verify with its certificate: not enrolled."
        )
    info = station.piv.register(
        args.username,
        certificate.public_bytes(Encoding.DER),
        by=ACTOR,
        origin=ACTOR,
        card_guid=station.guid,
        attestation=verdict,
    )
    return _Enrolled(info=info, how="the certificate on the card", verdict=verdict, steps=[])


def _setup_plan(args: argparse.Namespace, deployment: Deployment) -> CardSetup:
    """What the set-up of a factory card will do; refused before the card changes when
    the PIN (and, by policy, the PUK) would stay the factory one."""
    from tokenstile.devices.piv import ManagementKeyAlgorithm
    from tokenstile.devices.piv_setup import (
        FACTORY_PIN,
        CardSetup,
        new_pin_refusal,
        new_puk_refusal,
    )

    settings = deployment.settings
    if args.pin is None:
        raise TokenstileError(
            "This card still has its factory management key: give --pin (and --new-pin) "
            "so that it is set up."
        )
    new_pin = args.new_pin
    if new_pin is None and args.pin == FACTORY_PIN:
        new_pin = _prompt_twice("New PIN for the card (6 to 8 digits): ")
    refusal = new_pin_refusal(new_pin) if new_pin is not None else None
    if refusal is not None:
        raise TokenstileError(refusal)
    new_puk = None
    if settings.piv_puk_policy == "set":
        new_puk = args.new_puk or _prompt_twice("New PUK for the card (6 to 8 characters): ")
        refusal = new_puk_refusal(new_puk)
        if refusal is not None:
            raise TokenstileError(refusal)
    return CardSetup(
        new_pin=new_pin,
        puk=settings.piv_puk_policy,
        new_puk=new_puk,
        management_key_algorithm=ManagementKeyAlgorithm[
            settings.piv_setup_management_key_algorithm
        ],
    )


def _prompt_twice(prompt: str) -> str:
    import getpass

    if not sys.stdin.isatty():
        raise TokenstileError(
            "The card still has its factory PIN or PUK: give --new-pin (and --new-puk with "
            "piv_puk_policy=set); the factory values are never left in place."
        )
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        raise TokenstileError("The two entries differ; nothing on the card changed.")
    return first


def _card_key(certificate: x509.Certificate) -> PivPublicKey:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    public_key = certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise TokenstileError("The card's certificate holds neither an EC nor an RSA key.")
    return public_key


def _attestation(station: _Station, public_key: PivPublicKey) -> AttestationVerdict:
    """Ask the card to attest its 9A key; the PIV service judges the answer by the
    deployment's policy, as it does for the admin console (a refusal is audited,
    ``piv_attestation`` failure, and raised)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from tokenstile.devices.errors import CardCommandError, InvalidCardData
    from tokenstile.devices.piv import PivSlot
    from tokenstile.factors.piv_attestation import AttestationEvidence

    try:
        evidence = AttestationEvidence(
            slot_certificate=station.card.attest(PivSlot.AUTHENTICATION).public_bytes(Encoding.DER),
            attestation_certificate=station.card.read_attestation_certificate().public_bytes(
                Encoding.DER
            ),
        )
    except CardCommandError as exc:
        evidence = AttestationEvidence(
            refusal=f"the card refused the attestation instruction ({exc.sw:04X})"
        )
    except InvalidCardData as exc:
        evidence = AttestationEvidence(refusal=f"the card's attestation is unreadable ({exc})")
    return station.piv.judge_attestation(
        public_key,
        evidence,
        username=station.args.username,
        by=ACTOR,
        origin=ACTOR,
        card_guid=station.guid,
    )


def _show_ca(piv: PivService) -> None:
    had = piv.issuing_cas()
    ca = piv.issuing_ca(by=ACTOR, origin=ACTOR)
    if not had:
        print("Created the built-in issuing CA.", file=sys.stderr)
    cas = piv.issuing_cas()
    active = cas[0]
    print(f"Issuing CA: {active.subject} ({active.source})")
    print(f"  fingerprint: {ca.fingerprint}")
    print(f"  valid {when(active.not_before)} to {when(active.not_after)}")
    print(active.certificate_pem, end="")
    for retired in cas[1:]:
        print(f"Retired CA (its cards still work): {retired.subject} ({retired.fingerprint})")
    anchors = piv.trust_anchors()
    if not anchors:
        print("Trust anchors: none (card certificates are trusted because they are enrolled).")
    for anchor in anchors:
        _print_anchor(anchor)


def _print_anchor(anchor: CaCertificateInfo) -> None:
    print(
        f"Trust anchor ({anchor.source}): {anchor.subject} ({anchor.fingerprint}), "
        f"valid until {when(anchor.not_after)}"
    )


def _print_cards(infos: list[PivCardInfo]) -> None:
    if not infos:
        print("No PIV cards.")
        return
    rows = [
        ("FINGERPRINT", "USER", "STATE", "KEY", "SOURCE", "VALID UNTIL", "LAST USED", "SUBJECT")
    ]
    rows.extend(
        (
            info.fingerprint,
            info.username,
            info.state,
            info.key_algorithm,
            info.source,
            when(info.not_after),
            when(info.last_used_at),
            info.subject,
        )
        for info in infos
    )
    print_table(rows)
