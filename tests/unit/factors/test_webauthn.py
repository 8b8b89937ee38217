"""The WebAuthn checks of ``factors.webauthn`` and ``webauthn_registration``, fed by the
software key through python-fido2's real client; python-fido2's own ``Fido2Server``
accepts the same responses unchanged (an independent verifier)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from fido2.server import Fido2Server
from fido2.webauthn import PublicKeyCredentialRpEntity, UserVerificationRequirement

from tests.unit.factors.webauthn_keys import (
    ORIGIN,
    RP,
    SOFTWARE_KEYS_ALLOWED,
    Kiosk,
    client_data,
    flip_bit,
    new_challenge,
    registration_options,
    request_options,
    unb64,
    with_client_data,
    with_counter,
    with_flags,
    with_response,
)
from tests.unit.virtual.ceremony import new_key
from tokenstile.errors import ConfigError
from tokenstile.factors.webauthn import (
    EDDSA,
    ES256,
    FLAG_BE,
    FLAG_BS,
    FLAG_UP,
    FLAG_UV,
    CeremonyRejected,
    MalformedResponse,
    RelyingParty,
    b64url,
    b64url_decode,
    check_assertion,
    counter_advances,
    default_rp_id,
    load_public_key,
    login_amr,
    parse_assertion,
    relying_party_for,
)
from tokenstile.factors.webauthn_registration import (
    AttestationPolicy,
    NewCredential,
    parse_registration,
    verify_registration,
)
from tokenstile.virtual import AttestationMode, Ctap2Authenticator, VirtualAuthenticator

NOW = 1_800_000_000.0
HANDLE = b"alice-handle"


def enrolled(kiosk: Kiosk, **policy: Any) -> NewCredential:
    challenge = new_challenge()
    response = kiosk.register(registration_options(challenge=challenge, user_handle=HANDLE))
    return verify_registration(
        RP,
        parse_registration(response),
        challenge=challenge,
        policy=AttestationPolicy(**{"allow_software_keys": True, **policy}),
        now=NOW,
    )


def signed_in(kiosk: Kiosk) -> tuple[bytes, dict[str, Any]]:
    challenge = new_challenge()
    return challenge, kiosk.authenticate(request_options(challenge))


def check(
    credential: NewCredential, challenge: bytes, response: dict[str, Any], rp: RelyingParty = RP
) -> None:
    check_assertion(
        rp,
        parse_assertion(response),
        challenge=challenge,
        public_key=credential.public_key,
        user_handle=HANDLE,
    )


def reason(credential: NewCredential, challenge: bytes, response: dict[str, Any]) -> str:
    with pytest.raises(CeremonyRejected) as refused:
        check(credential, challenge, response)
    return refused.value.reason


@pytest.fixture
def kiosk() -> Kiosk:
    return Kiosk()


# -- the good path, and the independent verifier ------------------------------------------


@pytest.mark.parametrize("alg", [ES256, EDDSA])
def test_register_then_sign_in_and_fido2_server_agrees(alg: int) -> None:
    kiosk = Kiosk()
    challenge = new_challenge()
    options = registration_options(challenge=challenge, user_handle=HANDLE)
    options["pubKeyCredParams"] = [{"type": "public-key", "alg": alg}]
    response = kiosk.register(options)
    credential = verify_registration(
        RP, parse_registration(response), challenge=challenge, policy=SOFTWARE_KEYS_ALLOWED, now=NOW
    )
    assert credential.public_key.algorithm == alg
    assert credential.aaguid == str(uuid.UUID(bytes=kiosk.device.authenticator.aaguid))
    assert credential.sign_count == 0
    assert credential.transports == ("nfc", "usb")
    assert credential.attestation_format == "packed"
    assert load_public_key(credential.public_key.cose).algorithm == alg

    server = Fido2Server(PublicKeyCredentialRpEntity(id=RP.id, name=RP.name))
    state = {"challenge": b64url(challenge), "user_verification": "required"}
    attested = server.register_complete(state, response).credential_data
    assert attested is not None

    login_challenge, assertion = signed_in(kiosk)
    check(credential, login_challenge, assertion)
    assert parse_assertion(assertion).authenticator_data.sign_count == 1
    server.authenticate_complete(
        {
            "challenge": b64url(login_challenge),
            "user_verification": UserVerificationRequirement.REQUIRED,
        },
        [attested],
        assertion,
    )
    assert kiosk.touches == 2
    assert [p.retries_left for p in kiosk.pin_prompts] == [8, 8]


def test_the_request_options_are_usernameless_with_uv_required() -> None:
    options = request_options(b"\x01" * 32)
    assert options == {
        "challenge": b64url(b"\x01" * 32),
        "timeout": 120_000,
        "rpId": "auth.example",
        "allowCredentials": [],
        "userVerification": "required",
        "hints": ["security-key"],
    }


def test_creation_options_ask_for_a_resident_verified_es256_or_eddsa_credential() -> None:
    options = registration_options(challenge=b"\x02" * 32, exclude=[b"old"])
    assert options["authenticatorSelection"] == {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    }
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [ES256, EDDSA]
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == [{"type": "public-key", "id": b64url(b"old")}]
    policy = AttestationPolicy(aaguids=frozenset({str(uuid.uuid4())}))
    assert registration_options(challenge=b"\x02" * 32, policy=policy)["attestation"] == "direct"


# -- every broken rule of an assertion -----------------------------------------------------


def test_wrong_challenge_type_origin_and_cross_origin(kiosk: Kiosk) -> None:
    credential = enrolled(kiosk)
    challenge, good = signed_in(kiosk)
    assert reason(credential, new_challenge(), good) == "wrong_challenge"
    # The client data is signed: changing it breaks the rule first, the signature too.
    assert reason(credential, challenge, with_client_data(good, type="webauthn.create")) == (
        "wrong_type"
    )
    assert reason(credential, challenge, with_client_data(good, origin="https://evil.example")) == (
        "wrong_origin"
    )
    assert reason(credential, challenge, with_client_data(good, crossOrigin=True)) == "cross_origin"
    assert reason(credential, challenge, with_client_data(good, topOrigin=ORIGIN)) == "cross_origin"
    # A harmless extra member still changes the signed bytes.
    assert reason(credential, challenge, with_client_data(good, extra="x")) == "bad_signature"
    check(credential, challenge, good)


def test_assertion_for_another_rp_id_or_origin_is_refused(kiosk: Kiosk) -> None:
    credential = enrolled(kiosk)
    challenge, good = signed_in(kiosk)
    # The rpIdHash of another site (edited: the rule refuses it before the signature).
    auth = bytearray(unb64(good["response"]["authenticatorData"]))
    auth[0] ^= 0xFF
    assert reason(credential, challenge, with_response(good, authenticatorData=bytes(auth))) == (
        "wrong_rp_id"
    )
    # The same answer to a relying party configured for other origins.
    elsewhere = RelyingParty(RP.id, RP.name, frozenset({"https://kiosk.other"}))
    with pytest.raises(CeremonyRejected, match="another origin"):
        check(credential, challenge, good, elsewhere)


def test_flags_user_presence_verification_and_backup(kiosk: Kiosk) -> None:
    credential = enrolled(kiosk)
    challenge, good = signed_in(kiosk)
    assert reason(credential, challenge, with_flags(good, clear=FLAG_UV)) == "user_not_verified"
    assert reason(credential, challenge, with_flags(good, clear=FLAG_UP)) == "user_not_present"
    assert reason(credential, challenge, with_flags(good, set_=FLAG_BS)) == "bad_flags"
    # Flags are signed: a well-formed change that passes the rules breaks the signature.
    assert reason(credential, challenge, with_flags(good, set_=FLAG_BE)) == "bad_signature"


def test_tampered_signature_authenticator_data_and_client_data(kiosk: Kiosk) -> None:
    credential = enrolled(kiosk)
    challenge, good = signed_in(kiosk)
    signature = unb64(good["response"]["signature"])
    assert reason(
        credential, challenge, with_response(good, signature=flip_bit(signature, 20))
    ) == ("bad_signature")
    assert reason(credential, challenge, with_counter(good, 77)) == "bad_signature"
    raw = unb64(good["response"]["clientDataJSON"])
    padded = raw[:-1] + b" }"
    assert reason(credential, challenge, with_response(good, clientDataJSON=padded)) == (
        "bad_signature"
    )


def test_user_handle_must_be_present_and_the_credentials(kiosk: Kiosk) -> None:
    credential = enrolled(kiosk)
    challenge, good = signed_in(kiosk)
    assert reason(credential, challenge, with_response(good, userHandle=None)) == (
        "user_handle_missing"
    )
    assert reason(credential, challenge, with_response(good, userHandle=b"mallory")) == (
        "user_handle_mismatch"
    )


def test_another_credentials_key_does_not_verify() -> None:
    first, second = Kiosk(), Kiosk()
    enrolled(first)
    other = enrolled(second)
    challenge, response = signed_in(first)
    assert reason(other, challenge, response) == "bad_signature"


# -- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["a+b/", "abc def", "a", "abcde", "ab=", "ab==x", "é", "YQ=", 12, None],
)
def test_base64url_is_strict(text: object) -> None:
    with pytest.raises(MalformedResponse):
        b64url_decode(text, "x", max_bytes=100)


def test_base64url_accepts_unpadded_and_padded() -> None:
    assert b64url_decode("YQ", "x", max_bytes=10) == b"a"
    assert b64url_decode("YQ==", "x", max_bytes=10) == b"a"
    assert b64url_decode("_-8", "x", max_bytes=10) == b"\xff\xef"
    with pytest.raises(MalformedResponse, match="too long"):
        b64url_decode("A" * 100, "x", max_bytes=10)


def test_malformed_assertions_do_not_parse(kiosk: Kiosk) -> None:
    enrolled(kiosk)
    _, good = signed_in(kiosk)
    auth = unb64(good["response"]["authenticatorData"])
    bad: list[object] = [
        None,
        [],
        {**good, "type": "password"},
        {**good, "id": "AAAA"},
        {**good, "rawId": "not base64!"},
        {**good, "rawId": ""},
        {**good, "response": "x"},
        {**good, "clientExtensionResults": []},
        with_response(good, clientDataJSON=b"not json"),
        with_response(good, clientDataJSON=b"[1,2]"),
        with_response(good, clientDataJSON=b"\xff\xfe"),
        with_response(good, clientDataJSON=json.dumps({"type": 1}).encode()),
        with_client_data(good, challenge="+/+/"),
        with_client_data(good, crossOrigin="yes"),
        with_response(good, authenticatorData=auth[:36]),
        with_response(good, authenticatorData=auth + b"\x00"),
        # ED flag with something that is not CBOR after the fixed part
        with_response(
            good, authenticatorData=bytes([*auth[:32], auth[32] | 0x80, *auth[33:]]) + b"\xff"
        ),
        # ED flag, and CBOR that is not a map
        with_response(
            good, authenticatorData=bytes([*auth[:32], auth[32] | 0x80, *auth[33:]]) + b"\x01"
        ),
        # AT flag in an assertion
        with_response(good, authenticatorData=bytes([*auth[:32], auth[32] | 0x40, *auth[33:]])),
        with_response(good, signature="%%%"),
        with_response(good, userHandle="a"),
        with_response(good, signature=None),
    ]
    for number, value in enumerate(bad):
        with pytest.raises(MalformedResponse):
            parse_assertion(value)
        assert number >= 0


def test_malformed_registrations_do_not_verify(kiosk: Kiosk) -> None:
    challenge = new_challenge()
    good = kiosk.register(registration_options(challenge=challenge, user_handle=HANDLE))

    def refused(response: dict[str, Any]) -> Exception:
        with pytest.raises((MalformedResponse, CeremonyRejected)) as caught:
            verify_registration(
                RP,
                parse_registration(response),
                challenge=challenge,
                policy=SOFTWARE_KEYS_ALLOWED,
                now=NOW,
            )
        return caught.value

    attestation = unb64(good["response"]["attestationObject"])
    assert isinstance(refused(with_response(good, attestationObject=b"\xa1")), MalformedResponse)
    assert isinstance(
        refused(with_response(good, attestationObject=attestation + b"\x00")), MalformedResponse
    )
    assert isinstance(refused(with_response(good, attestationObject=b"\x01")), MalformedResponse)
    assert isinstance(
        refused({**good, "rawId": b64url(b"other"), "id": b64url(b"other")}), MalformedResponse
    )
    props = {**good, "clientExtensionResults": {"credProps": {"rk": False}}}
    assert refused(props).reason == "not_discoverable"  # type: ignore[attr-defined]
    assert refused(with_client_data(good, type="webauthn.get")).reason == "wrong_type"  # type: ignore[attr-defined]
    with pytest.raises(MalformedResponse):
        parse_registration({**good, "response": {**good["response"], "transports": "usb"}})


def test_registration_without_user_verification_is_refused() -> None:
    from fido2.client import DefaultClientDataCollector, Fido2Client
    from fido2.webauthn import PublicKeyCredentialCreationOptions

    # A key without a PIN, asked by a client that does not insist on verification.
    client = Fido2Client(new_key(pin=None), DefaultClientDataCollector(ORIGIN))
    challenge = new_challenge()
    options = registration_options(challenge=challenge, user_handle=HANDLE)
    options["authenticatorSelection"]["userVerification"] = "discouraged"
    made = client.make_credential(PublicKeyCredentialCreationOptions.from_dict(options))
    response = json.loads(json.dumps(dict(made)))
    with pytest.raises(CeremonyRejected) as refused:
        verify_registration(
            RP,
            parse_registration(response),
            challenge=challenge,
            policy=SOFTWARE_KEYS_ALLOWED,
            now=NOW,
        )
    assert refused.value.reason == "user_not_verified"


# -- attestation policy ------------------------------------------------------------------------


def test_trusted_roots_accept_this_keys_attestation_only(tmp_path: Any) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    kiosk = Kiosk()
    root = kiosk.device.authenticator.attestation_root_certificate
    pem = tmp_path / "root.pem"
    pem.write_bytes(x509.load_der_x509_certificate(root).public_bytes(Encoding.PEM))
    policy = AttestationPolicy.load([], [pem], allow_software_keys=True)
    assert policy.conveyance == "direct"
    challenge = new_challenge()
    response = kiosk.register(registration_options(challenge=challenge, policy=policy))
    credential = verify_registration(
        RP, parse_registration(response), challenge=challenge, policy=policy, now=NOW
    )
    assert credential.attestation_trusted

    stranger = Kiosk()  # another key, another root
    challenge = new_challenge()
    response = stranger.register(registration_options(challenge=challenge, policy=policy))
    with pytest.raises(CeremonyRejected) as refused:
        verify_registration(
            RP, parse_registration(response), challenge=challenge, policy=policy, now=NOW
        )
    assert refused.value.reason == "attestation_refused"

    # Trust also needs the certificate to be valid now.
    challenge = new_challenge()
    response = kiosk.register(registration_options(challenge=challenge, policy=policy))
    with pytest.raises(CeremonyRejected, match="not valid now"):
        verify_registration(
            RP,
            parse_registration(response),
            challenge=challenge,
            policy=policy,
            now=NOW + 30 * 365 * 86400,
        )


@pytest.mark.parametrize("mode", [AttestationMode.NONE, AttestationMode.SELF])
def test_roots_refuse_unattested_keys(mode: AttestationMode) -> None:
    kiosk = Kiosk(_pinned(VirtualAuthenticator(Ctap2Authenticator(attestation=mode))))
    policy = AttestationPolicy(
        roots=(kiosk.device.authenticator.attestation_root_certificate,),
        allow_software_keys=True,
    )
    challenge = new_challenge()
    response = kiosk.register(registration_options(challenge=challenge, policy=policy))
    with pytest.raises(CeremonyRejected) as refused:
        verify_registration(
            RP, parse_registration(response), challenge=challenge, policy=policy, now=NOW
        )
    assert refused.value.reason == "attestation_refused"
    # Without roots the same key is welcome.
    challenge = new_challenge()
    response = kiosk.register(registration_options(challenge=challenge, user_handle=b"other"))
    verify_registration(
        RP, parse_registration(response), challenge=challenge, policy=SOFTWARE_KEYS_ALLOWED, now=NOW
    )


def test_tampered_packed_attestation_is_refused_even_without_roots(kiosk: Kiosk) -> None:
    from fido2 import cbor

    challenge = new_challenge()
    good = kiosk.register(registration_options(challenge=challenge))
    statement = cbor.decode(unb64(good["response"]["attestationObject"]))
    statement["attStmt"]["sig"] = flip_bit(statement["attStmt"]["sig"], 10)
    bad = with_response(good, attestationObject=cbor.encode(statement))
    with pytest.raises(CeremonyRejected) as refused:
        verify_registration(
            RP, parse_registration(bad), challenge=challenge, policy=SOFTWARE_KEYS_ALLOWED, now=NOW
        )
    assert refused.value.reason == "attestation_refused"


def test_aaguid_allow_list(kiosk: Kiosk) -> None:
    aaguid = str(uuid.UUID(bytes=kiosk.device.authenticator.aaguid))
    assert enrolled(kiosk, aaguids=frozenset({aaguid})).aaguid == aaguid
    with pytest.raises(CeremonyRejected) as refused:
        enrolled(Kiosk(), aaguids=frozenset({aaguid}))
    assert refused.value.reason == "aaguid_not_allowed"
    with pytest.raises(ConfigError):
        AttestationPolicy.load(["not-a-uuid"])


def _pinned(device: VirtualAuthenticator) -> VirtualAuthenticator:
    device.authenticator.provision_pin("4711")
    return device


# -- counters, amr, the relying party ---------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "presented", "advances"),
    [
        (0, 0, True),
        (0, 1, True),
        (5, 6, True),
        (5, 5, False),
        (5, 4, False),
        (5, 0, False),
        (0xFFFFFFFE, 0xFFFFFFFF, True),
    ],
)
def test_counter_rule(stored: int, presented: int, advances: bool) -> None:
    assert counter_advances(stored, presented) is advances


def test_amr_names_the_pin_only_when_the_key_can_only_verify_by_pin() -> None:
    assert login_amr("pin") == ("hwk", "pin", "mfa")
    assert login_amr("builtin") == ("hwk", "mfa")
    assert login_amr("unknown") == ("hwk", "mfa")


def test_relying_party_defaults() -> None:
    assert default_rp_id("https://auth.example:8443") == "auth.example"
    assert default_rp_id("http://127.0.0.1:8600") == "localhost"
    assert default_rp_id("http://[::1]:8600") == "localhost"
    assert default_rp_id("http://localhost:8600") == "localhost"
    with pytest.raises(ConfigError, match="IP address"):
        default_rp_id("https://10.1.2.3")
    rp = relying_party_for("http://127.0.0.1:8600")
    assert (rp.id, rp.origins) == ("localhost", frozenset({"https://localhost"}))
    rp = relying_party_for(
        "https://auth.example", rp_id="Example.COM", origins=["https://kiosk.example.com/"]
    )
    assert (rp.id, rp.origins) == ("example.com", frozenset({"https://kiosk.example.com"}))
    for bad in ({"rp_id": "not a domain"}, {"origins": ["ftp://x"]}, {"origins": ["https://x/p"]}):
        with pytest.raises(ConfigError):
            relying_party_for("https://auth.example", **bad)  # type: ignore[arg-type]


def test_client_data_helpers_see_what_the_key_signed(kiosk: Kiosk) -> None:
    enrolled(kiosk)
    challenge, response = signed_in(kiosk)
    data = client_data(response)
    assert data["type"] == "webauthn.get"
    assert data["origin"] == ORIGIN
    assert base64.urlsafe_b64decode(data["challenge"] + "==") == challenge
