"""Every error Tokenstile raises on purpose: one tree under ``TokenstileError``, each class
with a stable ``code``.

The whole tree, every class with the module (under ``tokenstile``) that defines it and its
``code``; an ``OAuthError`` also shows its HTTP status where it differs from its parent's
(``tests/unit/test_error_tree.py`` checks that this drawing names every class).
``AuthorizeError`` takes its ``error`` per instance (``login_required``...) and goes back
to the app's redirect URI, or onto an error page, never as JSON::

    class                              module                    code
    TokenstileError                    errors                    tokenstile_error
    ├── ConfigError                    errors                    config_error
    │   └── RedirectUriRefused         tokens.redirect_uris      redirect_uri_refused
    ├── StoreError                     errors                    store_error
    │   ├── StoreUnavailable           errors                    store_unavailable
    │   ├── StoreNotInitialised        errors                    store_not_initialised
    │   ├── NotFound                   errors                    not_found
    │   ├── OtpConflict                factors.otp_tx            otp_conflict
    │   │   └── OtpSerialTaken         factors.otp_tx            otp_conflict
    │   ├── PivConflict                factors.piv_port          piv_conflict
    │   ├── WebAuthnConflict           factors.webauthn_service  webauthn_conflict
    │   ├── AdminConflict              store.admin_repository    admin_conflict
    │   │   └── DirectoryOwned         store.admin_repository    directory_owned
    │   ├── ScimConflict               store.scim_repository     scim_conflict
    │   ├── ScimInvalid                store.scim_repository     scim_invalid
    │   └── ScimStale                  store.scim_repository     scim_stale
    ├── KeyEncryptionError             errors                    kek_mismatch
    ├── DirectoryError                 tokens.directory          directory_error
    │   ├── DirectoryUnreachable       tokens.directory          directory_unreachable
    │   ├── DirectoryBindRefused       tokens.directory          directory_bind_refused
    │   ├── DirectoryTlsRefused        tokens.directory          directory_tls_refused
    │   └── DirectoryBusy              tokens.directory          directory_sync_busy
    ├── JwksUnavailable                errors                    jwks_unavailable
    ├── OriginMismatch                 errors                    origin_mismatch
    ├── OAuthError                     errors                    server_error (400)
    │   ├── InvalidRequest             errors                    invalid_request
    │   ├── InvalidClient              errors                    invalid_client (401)
    │   ├── InvalidGrant               errors                    invalid_grant
    │   │   └── SessionParked          errors                    session_parked
    │   ├── UnauthorizedClient         errors                    unauthorized_client
    │   │   └── OfflineLeasesOff       factors.offline_lease     offline_disabled (404)
    │   ├── UnsupportedGrantType       errors                    unsupported_grant_type
    │   ├── UnsupportedTokenType       errors                    unsupported_token_type
    │   ├── InvalidScope               errors                    invalid_scope
    │   ├── InvalidTarget              errors                    invalid_target
    │   │   └── InsufficientAssurance  errors                    invalid_target
    │   ├── InsufficientUserAuthentication errors                insufficient_user_authentication
    │   ├── TemporarilyUnavailable     errors                    temporarily_unavailable (503)
    │   ├── RateLimited                errors                    slow_down (429)
    │   ├── ServerError                errors                    server_error (500)
    │   ├── InvalidToken               errors                    invalid_token (401)
    │   │   ├── MalformedToken         errors                    token_malformed
    │   │   ├── TokenTooLarge          errors                    token_too_large
    │   │   ├── UnsupportedAlgorithm   errors                    token_bad_alg
    │   │   ├── ForbiddenHeader        errors                    token_forbidden_header
    │   │   ├── WrongTokenType         errors                    token_wrong_typ
    │   │   ├── UnknownKey             errors                    token_unknown_kid
    │   │   ├── BadSignature           errors                    token_bad_signature
    │   │   ├── InvalidClaim           errors                    token_invalid_claim
    │   │   ├── TokenExpired           errors                    token_expired
    │   │   ├── TokenNotYetValid       errors                    token_not_yet_valid
    │   │   └── DpopProofError         tokens.dpop               invalid_dpop_proof (400)
    │   ├── AuthorizeError             tokens.authorization_code authorize_refused
    │   ├── BearerError                server.admin_auth         invalid_bearer_token (401)
    │   └── AdminApiError              server.admin_auth         admin_request_refused
    ├── ServerAnswer                   broker.client             server_answer
    ├── BrokerError                    broker.errors             broker_error
    │   ├── NotLoggedIn                broker.errors             not_logged_in
    │   ├── SignedInOffline            broker.errors             signed_in_offline
    │   ├── Parked                     broker.errors             parked
    │   ├── ParkingFull                broker.errors             parking_full
    │   ├── ServerUnreachable          broker.errors             server_unreachable
    │   ├── KeychainUnavailable        broker.errors             keychain_unavailable
    │   │   └── KeychainLocked         broker.errors             keychain_locked
    │   ├── ServerRefusal              broker.errors             broker_error
    │   │   ├── LoginRefused           broker.errors             login_refused
    │   │   │   └── TapRefused             broker.errors             tap_refused
    │   │   └── TokenRefused           broker.errors             token_refused
    │   ├── ServiceError               broker.errors             service_error
    │   └── ConfirmFailed              broker.errors             confirm_failed
    ├── DemoError                      demo.errors               demo_error
    ├── DemoSessionError               demo.session              demo_session_error
    ├── DeviceError                    devices.errors            device_error
    │   ├── PcscUnavailable            devices.errors            pcsc_unavailable
    │   ├── NoReader                   devices.errors            no_reader
    │   ├── NoCard                     devices.errors            no_card
    │   ├── CardRemoved                devices.errors            card_removed
    │   ├── CardReset                  devices.errors            card_reset
    │   ├── CardInUse                  devices.errors            card_in_use
    │   ├── CardCommunicationError     devices.errors            card_io_error
    │   ├── NotPivCard                 devices.errors            not_piv_card
    │   ├── InvalidCardData            devices.errors            invalid_card_data
    │   ├── CardSetupInterrupted       devices.errors            card_setup_interrupted
    │   ├── UnsupportedKey             devices.errors            unsupported_key
    │   ├── InvalidPinFormat           devices.errors            invalid_pin_format
    │   ├── NoSecurityKey              devices.errors            no_security_key
    │   ├── CardCommandError           devices.errors            card_command_failed
    │   │   ├── WrongPin               devices.errors            wrong_pin
    │   │   ├── PinBlocked             devices.errors            pin_blocked
    │   │   ├── WrongPuk               devices.errors            wrong_puk
    │   │   ├── PukBlocked             devices.errors            puk_blocked
    │   │   ├── PinRequired            devices.errors            pin_required
    │   │   ├── ManagementKeyRejected  devices.errors            management_key_rejected
    │   │   └── ObjectNotFound         devices.errors            object_not_found
    │   │       └── NoCertificate      devices.errors            no_certificate
    │   ├── SecurityKeyError           devices.fido2_errors      security_key_error
    │   │   ├── KeyWrongPin            devices.fido2_errors      key_wrong_pin
    │   │   ├── KeyPinBlocked          devices.fido2_errors      key_pin_blocked
    │   │   ├── KeyPinAuthBlocked      devices.fido2_errors      key_pin_auth_blocked
    │   │   ├── KeyPinNotSet           devices.fido2_errors      key_pin_not_set
    │   │   ├── KeyPinRequired         devices.fido2_errors      key_pin_required
    │   │   ├── KeyPinPolicy           devices.fido2_errors      key_pin_policy
    │   │   ├── KeyUvBlocked           devices.fido2_errors      key_uv_blocked
    │   │   ├── KeyUvFailed            devices.fido2_errors      key_uv_failed
    │   │   ├── KeyTimedOut            devices.fido2_errors      key_timed_out
    │   │   ├── KeyCancelled           devices.fido2_errors      key_cancelled
    │   │   ├── KeyRemoved             devices.fido2_errors      key_removed
    │   │   ├── KeyNoCredential        devices.fido2_errors      key_no_credential
    │   │   ├── KeyAlreadyEnrolled     devices.fido2_errors      key_already_enrolled
    │   │   ├── KeyDenied              devices.fido2_errors      key_denied
    │   │   ├── KeyUnsupported         devices.fido2_errors      key_unsupported
    │   │   └── KeyCommunicationError  devices.fido2_errors      key_io_error
    │   ├── PinEntryCancelled          devices.piv_login         pin_entry_cancelled
    │   ├── OfflineSignInRefused       devices.offline_login     offline_sign_in_refused
    │   └── ForeignChallengeRefused    devices.piv_login         piv_foreign_challenge
    ├── OtpError                       factors.otp               otp_error
    │   ├── InvalidOtpParameters       factors.otp               otp_bad_parameters
    │   ├── InvalidOtpSecret           factors.otp               otp_bad_secret
    │   ├── OtpResyncFailed            factors.otp               otp_resync_failed
    │   └── OtpCodeRefused             factors.otp_tx            otp_code_refused
    ├── PivError                       factors.piv               piv_error
    │   ├── MalformedCertificate       factors.piv               piv_malformed_certificate
    │   ├── CertificateRefused         factors.piv               piv_certificate_refused
    │   ├── UnsupportedPublicKey       factors.piv               piv_unsupported_key
    │   ├── IssuingCaError             factors.piv               piv_ca_error
    │   ├── RevocationUnavailable      factors.piv_revocation    piv_revocation_unavailable
    │   │   └── FetchFailed            factors.piv_revocation    piv_revocation_fetch_failed
    │   ├── CertificateRevoked         factors.piv_revocation    piv_certificate_revoked
    │   └── PivAttestationError        factors.piv_attestation   piv_attestation_failed
    ├── NotAServiceUrl                 protocol.piv_message      not_a_service_url
    ├── ForeignChallenge               protocol.piv_message      piv_foreign_message
    ├── LeaseInvalid                   protocol.offline_lease    offline_lease_invalid
    ├── ConfirmChannelError            protocol.confirm          confirm_channel
    ├── WebAuthnError                  factors.webauthn          webauthn_error
    │   ├── MalformedResponse          factors.webauthn          webauthn_malformed
    │   ├── ChallengeRefused           factors.webauthn          webauthn_challenge
    │   ├── CeremonyRejected           factors.webauthn          webauthn_rejected
    │   ├── MetadataRefused            factors.webauthn_metadata fido2_metadata_refused
    │   │   └── MetadataNotNewer       factors.webauthn_metadata fido2_metadata_not_newer
    │   └── MetadataUnavailable        factors.webauthn_metadata fido2_metadata_unavailable
    ├── NotAdmin                       kiosk.admin.session       not_admin
    ├── SessionEnded                   kiosk.admin.session       session_ended
    ├── TaskCancelled                  kiosk.admin.session       task_cancelled
    ├── JwkFormatError                 tokens.jose               jwk_format
    ├── StatusWordError                virtual.apdu              status_word
    ├── VirtualKeyFileError            virtual.key_file          virtual_key_file
    ├── KeyOperationError              virtual.piv_keys          key_operation
    ├── TlvError                       virtual.piv_objects       tlv_malformed
    ├── VirtualCardFileError           virtual.piv_state         virtual_card_file
    └── VpcdError                      virtual.vpcd              vpcd_unavailable

``OAuthError`` is every error the token service answers with: it carries its HTTP
``status``, its ``code`` is the answer's ``error`` value (``BearerError`` and
``AdminApiError`` take theirs per instance), and its ``headers`` keep it out of caches and
add its challenge. The server renders every error through one exception handler
(``server.app``), the rate limits' 429 (``RateLimited``) too: an ``OAuthError`` as it is,
``StoreUnavailable`` as
``TemporarilyUnavailable``, anything else as ``ServerError`` without detail. The messages
are written for the person reading them and never contain a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# Every answer that carries a token, a challenge or an error (RFC 6749 section 5.1).
NO_STORE: Final[Mapping[str, str]] = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenstileError(Exception):
    """Root of every error Tokenstile raises on purpose."""

    code: str = "tokenstile_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(TokenstileError):
    code = "config_error"


class StoreError(TokenstileError):
    code = "store_error"


class StoreUnavailable(StoreError):
    """The database cannot serve now; ``reason`` says why: ``unreachable`` (no connection,
    or it broke), ``busy`` (no free connection), ``disk_full`` or ``read_only``."""

    code = "store_unavailable"

    def __init__(self, message: str, *, reason: str = "unreachable") -> None:
        super().__init__(message)
        self.reason = reason


class StoreNotInitialised(StoreError):
    code = "store_not_initialised"


class NotFound(StoreError):
    code = "not_found"


class KeyEncryptionError(TokenstileError):
    """The key-encryption key cannot open what is stored (wrong KEK or tampered data)."""

    code = "kek_mismatch"


class JwksUnavailable(TokenstileError):
    code = "jwks_unavailable"


class OriginMismatch(TokenstileError):
    """The WebAuthn rp id a server announces (or a configured pin) does not belong to the
    server URL the person named: a security-key login there is refused before the key is
    touched (:mod:`tokenstile.broker.origin`)."""

    code = "origin_mismatch"


class OAuthError(TokenstileError):
    """An error that goes on the wire as RFC 6749 section 5.2 JSON: its HTTP ``status``,
    ``code`` as the ``error`` value, the message as ``error_description``, ``extra`` body
    members, and headers that keep it out of every cache (plus a ``challenge``, if any).

    The server renders every one through its one exception handler; ``headers`` given
    here replace the whole header set (a challenge that must come first)."""

    code = "server_error"
    status: int = 400

    def __init__(
        self,
        description: str,
        *,
        status: int | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        if status is not None:
            self.status = status
        self.extra = dict(extra or {})
        self._headers = None if headers is None else dict(headers)

    def to_json(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.message, **self.extra}

    def challenge(self) -> dict[str, str]:
        """Headers after ``NO_STORE``: a ``WWW-Authenticate`` or a ``Retry-After``."""
        return {}

    def headers(self) -> dict[str, str]:
        if self._headers is not None:
            return dict(self._headers)
        return {**NO_STORE, **self.challenge()}


class InvalidRequest(OAuthError):
    code = "invalid_request"


class InvalidClient(OAuthError):
    code = "invalid_client"
    status = 401

    def challenge(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="tokenstile"'}


class InvalidGrant(OAuthError):
    code = "invalid_grant"


class SessionParked(InvalidGrant):
    """The session is parked at its kiosk (``tokens.parking``): no refresh, exchange or
    introspection until the person resumes it; its own code so that a client can tell it
    from an ended session (nothing to clear, the person comes back)."""

    code = "session_parked"


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"


class UnsupportedTokenType(OAuthError):
    code = "unsupported_token_type"


class InvalidScope(OAuthError):
    code = "invalid_scope"


class InvalidTarget(OAuthError):
    code = "invalid_target"


class InsufficientAssurance(InvalidTarget):
    """The session's ``acr`` is below the audience's minimum."""


class InsufficientUserAuthentication(OAuthError):
    """The sign-in is too old (``max_age``) or too weak (``acr_values``) for what the
    request asked: the error code of RFC 9470 (step-up authentication), so the app can
    ask the person to confirm with their factor."""

    code = "insufficient_user_authentication"


class TemporarilyUnavailable(OAuthError):
    """The service cannot answer now; ``retry_after`` (seconds) goes in ``Retry-After``."""

    code = "temporarily_unavailable"
    status = 503

    def __init__(self, description: str, *, retry_after: str | None = None) -> None:
        super().__init__(description)
        self.retry_after = retry_after

    def challenge(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": self.retry_after}


class RateLimited(OAuthError):
    """Too many requests from one client address (``server.rate_limit``); ``retry_after``
    (seconds) goes in ``Retry-After``."""

    code = "slow_down"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests from this address; retry in {retry_after} seconds.")
        self.retry_after = retry_after

    def challenge(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServerError(OAuthError):
    """What the server answers for an error it did not mean to show: 500, no detail."""

    code = "server_error"
    status = 500


class InvalidToken(OAuthError):
    """An access token a resource server must refuse (RFC 6750 section 3.1 ``invalid_token``);
    each subclass names the reason in its ``code``."""

    code = "invalid_token"
    status = 401


class MalformedToken(InvalidToken):
    code = "token_malformed"


class TokenTooLarge(InvalidToken):
    code = "token_too_large"


class UnsupportedAlgorithm(InvalidToken):
    code = "token_bad_alg"


class ForbiddenHeader(InvalidToken):
    code = "token_forbidden_header"


class WrongTokenType(InvalidToken):
    code = "token_wrong_typ"


class UnknownKey(InvalidToken):
    code = "token_unknown_kid"


class BadSignature(InvalidToken):
    code = "token_bad_signature"


class InvalidClaim(InvalidToken):
    code = "token_invalid_claim"

    def __init__(self, claim: str, message: str) -> None:
        super().__init__(message)
        self.claim = claim


class TokenExpired(InvalidToken):
    code = "token_expired"


class TokenNotYetValid(InvalidToken):
    code = "token_not_yet_valid"
