"""The demo people, and their enrollment on the demo's token service.

- ``alex``: the software security key (PIN :data:`KEY_PIN`);
- ``casey``: a virtual PIV card (PIN :data:`CARD_PIN`) certified by the service's CA;
- ``taylor``: an authenticator app (TOTP);
- ``admin``: the demo admin, with an authenticator app too.

They are enrolled the way the admin tools enroll them, with the origin :data:`ORIGIN` in
the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenstile.composition import Services
from tokenstile.virtual.ctap_device import VirtualAuthenticator

if TYPE_CHECKING:
    from tokenstile.demo.devices import PluggableKey
    from tokenstile.virtual.piv_card import PivCardApplet

ORIGIN = "tokenstile kiosk --demo"
KEY_PIN = "1234"
CARD_PIN = "123456"
CARD_PUK = "12345678"


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoPerson:
    """Who to sign in as, and with what: shown in the terminal and in the panel."""

    username: str
    display_name: str
    factor: str
    how: str
    is_admin: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OtpSecret:
    username: str
    seed: bytes = field(repr=False)
    uri: str = field(repr=False)
    qr_png: bytes = field(repr=False)


@dataclass
class EnrolledPeople:
    """What enrollment made: the people, the virtual card's applet, the OTP seeds."""

    people: list[DemoPerson]
    applet: PivCardApplet
    otp: list[OtpSecret]


def enroll_people(services: Services, key: PluggableKey, folder: Path) -> EnrolledPeople:
    """The demo people, enrolled the way the admin tools enroll them."""
    from tokenstile.tokens.model import AuditEvent

    deployment = services.deployment

    people = [
        DemoPerson(
            username="alex",
            display_name="Alex Keyholder",
            factor="security key",
            how=f"plug in the demo key, tap it, PIN {KEY_PIN}",
        ),
        DemoPerson(
            username="casey",
            display_name="Casey Cardholder",
            factor="smart card",
            how=f"insert the virtual card, PIN {CARD_PIN}",
        ),
        DemoPerson(
            username="taylor",
            display_name="Taylor Fobholder",
            factor="one-time code",
            how="the code shown in the demo panel (or scan its QR)",
        ),
        DemoPerson(
            username="admin",
            display_name="Demo Admin",
            factor="one-time code",
            how="the admin's code in the demo panel (tokenstile admin)",
            is_admin=True,
        ),
    ]
    for person in people:
        deployment.store.add_user(
            person.username,
            display_name=person.display_name,
            is_admin=person.is_admin,
            at=deployment.clock.now(),
            audit=AuditEvent("user_added", "info", username=person.username, origin=ORIGIN),
        )
    key.plug(True)  # the demo key is enrolled through its plug, as a USB key would be
    try:
        _enroll_key(services, key, "alex")
    finally:
        key.plug(False)
    applet = _enroll_card(services, folder / "piv-card.json", "casey", "Casey Cardholder")
    otp = [_enroll_otp(services, name) for name in ("taylor", "admin")]
    return EnrolledPeople(people=people, applet=applet, otp=otp)


def _enroll_key(services: Services, key: VirtualAuthenticator, username: str) -> None:
    from tokenstile.devices.key_ceremonies import enroll_security_key
    from tokenstile.factors.webauthn_registration import parse_registration

    repository = services.webauthn_service()
    key.authenticator.provision_pin(KEY_PIN)

    def begin() -> dict[str, Any]:
        options = repository.begin_registration(
            username, label="Demo security key", by=ORIGIN, origin=ORIGIN
        )
        return {"handle": options.handle, "publicKey": options.public_key}

    enroll_security_key(
        key,
        begin,
        lambda handle, response, uv_method: repository.complete_registration(
            handle, parse_registration(response), by=ORIGIN, origin=ORIGIN, uv_method=uv_method
        ),
        origin=f"https://{repository.rp.id}",
        new_pin=lambda: KEY_PIN,
        on_pin=lambda _prompt: KEY_PIN,
    )


def _enroll_card(services: Services, path: Path, username: str, holder: str) -> PivCardApplet:
    from cryptography import x509

    from tokenstile.virtual.piv_provision import CertificateRequest, create_piv_card

    repository = services.piv_service()

    def issue(request: CertificateRequest) -> x509.Certificate:
        _info, certificate = repository.issue(
            username, request.public_key, by=ORIGIN, origin=ORIGIN, label="Demo card"
        )
        return certificate

    return create_piv_card(path, holder=holder, pin=CARD_PIN, puk=CARD_PUK, issuer=issue)


def _enroll_otp(services: Services, username: str) -> OtpSecret:
    from tokenstile.factors.otp_enrollment import generate_seed

    repository = services.otp_service()
    _info, enrollment = repository.enroll_app(
        username, by=ORIGIN, origin=ORIGIN, seed=generate_seed(), label="Demo authenticator"
    )
    return OtpSecret(
        username=username, seed=enrollment.seed, uri=enrollment.uri, qr_png=enrollment.qr_png()
    )
