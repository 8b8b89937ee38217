"""HTTP routes of the PIV factor: the two login steps and the admin API under ``/admin/piv``.

The login is two lean routes (the body read and checked by hand, no pydantic), each one
trip to the thread pool:

``POST /login/piv/challenge`` ``{"certificate": "<base64url DER of the 9A certificate>",
"client_id": "..."}`` answers ``{"handle", "challenge" (base64url, 32 random bytes),
"expires_in"}`` — for every certificate that parses, enrolled or not: the answer (status,
members, work done) never tells a stranger whether a certificate is enrolled, and there
is no per-card cap a stranger could fill. The challenge is kept in the database (single
use, 2 minutes), so any replica can finish the login.

``POST /login/piv`` ``{"handle", "signature": "<base64url>", "confirm"?}``: the card's
signature over SHA-256 of the login message ``piv_message.login_message(origin, challenge)``, where
``origin`` is this service's own (its issuer URL as ``scheme://host[:port]``; never the
``Host`` header) — ECDSA P-256 (DER) or RSA-2048 PKCS#1 v1.5. Answers an RFC 6749 token
response; the access token carries ``amr ["sc", "pin", "mfa"]`` and ``acr "phrh"``, and
the session's audit row names the certificate serial and fingerprint. With ``confirm``
(``{"session_token", "reason", "app", "audience"?, "min_acr"?}``) the card confirms one
action of the person signed in at the kiosk instead: a single-use confirm token, no
session (:mod:`tokenstile.tokens.confirm`).

Refusals:

- 400 ``invalid_grant``, always with the same description, at ``/login/piv``, for
  everything about the card, the certificate, the person or the signature: unknown,
  revoked, expired, not yet valid or untrusted certificates, a key that cannot sign, a
  disabled person, an unknown, reused or expired handle, a signature over anything else
  (a challenge relayed through another server names that server). The audit log says
  which;
- 400 ``invalid_request`` for a body that is not a JSON object with the right string
  members, for text that is not base64url, and for bytes that are not a DER certificate;
- 401 ``invalid_client`` / 400 ``unauthorized_client`` / 400 ``invalid_target`` for the
  client, checked before the certificate;
- 503 ``temporarily_unavailable`` when the service holds its global bound of pending
  challenges (the per-address rate limits make that a flood from many addresses).

``GET /pki/ca.crl`` publishes the issuing CA's revocation: its CRL (DER,
``application/pkix-crl``), signed on demand and cached (``piv_crl``), with
``Last-Modified`` (thisUpdate), ``Expires`` (nextUpdate) and a short ``max-age``. Not in
the OpenAPI document: it is a PKI artefact, not an API; 404 until there is a CA.

The admin endpoints need an admin's access token (``admin_auth``) and answer JSON; their
errors are ``{"error", "error_description"}`` with 400, 404 or 409. Enrollment of a card's
own certificate takes the certificate; issuance takes the public key of a key pair the
admin station generated on the card (GENERATE ASYMMETRIC KEY PAIR), returns the
certificate from the issuing CA, and the station writes it to the card.

Both take the card's key attestation as the station read it (``attestation``: the slot's
attestation certificate, ``attestation_intermediate``: the certificate of the card's
attestation key F9; DER, base64url) and the service judges it, never the station
(``PivService.judge_attestation``, by ``piv_attestation_roots`` and
``piv_require_attestation``): a refusal is 400 ``invalid_request`` with the reason and a
``piv_attestation`` failure row, and nothing is enrolled; otherwise the answer carries
the verdict (``attestation``). ``POST /admin/piv/setup-audit`` records what the station
did to set the enrolled card up (``piv_card_setup``: the step names of
``protocol.piv_setup``, nothing else).
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, load_der_public_key
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tokenstile.composition import Services
from tokenstile.deployment import DEFAULT_KIOSK_CLIENT_ID
from tokenstile.errors import InvalidGrant, InvalidRequest, NotFound, StoreUnavailable
from tokenstile.factors.piv import (
    PivError,
    PivPublicKey,
    card_public_key,
    key_algorithm,
    load_certificate,
)
from tokenstile.factors.piv_attestation import (
    MAX_ATTESTATION_BYTES,
    AttestationEvidence,
    AttestationVerdict,
)
from tokenstile.factors.piv_crl import CRL_CACHE_SECONDS
from tokenstile.factors.piv_login import BeginOutcome
from tokenstile.factors.piv_port import PivCardInfo, PivConflict
from tokenstile.factors.piv_service import PIV_FACTOR
from tokenstile.protocol.jose import b64url_decode, b64url_encode
from tokenstile.protocol.piv_setup import SETUP_STEPS
from tokenstile.server import schemas
from tokenstile.server.admin_auth import (
    AdminApiError,
    AdminPrincipal,
    AdminWork,
    admin_router,
    check_plain_text,
)
from tokenstile.server.admin_post import admin_post, fields_of
from tokenstile.server.dpop import dpop_login
from tokenstile.server.wire import json_object, no_store_json, request_origin, require_json
from tokenstile.tokens.confirm import Ceremony, ConfirmRequest, ConfirmResponse
from tokenstile.tokens.model import Client, credential_ref
from tokenstile.tokens.service import TokenResponse

PIV_ACR = "phrh"
PIV_AMR = ("sc", "pin", "mfa")  # RFC 8176: smart card, PIN, multiple factors
# The one description of every refusal about the card, the person or the signature.
REFUSED = "The smart card was not accepted: remove it and try again, or ask an administrator."
MAX_CHALLENGE_BODY = 32 * 1024
MAX_LOGIN_BODY = 4 * 1024
_GUID = re.compile(r"[0-9a-fA-F]{1,64}")
# base64url of at most MAX_ATTESTATION_BYTES of DER
_MAX_ATTESTATION_TEXT = (MAX_ATTESTATION_BYTES * 4 + 2) // 3

_CHALLENGE_BODY = schemas.json_body(
    {
        "certificate": {
            "type": "string",
            "description": "the card's 9A (PIV Authentication) certificate, DER, base64url",
        },
        "client_id": {
            "type": "string",
            "description": "a kiosk or app client; default " + DEFAULT_KIOSK_CLIENT_ID,
        },
    },
    ["certificate"],
)
_LOGIN_BODY = schemas.json_body(
    {
        "handle": {"type": "string", "description": "from /login/piv/challenge"},
        "signature": {
            "type": "string",
            "description": "base64url of the card's signature over SHA-256 of the login "
            "message: b'Tokenstile PIV login v1\\x00' || uint16 length of the service "
            "origin || origin (scheme://host[:port]) || challenge; ECDSA P-256 (DER) or "
            "RSA-2048 PKCS#1 v1.5 (docs/factors.md)",
        },
        "confirm": {
            "type": "object",
            "description": "confirm with your card: {session_token, reason, app, audience?, "
            "min_acr?}; the answer is then a single-use confirm token, no session",
        },
    },
    ["handle", "signature"],
)


class ChallengeResponseBody(BaseModel):
    handle: str
    challenge: str = Field(
        description="base64url of 32 random bytes; the card signs SHA-256 of the login "
        "message that holds them with the service origin (docs/factors.md)"
    )
    expires_in: int


def decode_b64url(value: Any, name: str) -> bytes:
    """A base64url member (trailing ``=`` padding tolerated), or ``InvalidRequest``."""
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"The {name} member is missing or not a string.")
    try:
        return b64url_decode(value.rstrip("=") if value.endswith("=") else value)
    except ValueError as exc:
        raise InvalidRequest(f"The {name} member is not base64url.") from exc


def parse_challenge_request(body: bytes) -> tuple[bytes, str | None]:
    """``certificate`` (DER) and ``client_id`` of a challenge request."""
    data = json_object(body, MAX_CHALLENGE_BODY)
    certificate = decode_b64url(data.get("certificate"), "certificate")
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not client_id):
        raise InvalidRequest("The client_id member must be a non-empty string.")
    return certificate, client_id


def parse_login_request(body: bytes) -> tuple[str, bytes, ConfirmRequest | None]:
    """``handle``, ``signature`` and the ``confirm`` request (None: a login) of a login
    request."""
    data = json_object(body, MAX_LOGIN_BODY)
    handle = data.get("handle")
    if not isinstance(handle, str) or not handle:
        raise InvalidRequest("The handle member is missing or not a string.")
    confirm = data.get("confirm")
    request = None if confirm is None else ConfirmRequest.from_json(confirm)
    return handle, decode_b64url(data.get("signature"), "signature"), request


def piv_router(services: Services) -> APIRouter:
    """The PIV login routes and the PIV admin API, for ``app.include_router``."""
    service = services.token_service()
    # The trust anchor and attestation root files of the settings are read when the app
    # is built; the PIV service on first use (the issuing CA needs the KEK, read from the
    # database). It is built once per ``Services`` (one per app), so its trust-anchor
    # checker cache lives as long as the app.
    services.piv_anchors()
    services.piv_attestation()  # a root file that cannot be read stops the start, too
    piv = services.piv_service
    directory = services.clients()

    def session_client(client_id: str) -> Client:
        return directory.session_client(client_id, service, acr=PIV_ACR, factor="A smart card")

    def begin(certificate: bytes, client_id: str, origin: str) -> BeginOutcome:
        client = session_client(client_id)
        outcome = piv().begin_login(certificate, client_id=client.client_id, origin=origin)
        if outcome.status == "malformed":
            raise InvalidRequest("The certificate member is not a DER X.509 certificate.")
        if outcome.status == "busy":
            raise StoreUnavailable("Too many PIV login challenges are pending.", reason="busy")
        # Refused or not, the certificate gets a challenge: the refusal comes at /login/piv.
        return outcome

    def complete(
        handle: str,
        signature: bytes,
        confirm: ConfirmRequest | None,
        origin: str,
        jkt: str | None,
    ) -> TokenResponse | ConfirmResponse:
        outcome = piv().complete_login(handle, signature, origin=origin)
        if not outcome.accepted or outcome.user is None or outcome.client_id is None:
            raise InvalidGrant(REFUSED)
        client = session_client(outcome.client_id)
        device: dict[str, Any] = {}
        if outcome.certificate is not None:
            device = {
                "cert_serial": outcome.certificate.serial,
                "fingerprint": outcome.certificate.fingerprint,
            }
        if outcome.card is not None and outcome.card.card_guid:
            device["card_guid"] = outcome.card.card_guid
        if confirm is not None:
            # The same ceremony, for one action of the person signed in: no session opens.
            if outcome.certificate is None:
                raise InvalidGrant(REFUSED)
            return service.confirm_grant.confirm(
                confirm,
                Ceremony(
                    user=outcome.user,
                    factor=PIV_FACTOR,
                    amr=PIV_AMR,
                    acr=PIV_ACR,
                    credential=credential_ref("piv", outcome.certificate.fingerprint),
                    device=device,
                    origin=origin,
                ),
                dpop_jkt=jkt,
            )
        try:
            return service.sessions.open_session(
                user=outcome.user,
                client=client,
                factor=PIV_FACTOR,
                amr=PIV_AMR,
                acr=PIV_ACR,
                origin=origin,
                device=device,
                dpop_jkt=jkt,
                credential=(
                    credential_ref("piv", outcome.certificate.fingerprint)
                    if outcome.certificate is not None
                    else None
                ),
            )
        except InvalidGrant as exc:  # disabled between the check and the session
            raise InvalidGrant(REFUSED) from exc

    router = APIRouter()

    @router.post(
        "/login/piv/challenge",
        tags=["login"],
        summary="Start a smart card login: the card's certificate in, a challenge out",
        response_model=ChallengeResponseBody,
        responses=schemas.ERRORS,
        openapi_extra=_CHALLENGE_BODY,
    )
    async def login_piv_challenge(request: Request) -> Response:
        require_json(request)
        certificate, client_id = parse_challenge_request(await request.body())
        outcome = await run_in_threadpool(
            begin, certificate, client_id or DEFAULT_KIOSK_CLIENT_ID, request_origin(request)
        )
        assert outcome.handle is not None  # noqa: S101 - every outcome but those two has both
        assert outcome.challenge is not None  # noqa: S101
        body = {
            "handle": outcome.handle,
            "challenge": b64url_encode(outcome.challenge),
            "expires_in": int(piv().settings.challenge_lifetime),
        }
        return no_store_json(body)

    @router.post(
        "/login/piv",
        tags=["login"],
        summary="Finish a smart card login with the card's signature over the challenge",
        response_model=schemas.TokenResponseBody,
        responses=schemas.ERRORS,
        openapi_extra=_LOGIN_BODY,
    )
    async def login_piv(request: Request) -> Response:
        return await dpop_login(request, service, parse_login_request, complete)

    @router.get("/pki/ca.crl", include_in_schema=False)
    async def ca_crl() -> Response:
        try:
            crl = await run_in_threadpool(lambda: piv().ca_crl())
        except NotFound:
            return Response(
                b"There is no issuing CA yet.\n", status_code=404, media_type="text/plain"
            )
        return crl_response(crl.public_bytes(Encoding.DER), crl)

    router.include_router(_admin_router(services))
    return router


def crl_response(der: bytes, crl: x509.CertificateRevocationList) -> Response:
    """The CRL as a PKI client fetches it (RFC 2585 media type, cacheable briefly)."""
    headers = {
        "Cache-Control": f"public, max-age={int(CRL_CACHE_SECONDS)}",
        "Last-Modified": email.utils.format_datetime(crl.last_update_utc, usegmt=True),
        "ETag": '"' + hashlib.sha256(der).hexdigest()[:32] + '"',
    }
    if crl.next_update_utc is not None:
        headers["Expires"] = email.utils.format_datetime(crl.next_update_utc, usegmt=True)
    return Response(der, media_type="application/pkix-crl", headers=headers)


# -- the admin API -------------------------------------------------------------------------------


class AttestedBody(BaseModel):
    """The card's key attestation (YubiKey PIV ATTEST), as the station read it."""

    attestation: str | None = Field(
        default=None,
        min_length=1,
        max_length=_MAX_ATTESTATION_TEXT,
        description="the card's attestation of the key in slot 9A (the answer to INS F9): "
        "DER, base64url; judged against the service's piv_attestation_roots. Leave it out "
        "when the card refused: piv_require_attestation then refuses the enrollment",
    )
    attestation_intermediate: str | None = Field(
        default=None,
        min_length=1,
        max_length=_MAX_ATTESTATION_TEXT,
        description="the certificate of the card's attestation key F9 (object 5FFF01), "
        "DER, base64url; sent with attestation",
    )

    def evidence(self) -> AttestationEvidence:
        return AttestationEvidence(
            slot_certificate=_optional_b64(self.attestation, "attestation"),
            attestation_certificate=_optional_b64(
                self.attestation_intermediate, "attestation_intermediate"
            ),
        )


class EnrollBody(AttestedBody):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128)
    certificate: str = Field(
        min_length=1, max_length=32 * 1024, description="the card's 9A certificate, DER, base64url"
    )
    card_guid: str | None = Field(default=None, description="the CHUID GUID, hex")
    label: str | None = Field(default=None, min_length=1, max_length=256)


class IssueBody(AttestedBody):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128)
    public_key: str = Field(
        min_length=1,
        max_length=4096,
        description="SubjectPublicKeyInfo (DER, base64url) of the key the admin station "
        "generated in slot 9A: ECC P-256 or RSA-2048",
    )
    card_guid: str | None = Field(default=None, description="the CHUID GUID, hex")
    label: str | None = Field(default=None, min_length=1, max_length=256)


class SetupAuditBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128)
    fingerprint: str = Field(
        pattern="^[0-9a-f]{64}$",
        description="the card enrolled just before (its certificate's SHA-256, lower-case hex)",
    )
    steps: list[str] = Field(
        min_length=1,
        max_length=len(SETUP_STEPS),
        description="what the station did, in order: " + ", ".join(sorted(SETUP_STEPS)),
    )
    card_guid: str | None = Field(default=None, description="the CHUID GUID, hex")


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fingerprint: str = Field(
        min_length=8, max_length=128, description="SHA-256 of the certificate (or its start)"
    )


@fields_of(PivCardInfo)
class CardBody(BaseModel):
    pass


class AttestationVerdictBody(BaseModel):
    status: str = Field(description="attested or not_attested")
    reason: str = Field(description="one sentence for a person")
    root: str | None = Field(default=None, description="the root that vouched, RFC 4514")


class EnrolledCardBody(CardBody):
    attestation: AttestationVerdictBody = Field(
        description="the service's verdict on the card's key attestation"
    )


class SetupAuditedBody(BaseModel):
    recorded: bool


class RevokedCardBody(CardBody):
    sessions_ended: int = Field(
        description="how many sessions the revoked credential had opened that this ended"
    )


class IssueResponseBody(BaseModel):
    card: CardBody
    certificate: str = Field(description="the issued certificate, DER, base64url")
    certificate_pem: str
    attestation: AttestationVerdictBody = Field(
        description="the service's verdict on the card's key attestation"
    )


class CardListBody(BaseModel):
    cards: list[CardBody]


class CaCertificateBody(BaseModel):
    fingerprint: str
    subject: str
    not_before: float
    not_after: float
    source: str
    active: bool
    certificate_pem: str


class CaResponseBody(BaseModel):
    issuing_cas: list[CaCertificateBody]
    trust_anchors: list[CaCertificateBody]


_ADMIN_ERRORS = schemas.admin_errors(
    bad_input="bad input, or a certificate refused",
    not_found="unknown user or card",
    conflict="already enrolled, or already revoked",
)
_call = AdminWork(
    (NotFound, 404, "not_found"),
    (PivConflict, 409, "conflict"),
    (PivError, 400, "invalid_request"),
)


def _guid(value: str | None) -> str | None:
    if value is None:
        return None
    if not _GUID.fullmatch(value):
        raise AdminApiError(400, "invalid_request", "card_guid must be hex (the CHUID GUID).")
    return value.lower()


def _b64(value: str, name: str) -> bytes:
    try:
        return decode_b64url(value, name)
    except InvalidRequest as exc:
        raise AdminApiError(400, "invalid_request", exc.message) from exc


def _optional_b64(value: str | None, name: str) -> bytes | None:
    return None if value is None else _b64(value, name)


def _verdict(verdict: AttestationVerdict) -> dict[str, Any]:
    return {"status": verdict.status, "reason": verdict.reason, "root": verdict.root}


def _public_key(der: bytes) -> PivPublicKey:
    try:
        key = load_der_public_key(der)
    except (ValueError, TypeError) as exc:
        raise AdminApiError(
            400, "invalid_request", "public_key is not a DER SubjectPublicKeyInfo."
        ) from exc
    if key_algorithm(key) is None:
        raise AdminApiError(400, "invalid_request", "public_key is neither ECC P-256 nor RSA-2048.")
    assert isinstance(key, PivPublicKey)  # noqa: S101 - key_algorithm checked it
    return key


def _admin_router(services: Services) -> APIRouter:
    piv = services.piv_service
    router = admin_router(
        services, prefix="/admin/piv", tags=["admin: piv"], responses=_ADMIN_ERRORS
    )

    @admin_post(
        router,
        "/cards",
        EnrollBody,
        status_code=201,
        summary="Enroll the certificate a card already holds (slot 9A)",
        response_model=EnrolledCardBody,
    )
    async def enroll(request: Request, who: AdminPrincipal, body: EnrollBody) -> Response:
        certificate = _b64(body.certificate, "certificate")
        guid = _guid(body.card_guid)
        evidence = body.evidence()
        origin = request_origin(request)

        def work() -> tuple[PivCardInfo, AttestationVerdict]:
            service = piv()
            public_key = card_public_key(load_certificate(certificate))
            verdict = service.judge_attestation(
                public_key,
                evidence,
                username=body.username,
                by=who.actor,
                origin=origin,
                card_guid=guid,
            )
            info = service.register(
                body.username,
                certificate,
                by=who.actor,
                origin=origin,
                card_guid=guid,
                label=body.label,
                attestation=verdict,
            )
            return info, verdict

        info, verdict = await _call(work)
        return no_store_json({**info.to_json(), "attestation": _verdict(verdict)}, 201)

    @admin_post(
        router,
        "/issue",
        IssueBody,
        status_code=201,
        summary="Certify a key generated on a card, from the issuing CA, and enroll it",
        response_model=IssueResponseBody,
    )
    async def issue(request: Request, who: AdminPrincipal, body: IssueBody) -> Response:
        public_key = _public_key(_b64(body.public_key, "public_key"))
        guid = _guid(body.card_guid)
        evidence = body.evidence()
        origin = request_origin(request)

        def work() -> tuple[PivCardInfo, x509.Certificate, AttestationVerdict]:
            service = piv()
            verdict = service.judge_attestation(
                public_key,
                evidence,
                username=body.username,
                by=who.actor,
                origin=origin,
                card_guid=guid,
            )
            info, certificate = service.issue(
                body.username,
                public_key,
                by=who.actor,
                origin=origin,
                card_guid=guid,
                label=body.label,
                attestation=verdict,
            )
            return info, certificate, verdict

        info, certificate, verdict = await _call(work)
        return no_store_json(
            {
                "card": info.to_json(),
                "certificate": b64url_encode(certificate.public_bytes(Encoding.DER)),
                "certificate_pem": certificate.public_bytes(Encoding.PEM).decode("ascii"),
                "attestation": _verdict(verdict),
            },
            201,
        )

    @admin_post(
        router,
        "/setup-audit",
        SetupAuditBody,
        status_code=201,
        summary="Record what the station did to set up a card it just enrolled",
        response_model=SetupAuditedBody,
    )
    async def setup_audit(request: Request, who: AdminPrincipal, body: SetupAuditBody) -> Response:
        guid = _guid(body.card_guid)
        await _call(
            lambda: piv().record_card_setup(
                body.username,
                body.steps,
                by=who.actor,
                origin=request_origin(request),
                card_guid=guid,
                fingerprint=body.fingerprint,
            )
        )
        return no_store_json({"recorded": True}, 201)

    @router.get(
        "/cards",
        summary="List enrolled cards, all or one person's",
        response_model=CardListBody,
    )
    async def cards(request: Request, username: str | None = None) -> Response:
        check_plain_text("username", username)
        infos = await _call(lambda: piv().cards(username))
        return no_store_json({"cards": [info.to_json() for info in infos]})

    @admin_post(
        router,
        "/revoke",
        RevokeBody,
        summary="Revoke a card for good (by its certificate fingerprint) and end its sessions",
        response_model=RevokedCardBody,
    )
    async def revoke(request: Request, who: AdminPrincipal, body: RevokeBody) -> Response:
        done = await _call(
            lambda: piv().revoke(body.fingerprint, by=who.actor, origin=request_origin(request))
        )
        return no_store_json({**done.info.to_json(), "sessions_ended": done.sessions_ended})

    @router.get(
        "/ca",
        summary="The issuing CAs (active first) and the trust anchors",
        response_model=CaResponseBody,
    )
    async def ca(request: Request) -> Response:
        def work() -> dict[str, Any]:
            current = piv()
            return {
                "issuing_cas": [info.to_json() for info in current.issuing_cas()],
                "trust_anchors": [info.to_json() for info in current.trust_anchors()],
            }

        return no_store_json(await _call(work))

    return router
