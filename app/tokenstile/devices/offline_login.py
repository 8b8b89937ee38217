"""Offline sign-in's checks (issue 17): the two login steps the token service would run,
run on the kiosk against its offline lease (``protocol.offline_lease``) while the service
cannot be reached.

:class:`OfflineKeyLogin` stands in for the service in
:func:`~tokenstile.devices.key_ceremonies.login_with_key`: ``begin`` makes request
options with a fresh challenge the kiosk keeps (single use, two minutes; dated, so the
service later learns from the signature when the sign-in happened), user
verification **required** (the key's PIN or built-in check; a touch alone is not a
sign-in), for the lease's rp id; ``complete`` checks the assertion as the service does
(python-fido2's ``Fido2Server``: the challenge, the type, the origin, the rp id hash, user
presence and verification, the signature with the public key the lease lists) and that
the key's signature counter moved past both the lease's and every count this kiosk has
seen since (a cloned key's replay is refused). What it returns is an
:class:`OfflineSignIn`, which names the person as the lease does and keeps the evidence
(the key's whole answer) for the service to check again when the link returns.

:class:`OfflineCardLogin` stands in for the service in
:func:`~tokenstile.devices.piv_login.login_with_card` the same way: the card's
certificate must be one the lease lists (by its SHA-256 fingerprint) and within its
validity; the kiosk draws the 32-byte challenge, and the card's signature over the login
message (which names the service's origin, as online) must verify with that certificate's
key. The card itself refuses to sign without its PIN.

These are the only factor checks that run outside the service, and they are only as
current as the lease: a key revoked after the lease was signed still signs in here until
the next lease (the documented limit).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fido2 import cbor
from fido2.cose import CoseKey
from fido2.server import Fido2Server
from fido2.webauthn import (
    Aaguid,
    AttestedCredentialData,
    AuthenticationResponse,
    PublicKeyCredentialRpEntity,
    UserVerificationRequirement,
)

from tokenstile.clock import Clock
from tokenstile.devices.errors import DeviceError
from tokenstile.protocol.jose import b64url_encode
from tokenstile.protocol.offline_lease import Lease, offline_challenge
from tokenstile.protocol.piv_message import (
    PivChallenge,
    card_signature_verifies,
    login_message,
    service_origin,
)

CHALLENGE_SECONDS = 120.0
MAX_PENDING = 16
OFFLINE_ACR = "phr"  # a hardware key with its PIN, checked by the kiosk, not the service


class OfflineSignInRefused(DeviceError):
    """The kiosk's own check of an offline sign-in failed; the message says why."""

    code = "offline_sign_in_refused"


@dataclass(frozen=True, slots=True)
class OfflineSignIn:
    username: str
    display_name: str
    factor: str  # "fido2" or "piv"
    credential: str  # the key's credential id (base64url) or the card's fingerprint
    amr: tuple[str, ...]
    acr: str
    auth_time: float
    lease_id: str
    evidence: Mapping[str, Any] = field(repr=False)  # what the device answered


class OfflineKeyLogin:
    """The service's security-key login steps, checked against ``lease`` on this kiosk.

    ``counters``: the highest signature count this kiosk has seen per credential id
    (base64url), kept with the lease by the caller; updated on each sign-in."""

    def __init__(
        self,
        lease: Lease,
        *,
        origin: str,
        clock: Clock,
        counters: MutableMapping[str, int] | None = None,
    ) -> None:
        self._lease = lease
        self._origin = origin
        self._clock = clock
        self._counters: MutableMapping[str, int] = counters if counters is not None else {}
        self._server = Fido2Server(PublicKeyCredentialRpEntity(id=lease.rp_id, name="Tokenstile"))
        self._pending: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return self._origin

    def begin(self) -> dict[str, Any]:
        now = self._clock.now()
        if self._lease.expires_at <= now:
            raise OfflineSignInRefused(
                "The kiosk's offline list has expired: sign-in waits for the token service."
            )
        options, state = self._server.authenticate_begin(
            user_verification=UserVerificationRequirement.REQUIRED,
            challenge=offline_challenge(now),
        )
        handle = secrets.token_urlsafe(16)
        with self._lock:
            self._pending = {h: p for h, p in self._pending.items() if p[1] > now}
            if len(self._pending) >= MAX_PENDING:
                raise OfflineSignInRefused("Too many offline sign-ins at once.")
            self._pending[handle] = (state, now + CHALLENGE_SECONDS)
        public_key = {
            k: str(v) if k == "userVerification" else v for k, v in dict(options.public_key).items()
        }
        return {"handle": handle, "publicKey": public_key}

    def complete(self, handle: Any, credential: Mapping[str, Any]) -> OfflineSignIn:
        now = self._clock.now()
        with self._lock:
            pending = self._pending.pop(str(handle), None)
        if pending is None or pending[1] <= now:
            raise OfflineSignInRefused("That offline sign-in has expired: try again.")
        if self._lease.expires_at <= now:
            raise OfflineSignInRefused(
                "The kiosk's offline list has expired: sign-in waits for the token service."
            )
        try:
            answer = AuthenticationResponse.from_dict(credential)
        except (KeyError, TypeError, ValueError) as exc:
            raise OfflineSignInRefused("The security key's answer cannot be read.") from exc
        entry = self._lease.key(answer.raw_id)
        if entry is None:
            raise OfflineSignInRefused(
                "This security key is not on the kiosk's offline list: it signs in "
                "when the token service can be reached again."
            )
        public_key = _cose_key(entry.public_key)
        known = AttestedCredentialData.create(Aaguid.NONE, entry.credential_id, public_key)
        try:
            self._server.authenticate_complete(pending[0], [known], credential)
        except ValueError as exc:
            raise OfflineSignInRefused(f"The security key's answer was refused: {exc}") from exc
        ref = b64url_encode(entry.credential_id)
        count = answer.response.authenticator_data.counter
        with self._lock:
            last = max(entry.sign_count, self._counters.get(ref, 0))
            if (count or last) and count <= last:
                raise OfflineSignInRefused(
                    "The security key's signature counter went backwards: it may have "
                    "been copied, so it cannot sign in offline."
                )
            self._counters[ref] = count
        return OfflineSignIn(
            username=entry.username,
            display_name=entry.display_name,
            factor="fido2",
            credential=ref,
            amr=("hwk", "pin"),
            acr=OFFLINE_ACR,
            auth_time=now,
            lease_id=self._lease.lease_id,
            evidence=dict(credential),
        )


def _cose_key(encoded: bytes) -> CoseKey:
    try:
        decoded = cbor.decode(encoded)
        if isinstance(decoded, Mapping):
            return CoseKey.parse(decoded)
    except (KeyError, TypeError, ValueError) as exc:
        raise OfflineSignInRefused("The offline list holds an unusable key.") from exc
    raise OfflineSignInRefused("The offline list holds an unusable key.")


class OfflineCardLogin:
    """The service's PIV login steps, checked against ``lease`` on this kiosk."""

    def __init__(self, lease: Lease, *, origin: str, clock: Clock) -> None:
        self._lease = lease
        self._origin = service_origin(origin)
        self._clock = clock
        self._pending: dict[str, tuple[x509.Certificate, bytes, str, float]] = {}
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return self._origin

    def begin(self, certificate: bytes) -> PivChallenge:
        now = self._clock.now()
        if self._lease.expires_at <= now:
            raise OfflineSignInRefused(
                "The kiosk's offline list has expired: sign-in waits for the token service."
            )
        fingerprint = hashlib.sha256(certificate).hexdigest()
        if self._lease.card(fingerprint) is None:
            raise OfflineSignInRefused(
                "This card is not on the kiosk's offline list: it signs in when the "
                "token service can be reached again."
            )
        try:
            parsed = x509.load_der_x509_certificate(certificate)
        except ValueError as exc:
            raise OfflineSignInRefused("The card's certificate cannot be read.") from exc
        valid_from = parsed.not_valid_before_utc.timestamp()
        valid_to = parsed.not_valid_after_utc.timestamp()
        if not valid_from <= now < valid_to:
            raise OfflineSignInRefused("The card's certificate is not valid now.")
        handle = secrets.token_urlsafe(16)
        challenge = offline_challenge(now)
        with self._lock:
            self._pending = {h: p for h, p in self._pending.items() if p[3] > now}
            if len(self._pending) >= MAX_PENDING:
                raise OfflineSignInRefused("Too many offline sign-ins at once.")
            self._pending[handle] = (parsed, challenge, fingerprint, now + CHALLENGE_SECONDS)
        return PivChallenge(handle=handle, challenge=challenge, expires_in=CHALLENGE_SECONDS)

    def complete(self, handle: str, signature: bytes) -> OfflineSignIn:
        now = self._clock.now()
        with self._lock:
            pending = self._pending.pop(handle, None)
        if pending is None or pending[3] <= now:
            raise OfflineSignInRefused("That offline sign-in has expired: try again.")
        certificate, challenge, fingerprint, _ = pending
        entry = self._lease.card(fingerprint)
        if entry is None or self._lease.expires_at <= now:
            raise OfflineSignInRefused(
                "The kiosk's offline list has expired: sign-in waits for the token service."
            )
        message = login_message(self._origin, challenge)
        if not card_signature_verifies(certificate, message, signature):
            raise OfflineSignInRefused("The card's signature does not verify.")
        return OfflineSignIn(
            username=entry.username,
            display_name=entry.display_name,
            factor="piv",
            credential=fingerprint,
            amr=("sc", "pin"),
            acr=OFFLINE_ACR,
            auth_time=now,
            lease_id=self._lease.lease_id,
            evidence={
                "challenge": b64url_encode(challenge),
                "signature": b64url_encode(signature),
                "certificate": b64url_encode(certificate.public_bytes(serialization.Encoding.DER)),
            },
        )
