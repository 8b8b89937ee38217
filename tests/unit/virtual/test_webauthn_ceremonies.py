"""Full WebAuthn ceremonies: python-fido2's client drives the key, its server verifies."""

from __future__ import annotations

import pytest
from fido2.attestation import AttestationVerifier, UntrustedAttestation
from fido2.client import ClientError
from fido2.ctap import CtapError
from fido2.webauthn import (
    AttestationConveyancePreference,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tests.unit.virtual.ceremony import (
    EDDSA,
    ES256,
    PIN,
    ScriptedUser,
    client_for,
    ctap_cause,
    login_usernameless,
    new_key,
    register,
    rp_server,
)
from tokenstile.virtual import AttestationMode, Ctap2Authenticator, VirtualAuthenticator


class TrustedRoot(AttestationVerifier):
    def __init__(self, root: bytes) -> None:
        super().__init__()
        self._root = root

    def ca_lookup(self, attestation_result: object, auth_data: object) -> bytes:
        return self._root


@pytest.mark.parametrize(
    ("preferred", "expected"), [((ES256, EDDSA), ES256), ((EDDSA, ES256), EDDSA)]
)
def test_resident_credential_with_pin_verification_then_usernameless_login(
    preferred: tuple[int, int], expected: int
) -> None:
    device = new_key()
    user = ScriptedUser()
    client = client_for(device, user)
    server = rp_server(*preferred)

    credential = register(client, server, "alice")

    algorithm = credential.public_key.ALGORITHM
    assert algorithm == expected
    assert credential.aaguid == device.authenticator.aaguid
    stored = device.authenticator.credentials()
    assert [(c.rp_id, c.user_id, c.discoverable) for c in stored] == [
        ("kiosk.example", b"alice", True)
    ]
    found, counter, user_handle = login_usernameless(client, server, [credential])
    assert found.credential_id == credential.credential_id
    assert user_handle == b"alice"
    assert counter == 1
    assert user.pin_requests == 2  # one PIN per ceremony: a token serves one touch


def test_registration_sets_user_present_and_verified_flags() -> None:
    device = new_key()
    client = client_for(device)
    server = rp_server()
    options, state = server.register_begin(
        PublicKeyCredentialUserEntity(id=b"bob", name="bob"),
        resident_key_requirement=ResidentKeyRequirement.REQUIRED,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    response = client.make_credential(options.public_key)
    auth_data = server.register_complete(state, response)
    assert auth_data.is_user_present()
    assert auth_data.is_user_verified()
    assert auth_data.is_attested()
    assert auth_data.counter == 0


def test_several_resident_credentials_for_one_rp_come_back_newest_first() -> None:
    device = new_key()
    client = client_for(device)
    server = rp_server()
    alice = register(client, server, "alice")
    bob = register(client, server, "bob")
    carol = register(client, server, "carol")

    options, state = server.authenticate_begin(
        user_verification=UserVerificationRequirement.REQUIRED
    )
    selection = client.get_assertion(options.public_key)
    assertions = selection.get_assertions()

    assert [a.user["id"] for a in assertions if a.user] == [b"carol", b"bob", b"alice"]
    assert assertions[0].number_of_credentials == 3
    # after user verification the key also tells the names, so the kiosk can offer a choice
    assert assertions[1].user == {"id": b"bob", "name": "bob", "displayName": "Bob"}
    for index in range(3):
        server.authenticate_complete(state, [alice, bob, carol], selection.get_response(index))


def test_other_relying_parties_see_no_credentials() -> None:
    device = new_key()
    client = client_for(device)
    register(client, rp_server(), "alice")
    other = VirtualAuthenticator(device.authenticator)  # same key, other site
    from fido2.client import DefaultClientDataCollector, Fido2Client

    foreign = Fido2Client(
        other, DefaultClientDataCollector("https://elsewhere.example"), ScriptedUser()
    )
    with pytest.raises(ClientError) as caught:
        foreign.get_assertion(
            {"challenge": b"x" * 32, "rpId": "elsewhere.example", "userVerification": "required"}
        )
    assert ctap_cause(caught.value) == CtapError.ERR.NO_CREDENTIALS


def test_sign_counter_increases_with_every_login() -> None:
    device = new_key()
    client = client_for(device)
    server = rp_server()
    credential = register(client, server, "alice")
    counters = [login_usernameless(client, server, [credential])[1] for _ in range(4)]
    assert counters == [1, 2, 3, 4]
    assert device.authenticator.credentials()[0].sign_count == 4


def test_login_with_allow_list_preflights_without_touch_then_signs() -> None:
    from tokenstile.virtual import TouchSensor

    sensor = TouchSensor(timeout=5)
    device = new_key(presence=sensor)
    client = client_for(device)
    server = rp_server()
    sensor.touch()
    credential = register(client, server, "alice")
    sensor.requests.clear()

    sensor.touch()
    options, state = server.authenticate_begin(
        [credential], user_verification=UserVerificationRequirement.REQUIRED
    )
    response = client.get_assertion(options.public_key).get_response(0)
    server.authenticate_complete(state, [credential], response)

    # the pre-flight getAssertion (up=false) asks for no touch; the real one asks once
    assert [r.command for r in sensor.requests] == ["getAssertion"]
    # ...but it is an assertion, so the counter moved twice
    assert response.response.authenticator_data.counter == 2


def test_exclude_credentials_refuse_a_second_registration_on_the_same_key() -> None:
    device = new_key()
    client = client_for(device)
    server = rp_server()
    alice = register(client, server, "alice")
    with pytest.raises(ClientError) as caught:
        register(client, server, "alice-again", existing=[alice])
    assert caught.value.code == ClientError.ERR.DEVICE_INELIGIBLE
    assert len(device.authenticator.credentials()) == 1


def test_user_verification_required_without_a_pin_is_refused_by_the_client() -> None:
    client = client_for(new_key(pin=None))
    with pytest.raises(ClientError) as caught:
        register(client, rp_server(), "alice")
    assert caught.value.code == ClientError.ERR.CONFIGURATION_UNSUPPORTED


def test_without_a_pin_a_discoverable_credential_is_made_without_uv() -> None:
    device = new_key(pin=None)
    client = client_for(device)
    server = rp_server()
    credential = register(
        client, server, "alice", user_verification=UserVerificationRequirement.DISCOURAGED
    )
    options, state = server.authenticate_begin(
        user_verification=UserVerificationRequirement.DISCOURAGED
    )
    response = client.get_assertion(options.public_key).get_response(0)
    server.authenticate_complete(state, [credential], response)
    assert response.response.authenticator_data.is_user_present()
    assert not response.response.authenticator_data.is_user_verified()


def test_packed_attestation_chains_to_this_keys_root_only() -> None:
    device = new_key()
    root = device.authenticator.attestation_root_certificate
    trusting = rp_server(
        attestation=AttestationConveyancePreference.DIRECT, verify_attestation=TrustedRoot(root)
    )
    register(client_for(device), trusting, "alice")

    stranger_root = Ctap2Authenticator().attestation_root_certificate
    suspicious = rp_server(
        attestation=AttestationConveyancePreference.DIRECT,
        verify_attestation=TrustedRoot(stranger_root),
    )
    with pytest.raises(UntrustedAttestation):
        register(client_for(device), suspicious, "bob")


@pytest.mark.parametrize(
    ("mode", "fmt", "has_x5c"),
    [
        (AttestationMode.PACKED, "packed", True),
        (AttestationMode.SELF, "packed", False),
        (AttestationMode.NONE, "none", False),
    ],
)
def test_attestation_modes(mode: AttestationMode, fmt: str, has_x5c: bool) -> None:
    from fido2.attestation import NoneAttestation, PackedAttestation

    device = new_key(attestation=mode)
    server = rp_server(ES256, EDDSA)
    options, state = server.register_begin(
        PublicKeyCredentialUserEntity(id=b"alice", name="alice"),
        resident_key_requirement=ResidentKeyRequirement.REQUIRED,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    response = client_for(device).make_credential(options.public_key)
    server.register_complete(state, response)
    attestation = response.response.attestation_object
    assert attestation.fmt == fmt
    assert ("x5c" in attestation.att_stmt) is has_x5c
    verifier = PackedAttestation() if fmt == "packed" else NoneAttestation()
    verifier.verify(attestation.att_stmt, attestation.auth_data, response.response.client_data.hash)


def test_assertion_made_for_one_challenge_fails_for_another() -> None:
    device = new_key()
    client = client_for(device)
    server = rp_server()
    credential = register(client, server, "alice")
    options, _ = server.authenticate_begin(user_verification=UserVerificationRequirement.REQUIRED)
    _, other_state = server.authenticate_begin(
        user_verification=UserVerificationRequirement.REQUIRED
    )
    response = client.get_assertion(options.public_key).get_response(0)
    with pytest.raises(ValueError, match="challenge"):
        server.authenticate_complete(other_state, [credential], response)


def test_pin_typed_by_the_user_is_wrong() -> None:
    device = new_key()
    server = rp_server()
    credential = register(client_for(device), server, "alice")
    mistyped = client_for(device, ScriptedUser(pin=PIN + "9"))
    with pytest.raises(ClientError) as caught:
        login_usernameless(mistyped, server, [credential])
    assert ctap_cause(caught.value) == CtapError.ERR.PIN_INVALID
    assert device.authenticator.pin_retries == 7
