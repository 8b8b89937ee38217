"""Attack (issue 16): an enrollment station that lies about where a card's key was made.

The token service judges a card's key attestation itself (``piv_attestation_roots``,
``piv_require_attestation``); the admin console only relays what the card answered. A
station here is plain HTTP with an admin's token against a real ``tokenstile server``,
and what it sends comes from the virtual card (in-process) with a test maker's
attestation root, then bent:

- the attestation of the card's key, sent with a public key the card did not make;
- an attestation chained to a maker root the service does not trust;
- no attestation at all while the service requires one;
- bytes that are no certificate, or half of the pair;
- an enrolled card's certificate with the attestation of another card's key.

Each is a 400 with the reason, a ``piv_attestation`` failure row, and nothing enrolled
(no card, not even the issuing CA created). The honest station's attested key is
enrolled with the verdict. ``/admin/piv/setup-audit`` takes only the step names of a
card set-up and only for the person's own card: a station cannot write free text, a
secret or another person's card into the audit log through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.adversarial.conftest import AttackedService
from tokenstile.deployment import DEFAULT_ADMIN_CLIENT_ID
from tokenstile.devices import DirectConnection, PivCard
from tokenstile.devices.piv import KeyAlgorithm, ManagementKeyAlgorithm, PivSlot
from tokenstile.protocol.jose import b64url_encode
from tokenstile.virtual.piv_attestation import AttestationAuthority
from tokenstile.virtual.piv_provision import DEFAULT_MANAGEMENT_KEY, create_piv_card

MAKER = AttestationAuthority.create("Test Card Maker Attestation Root")
OTHER_MAKER = AttestationAuthority.create("Untrusted Card Maker Attestation Root")
Json = dict[str, Any]


@dataclass(frozen=True)
class CardAnswer:
    """What a card gives a station: its 9A public key or certificate, and its attestation."""

    public_key: str  # SubjectPublicKeyInfo of a key it generated, base64url
    attestation: Json  # the two members /admin/piv/issue and /admin/piv/cards take
    certificate: str  # the 9A certificate it came with (self-signed), base64url


def _der(certificate: Any) -> str:
    return b64url_encode(certificate.public_bytes(Encoding.DER))


def card_with_its_certificate(maker: AttestationAuthority) -> CardAnswer:
    """A card of ``maker`` with the key and certificate it was made with, attested."""
    card = PivCard(DirectConnection(create_piv_card(attestation=maker)))
    certificate = _der(card.read_certificate(PivSlot.AUTHENTICATION))
    existing = {
        "attestation": _der(card.attest(PivSlot.AUTHENTICATION)),
        "attestation_intermediate": _der(card.read_attestation_certificate()),
    }
    return CardAnswer(public_key="", attestation=existing, certificate=certificate)


def generated(maker: AttestationAuthority) -> CardAnswer:
    """A factory card of ``maker`` generates a key in 9A and attests it."""
    card = PivCard(DirectConnection(create_piv_card(attestation=maker)))
    card.authenticate(DEFAULT_MANAGEMENT_KEY, ManagementKeyAlgorithm.TDES)
    key = card.generate_key(PivSlot.AUTHENTICATION, KeyAlgorithm.ECCP256)
    return CardAnswer(
        public_key=b64url_encode(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)),
        attestation={
            "attestation": _der(card.attest(PivSlot.AUTHENTICATION)),
            "attestation_intermediate": _der(card.read_attestation_certificate()),
        },
        certificate="",
    )


def stranger_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return b64url_encode(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


@contextmanager
def admin_station(service: AttackedService) -> Iterator[httpx.Client]:
    """Plain HTTP with the access token the admin ``root`` got at the admin console's
    client (a TOTP login)."""
    token = service.login("root", client_id=DEFAULT_ADMIN_CLIENT_ID)["access_token"]
    with service.http(headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


@pytest.fixture
def strict(attacked: Callable[..., AttackedService], tmp_path: Path) -> AttackedService:
    """A service that trusts MAKER only and requires attestation."""
    roots = tmp_path / "maker.pem"
    roots.write_bytes(MAKER.pem())
    return attacked(piv_attestation_roots=[str(roots)], piv_require_attestation=True)


def nothing_enrolled(service: AttackedService, http: httpx.Client) -> None:
    listed = http.get("/admin/piv/cards", params={"username": "alice"})
    assert listed.json()["cards"] == []
    assert service.audit("piv_enrolled") == []
    assert service.audit("piv_ca_created") == []  # refused before the CA is even needed


@pytest.mark.parametrize(
    ("body_of", "message"),
    [
        pytest.param(
            lambda: {"public_key": stranger_key(), **generated(MAKER).attestation},
            "attested a different key than the one in the slot",
            id="attestation-of-another-key",
        ),
        pytest.param(
            lambda: {
                "public_key": (key := generated(OTHER_MAKER)).public_key,
                **key.attestation,
            },
            "not certified by a configured attestation root",
            id="root-not-configured",
        ),
        pytest.param(
            lambda: {"public_key": generated(MAKER).public_key},
            "the station sent no attestation (the card gave none); piv_require_attestation",
            id="none-under-require",
        ),
        pytest.param(
            lambda: {
                "public_key": (key := generated(MAKER)).public_key,
                "attestation": b64url_encode(b"0" * 64),
                "attestation_intermediate": key.attestation["attestation_intermediate"],
            },
            "is not a DER X.509 certificate",
            id="not-a-certificate",
        ),
        pytest.param(
            lambda: {
                "public_key": (key := generated(MAKER)).public_key,
                "attestation": key.attestation["attestation"],
            },
            "both or neither",
            id="half-the-pair",
        ),
    ],
)
def test_a_station_cannot_enroll_a_key_the_card_did_not_attest(
    strict: AttackedService, body_of: Callable[[], Json], message: str
) -> None:
    with admin_station(strict) as station:
        refused = station.post("/admin/piv/issue", json={"username": "alice", **body_of()})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_request"
        assert message in refused.json()["error_description"]
        nothing_enrolled(strict, station)
    [row] = strict.audit("piv_attestation")
    assert (row["outcome"], row["username"]) == ("failure", "alice")
    assert message in row["detail"]["reason"]
    assert row["detail"]["by"] == "admin:root"


def test_a_certificate_enrolled_with_another_cards_attestation_is_refused(
    strict: AttackedService,
) -> None:
    mine, other = card_with_its_certificate(MAKER), card_with_its_certificate(MAKER)
    with admin_station(strict) as station:
        body = {"username": "alice", "certificate": mine.certificate}
        refused = station.post("/admin/piv/cards", json={**body, **other.attestation})
        assert refused.status_code == 400, refused.text
        assert "attested a different key" in refused.json()["error_description"]
        bare = station.post("/admin/piv/cards", json=body)
        assert bare.status_code == 400
        assert "piv_require_attestation refuses it" in bare.json()["error_description"]
        nothing_enrolled(strict, station)
        # The card's own attestation of its own key: enrolled, and the verdict says so.
        made = station.post("/admin/piv/cards", json={**body, **mine.attestation})
        assert made.status_code == 201, made.text
    assert made.json()["attestation"]["status"] == "attested"
    assert [r["outcome"] for r in strict.audit("piv_attestation")] == [
        "failure",
        "failure",
        "success",
    ]


def test_the_honest_stations_attested_key_is_issued_and_its_set_up_recorded(
    strict: AttackedService,
) -> None:
    key = generated(MAKER)
    with admin_station(strict) as station:
        issued = station.post(
            "/admin/piv/issue",
            json={"username": "alice", "public_key": key.public_key, **key.attestation},
        )
        assert issued.status_code == 201, issued.text
        verdict = issued.json()["attestation"]
        assert verdict["status"] == "attested"
        assert verdict["root"] == MAKER.certificate.subject.rfc4514_string()
        fingerprint = issued.json()["card"]["fingerprint"]

        # The set-up record takes step names only, for alice's own card only.
        steps = ["pin_changed", "puk_blocked", "management_key_replaced:AES192"]
        for bad, status in (
            ({"steps": ["pin_changed", "new pin is 24682468"]}, 400),
            ({"steps": []}, 400),
            ({"steps": ["puk_blocked", "puk_blocked"]}, 400),
            ({"username": "root"}, 404),
            ({"fingerprint": "ab" * 32}, 404),
            ({"fingerprint": fingerprint.upper()}, 400),
        ):
            body = {"username": "alice", "fingerprint": fingerprint, "steps": steps, **bad}
            answer = station.post("/admin/piv/setup-audit", json=body)
            assert answer.status_code == status, (bad, answer.text)
        assert strict.audit("piv_card_setup") == []
        recorded = station.post(
            "/admin/piv/setup-audit",
            json={"username": "alice", "fingerprint": fingerprint, "steps": steps},
        )
        assert recorded.status_code == 201, recorded.text
        # A revoked card's set-up is not recorded any more.
        station.post("/admin/piv/revoke", json={"fingerprint": fingerprint})
        late = station.post(
            "/admin/piv/setup-audit",
            json={"username": "alice", "fingerprint": fingerprint, "steps": steps},
        )
        assert (late.status_code, late.json()["error"]) == (409, "conflict")
    [attested] = strict.audit("piv_attestation")
    assert (attested["outcome"], attested["detail"]["fingerprint"]) == ("success", fingerprint)
    [row] = strict.audit("piv_card_setup")
    assert row["detail"]["steps"] == steps
    assert (row["detail"]["fingerprint"], row["detail"]["by"]) == (fingerprint, "admin:root")


def test_without_the_policy_a_wrong_attestation_is_still_refused(
    attacked: Callable[..., AttackedService], tmp_path: Path
) -> None:
    roots = tmp_path / "maker.pem"
    roots.write_bytes(MAKER.pem())
    service = attacked(piv_attestation_roots=[str(roots)])
    with admin_station(service) as station:
        wrong = generated(OTHER_MAKER)
        refused = station.post(
            "/admin/piv/issue",
            json={"username": "alice", "public_key": wrong.public_key, **wrong.attestation},
        )
        assert refused.status_code == 400
        nothing_enrolled(service, station)
        # A card that gave nothing is enrolled, as not attested, by this policy.
        plain = station.post(
            "/admin/piv/issue", json={"username": "alice", "public_key": stranger_key()}
        )
        assert plain.status_code == 201, plain.text
        assert plain.json()["attestation"]["status"] == "not_attested"
    assert [r["outcome"] for r in service.audit("piv_attestation")] == ["failure", "info"]
