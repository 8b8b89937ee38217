"""authenticatorCredentialManagement through python-fido2's CredentialManagement."""

from __future__ import annotations

import hashlib

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import ClientPin, CredentialManagement, Ctap2
from fido2.webauthn import PublicKeyCredentialDescriptor, PublicKeyCredentialUserEntity

from tests.unit.virtual.ceremony import PIN, RP_ID, client_for, new_key, register, rp_server
from tokenstile.virtual import VirtualAuthenticator

ERR = CtapError.ERR
RESULT = CredentialManagement.RESULT


def _credman(
    device: VirtualAuthenticator,
    permissions: ClientPin.PERMISSION = ClientPin.PERMISSION.CREDENTIAL_MGMT,
    rp_id: str | None = None,
) -> CredentialManagement:
    ctap = Ctap2(device)
    client_pin = ClientPin(ctap)
    token = client_pin.get_pin_token(PIN, permissions, rp_id)
    return CredentialManagement(ctap, client_pin.protocol, token)


def _enrolled_key() -> VirtualAuthenticator:
    device = new_key()
    client = client_for(device)
    server = rp_server()
    register(client, server, "alice")
    register(client, server, "bob")
    return device


def test_metadata_and_enumeration() -> None:
    device = _enrolled_key()
    credman = _credman(device)

    metadata = credman.get_metadata()
    assert metadata[RESULT.EXISTING_CRED_COUNT] == 2
    assert metadata[RESULT.MAX_REMAINING_COUNT] == 98

    [rp] = credman.enumerate_rps()
    assert rp[RESULT.RP] == {"id": RP_ID, "name": "Tokenstile kiosk"}
    assert rp[RESULT.RP_ID_HASH] == hashlib.sha256(RP_ID.encode()).digest()

    credentials = credman.enumerate_creds(rp[RESULT.RP_ID_HASH])
    assert sorted(c[RESULT.USER]["name"] for c in credentials) == ["alice", "bob"]
    assert all(c[RESULT.PUBLIC_KEY][3] == -7 for c in credentials)


def test_delete_a_credential() -> None:
    device = _enrolled_key()
    credman = _credman(device)
    rp_id_hash = hashlib.sha256(RP_ID.encode()).digest()
    alice = next(c for c in credman.enumerate_creds(rp_id_hash) if c[RESULT.USER]["id"] == b"alice")
    credman.delete_cred(alice[RESULT.CREDENTIAL_ID])

    assert [c.user_id for c in device.authenticator.credentials()] == [b"bob"]
    with pytest.raises(CtapError) as caught:
        credman.delete_cred(alice[RESULT.CREDENTIAL_ID])
    assert caught.value.code == ERR.NO_CREDENTIALS


def test_update_user_information() -> None:
    device = _enrolled_key()
    credman = _credman(device)
    [bob] = [c for c in device.authenticator.credentials() if c.user_id == b"bob"]
    credman.update_user_info(
        PublicKeyCredentialDescriptor(type="public-key", id=bob.credential_id),
        PublicKeyCredentialUserEntity(id=b"bob", name="robert", display_name="Robert"),
    )
    [updated] = [c for c in device.authenticator.credentials() if c.user_id == b"bob"]
    assert (updated.user_name, updated.user_display_name) == ("robert", "Robert")
    with pytest.raises(CtapError) as caught:
        credman.update_user_info(
            PublicKeyCredentialDescriptor(type="public-key", id=bob.credential_id),
            PublicKeyCredentialUserEntity(id=b"mallory", name="mallory"),
        )
    assert caught.value.code == ERR.INVALID_PARAMETER


def test_empty_key_has_nothing_to_enumerate() -> None:
    credman = _credman(new_key())
    assert credman.enumerate_rps() == []
    assert credman.enumerate_creds(hashlib.sha256(RP_ID.encode()).digest()) == []


def test_credential_management_needs_the_cm_permission() -> None:
    credman = _credman(_enrolled_key(), ClientPin.PERMISSION.GET_ASSERTION)
    with pytest.raises(CtapError) as caught:
        credman.get_metadata()
    assert caught.value.code == ERR.PIN_AUTH_INVALID


def test_a_token_bound_to_an_rp_cannot_list_all_rps() -> None:
    credman = _credman(_enrolled_key(), rp_id=RP_ID)
    with pytest.raises(CtapError) as caught:
        credman.enumerate_rps()
    assert caught.value.code == ERR.PIN_AUTH_INVALID
    assert len(credman.enumerate_creds(hashlib.sha256(RP_ID.encode()).digest())) == 2


def test_next_without_begin_is_not_allowed() -> None:
    device = _enrolled_key()
    credman = _credman(device)
    with pytest.raises(CtapError) as caught:
        credman.enumerate_creds_next()
    assert caught.value.code == ERR.NOT_ALLOWED
    credman.enumerate_creds_begin(hashlib.sha256(RP_ID.encode()).digest())
    Ctap2(device).get_info()  # any other command ends the enumeration
    with pytest.raises(CtapError) as caught:
        credman.enumerate_creds_next()
    assert caught.value.code == ERR.NOT_ALLOWED
