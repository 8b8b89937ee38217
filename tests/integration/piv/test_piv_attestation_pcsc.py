"""PIV key attestation at enrollment, through real pcscd and vpcd with the virtual card.

``tokenstile manage piv enroll`` asks the card in the reader to attest its 9A key
(YubiKey PIV ATTEST) and checks the chain to the configured ``piv_attestation_roots``.
Each attack (another maker's root, an attestation of another key, a card that refuses
the instruction under the require policy) is one clear error: no card is enrolled and
the enrolled state does not change. OpenSC's ``opensc-tool`` sends the ATTEST APDU
itself, as an independent client of the card.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.pcsc.conftest import VpcdSlot, opensc_env
from tests.integration.piv.conftest import Station
from tokenstile.devices.piv_setup import on_factory_management_key
from tokenstile.virtual.piv_attestation import AttestationAuthority
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_keys import generate_key
from tokenstile.virtual.piv_objects import Algorithm, Slot, parse_tlv
from tokenstile.virtual.piv_provision import create_piv_card
from tokenstile.virtual.piv_state import PivPrivateKey, SlotKey

pytestmark = pytest.mark.pcsc
__all__ = ["opensc_env"]  # the fixture, shared with the OpenSC tests

PIN = "123456"
NEW_PIN = "24682468"
MAKER = AttestationAuthority.create("Test Card Maker Attestation Root")


class KeySwappingCard(PivCardApplet):
    """A card whose attestation names a key other than the one in the slot."""

    def attestation_for(
        self,
        slot: Slot,
        key: SlotKey,
        signing_key: PivPrivateKey,
        device_certificate: x509.Certificate,
    ) -> bytes:
        other = SlotKey(algorithm=Algorithm.ECCP256, private_key=generate_key(Algorithm.ECCP256))
        return super().attestation_for(slot, other, signing_key, device_certificate)


def card_certificate(station: Station) -> x509.Certificate:
    with station.card() as card:
        return card.read_certificate()


def test_a_generated_key_attested_to_the_configured_root_is_enrolled(
    vpcd_slot: VpcdSlot, station: Station
) -> None:
    station.configure_attestation(MAKER, require=True)
    vpcd_slot(create_piv_card(attestation=MAKER))
    code, text = station.enroll("--generate", "--pin", PIN, "--new-pin", NEW_PIN)
    assert code == 0, text
    assert "key generated on the card (attested): yes, by CN=Test Card Maker" in text
    [row] = station.audit("piv_attestation")
    assert row["outcome"] == "success"
    assert row["detail"]["attestation"] == "attested"
    assert row["detail"]["attestation_root"] == MAKER.certificate.subject.rfc4514_string()
    assert row["detail"]["fingerprint"]
    assert "Tokenstile PIV Issuing CA" in card_certificate(station).issuer.rfc4514_string()


def test_opensc_reads_the_attestation_and_openssl_verifies_its_chain(
    vpcd_slot: VpcdSlot, opensc_env: dict[str, str], tmp_path: Path
) -> None:
    card = create_piv_card(attestation=MAKER)
    vpcd_slot(card)
    select = "00A4040009A00000030800001000"
    answer = subprocess.run(
        ["/usr/bin/opensc-tool", "--reader", "0", "-s", select, "-s", "00F99A0000"],
        env=opensc_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    # The last answer, as opensc-tool dumps it: 16 hex bytes a line, then their ASCII.
    dump = answer.rsplit("Received (SW1=0x90, SW2=0x00)", 1)[-1].splitlines()[1:]
    slot = x509.load_der_x509_certificate(
        bytes.fromhex("".join(line[:48].replace(" ", "") for line in dump))
    )
    assert slot.public_key() == card.state.keys[Slot.AUTHENTICATION].private_key.public_key()
    f9 = x509.load_der_x509_certificate(parse_tlv(card.state.objects[0x5FFF01])[0x70])
    # openssl, independently: slot attestation -> F9 certificate -> the maker's root.
    (tmp_path / "f9.pem").write_bytes(f9.public_bytes(Encoding.PEM))
    (tmp_path / "slot.pem").write_bytes(slot.public_bytes(Encoding.PEM))
    assert openssl_verify(tmp_path, MAKER).returncode == 0
    assert openssl_verify(tmp_path, AttestationAuthority.create("Another Maker")).returncode != 0


def openssl_verify(tmp_path: Path, root: AttestationAuthority) -> subprocess.CompletedProcess[str]:
    (tmp_path / "root.pem").write_bytes(root.pem())
    return subprocess.run(
        [
            "/usr/bin/openssl",
            "verify",
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "f9.pem"),
            str(tmp_path / "slot.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass(frozen=True)
class Attack:
    card_of: Callable[[], PivCardApplet]
    root: AttestationAuthority
    require: bool
    message: str


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(
            Attack(
                lambda: create_piv_card(attestation=MAKER),
                AttestationAuthority.create("Another Maker Root"),
                False,
                "not certified by a configured attestation root",
            ),
            id="wrong-root",
        ),
        pytest.param(
            Attack(
                lambda: KeySwappingCard(create_piv_card(attestation=MAKER).state),
                MAKER,
                False,
                "attested a different key than the one in the slot",
            ),
            id="attested-key-is-not-the-slot-key",
        ),
        pytest.param(
            Attack(
                create_piv_card,
                MAKER,
                True,
                "refused the attestation instruction (6D00); piv_require_attestation refuses it",
            ),
            id="card-refuses-attest",
        ),
    ],
)
@pytest.mark.parametrize("generate", [True, False], ids=["generate", "existing-certificate"])
def test_a_key_that_cannot_prove_it_was_made_on_the_card_is_not_enrolled(
    vpcd_slot: VpcdSlot, station: Station, attack: Attack, generate: bool
) -> None:
    station.configure_attestation(attack.root, require=attack.require)
    message = attack.message
    vpcd_slot(attack.card_of())
    before = card_certificate(station)
    new_key = ["--generate", "--new-pin", NEW_PIN] if generate else []
    code, text = station.enroll(*new_key, "--pin", PIN)
    assert code == 1
    assert message in text
    assert station.audit("piv_enrolled") == []
    [row] = station.audit("piv_attestation")
    assert row["outcome"] == "failure"
    assert message in row["detail"]["reason"]
    # No certificate was issued or written: the card keeps the one it had; and the card
    # was not set up: the factory PIN and management key still work.
    assert card_certificate(station) == before
    assert station.audit("piv_ca_created") == []
    assert station.audit("piv_card_setup") == []
    with station.card() as card:
        card.verify_pin(PIN)
        assert on_factory_management_key(card)


def test_a_card_that_refuses_is_enrolled_as_not_attested_without_the_policy(
    vpcd_slot: VpcdSlot, station: Station
) -> None:
    station.configure_attestation(MAKER, require=False)
    vpcd_slot(create_piv_card())
    code, text = station.enroll("--generate", "--pin", PIN, "--new-pin", NEW_PIN)
    assert code == 0, text
    assert "(attested): no (the card refused the attestation instruction (6D00))" in text
    [row] = station.audit("piv_attestation")
    assert (row["outcome"], row["detail"]["attestation"]) == ("info", "not_attested")
    assert len(station.audit("piv_enrolled")) == 1
