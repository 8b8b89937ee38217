"""The platform and relying-party side of the tests: python-fido2's own client and server.

Nothing here knows how the virtual key works inside; it drives it as a browser and an RP
would drive a hardware key.
"""

from __future__ import annotations

from typing import Any

from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import ClientPin, Ctap2
from fido2.ctap2.pin import PinProtocol
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestedCredentialData,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tokenstile.virtual import Ctap2Authenticator, VirtualAuthenticator

RP_ID = "kiosk.example"
ORIGIN = f"https://{RP_ID}"
RP = PublicKeyCredentialRpEntity(id=RP_ID, name="Tokenstile kiosk")
PIN = "4711"
ES256, EDDSA = -7, -8


class ScriptedUser(UserInteraction):
    """The person at the kiosk: types ``pin`` when asked and counts the prompts."""

    def __init__(self, pin: str | None = PIN) -> None:
        self.pin = pin
        self.touch_prompts = 0
        self.pin_requests = 0

    def prompt_up(self) -> None:
        self.touch_prompts += 1

    def request_pin(self, permissions: ClientPin.PERMISSION, rp_id: str | None) -> str | None:
        self.pin_requests += 1
        return self.pin


def new_key(*, pin: str | None = PIN, **options: Any) -> VirtualAuthenticator:
    """A blank key; with ``pin`` the PIN is set the way a platform sets it (clientPIN)."""
    device = VirtualAuthenticator(Ctap2Authenticator(**options))
    if pin is not None:
        ClientPin(Ctap2(device)).set_pin(pin)
    return device


def client_for(device: VirtualAuthenticator, user: UserInteraction | None = None) -> Fido2Client:
    return Fido2Client(
        device, DefaultClientDataCollector(ORIGIN), user_interaction=user or ScriptedUser()
    )


def rp_server(*algorithms: int, **options: Any) -> Fido2Server:
    server = Fido2Server(RP, **options)
    if algorithms:
        server.allowed_algorithms = [
            PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=alg)
            for alg in algorithms
        ]
    return server


def register(
    client: Fido2Client,
    server: Fido2Server,
    name: str,
    *,
    user_verification: UserVerificationRequirement = UserVerificationRequirement.REQUIRED,
    existing: list[AttestedCredentialData] | None = None,
) -> AttestedCredentialData:
    """Enroll a discoverable credential for ``name``; the server checks the result."""
    options, state = server.register_begin(
        PublicKeyCredentialUserEntity(id=name.encode(), name=name, display_name=name.title()),
        credentials=existing,
        resident_key_requirement=ResidentKeyRequirement.REQUIRED,
        user_verification=user_verification,
    )
    response = client.make_credential(options.public_key)
    auth_data = server.register_complete(state, response)
    assert auth_data.credential_data is not None
    return auth_data.credential_data


def login_usernameless(
    client: Fido2Client,
    server: Fido2Server,
    credentials: list[AttestedCredentialData],
    *,
    index: int = 0,
) -> tuple[AttestedCredentialData, int, bytes | None]:
    """Sign in with an empty allowCredentials; returns the credential, counter, user handle."""
    options, state = server.authenticate_begin(
        user_verification=UserVerificationRequirement.REQUIRED
    )
    response = client.get_assertion(options.public_key).get_response(index)
    credential = server.authenticate_complete(state, credentials, response)
    return credential, response.response.authenticator_data.counter, response.response.user_handle


def ctap_cause(error: ClientError) -> CtapError.ERR:
    """The CTAP status code behind a client error."""
    assert isinstance(error.cause, CtapError), error
    return error.cause.code


def pin_client(device: VirtualAuthenticator, protocol: PinProtocol | None = None) -> ClientPin:
    return ClientPin(Ctap2(device), protocol)
