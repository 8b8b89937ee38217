"""What a FIDO2 enrollment verified about the key (issue 16): the software key is known by
its attestation certificate and refused unless allowed; only attestation to a configured
root (or an admin's word) makes a credential a hardware key; an AAGUID allow-list needs
roots."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.unit.factors.webauthn_keys import (
    RP,
    Kiosk,
    new_challenge,
    registration_options,
)
from tokenstile.config import load_settings
from tokenstile.errors import ConfigError
from tokenstile.factors.webauthn import CeremonyRejected
from tokenstile.factors.webauthn_registration import (
    AttestationPolicy,
    NewCredential,
    parse_registration,
    says_software,
    verify_registration,
)
from tokenstile.virtual import AttestationMode, Ctap2Authenticator, VirtualAuthenticator

NOW = 1_800_000_000.0


def register(kiosk: Kiosk, policy: AttestationPolicy) -> NewCredential:
    challenge = new_challenge()
    response = kiosk.register(registration_options(challenge=challenge, policy=policy))
    return verify_registration(
        RP, parse_registration(response), challenge=challenge, policy=policy, now=NOW
    )


def test_the_software_key_is_refused_by_default() -> None:
    with pytest.raises(CeremonyRejected) as refused:
        register(Kiosk(), AttestationPolicy())
    assert refused.value.reason == "software_key"
    assert "software key" in str(refused.value)


def test_an_allowed_software_key_is_software_even_when_its_root_is_trusted() -> None:
    kiosk = Kiosk()
    root = kiosk.device.authenticator.attestation_root_certificate
    policy = AttestationPolicy(roots=(root,), allow_software_keys=True)
    new = register(kiosk, policy)
    assert new.attestation_trusted  # the chain holds...
    assert new.software
    assert new.assurance == "software"  # ...but the key said what it is


@pytest.mark.parametrize("mode", [AttestationMode.NONE, AttestationMode.SELF])
def test_a_key_without_an_attestation_certificate_is_unverified(mode: AttestationMode) -> None:
    device = VirtualAuthenticator(Ctap2Authenticator(attestation=mode))
    device.authenticator.provision_pin("4711")
    new = register(Kiosk(device), AttestationPolicy())
    assert (new.software, new.attestation_trusted, new.assurance) == (False, False, "unverified")


def test_says_software_reads_the_attestation_certificate() -> None:
    kiosk = Kiosk()
    root = kiosk.device.authenticator.attestation_root_certificate
    assert not says_software(root)  # the root names the CA, not the key


def test_an_aaguid_allow_list_without_roots_is_a_configuration_error(tmp_path: Path) -> None:
    aaguid = str(uuid.uuid4())
    with pytest.raises(ConfigError, match="webauthn_attestation_roots"):
        AttestationPolicy.load([aaguid])
    with pytest.raises(ConfigError, match="webauthn_attestation_roots"):
        load_settings(db=f"sqlite:///{tmp_path / 'ts.db'}", webauthn_aaguids=[aaguid])
    pem = tmp_path / "root.pem"
    root = Kiosk().device.authenticator.attestation_root_certificate
    pem.write_bytes(x509.load_der_x509_certificate(root).public_bytes(Encoding.PEM))
    policy = AttestationPolicy.load([aaguid], [pem], allow_software_keys=True)
    assert policy.aaguids == frozenset({aaguid})
    assert policy.allow_software_keys
    settings = load_settings(
        db=f"sqlite:///{tmp_path / 'ts.db'}",
        webauthn_aaguids=[aaguid],
        webauthn_attestation_roots=[pem],
    )
    assert settings.webauthn_aaguids == [aaguid]


def test_the_setting_defaults_to_refusing_software_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOKENSTILE_WEBAUTHN_ALLOW_SOFTWARE_KEYS")
    assert not load_settings(db=f"sqlite:///{tmp_path / 'ts.db'}").webauthn_allow_software_keys
