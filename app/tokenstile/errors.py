"""Every error Tokenstile raises on purpose, with a stable ``code``.

The tree::

    TokenstileError                    code
    ├── ConfigError                    config_error
    ├── StoreError                     store_error
    │   ├── StoreUnavailable           store_unavailable
    │   ├── StoreNotInitialised        store_not_initialised
    │   └── NotFound                   not_found
    ├── KeyEncryptionError             kek_mismatch
    ├── InvalidToken                   invalid_token   (what a resource server sees)
    │   ├── MalformedToken             token_malformed
    │   ├── TokenTooLarge              token_too_large
    │   ├── UnsupportedAlgorithm       token_bad_alg
    │   ├── ForbiddenHeader            token_forbidden_header
    │   ├── WrongTokenType             token_wrong_typ
    │   ├── UnknownKey                 token_unknown_kid
    │   ├── BadSignature               token_bad_signature
    │   ├── InvalidClaim               token_invalid_claim
    │   ├── TokenExpired               token_expired
    │   └── TokenNotYetValid           token_not_yet_valid
    ├── JwksUnavailable                jwks_unavailable
    ├── OriginMismatch                 origin_mismatch (a server pretends to be another)
    └── OAuthError                     the RFC 6749 ``error`` value
        ├── InvalidRequest             invalid_request
        ├── InvalidClient              invalid_client       (401)
        ├── InvalidGrant               invalid_grant
        ├── UnauthorizedClient         unauthorized_client
        ├── UnsupportedGrantType       unsupported_grant_type
        ├── InvalidScope               invalid_scope
        ├── InvalidTarget              invalid_target       (RFC 8707)
        └── InsufficientAssurance      invalid_target with an acr explanation

The server turns an ``OAuthError`` into RFC 6749 section 5.2 JSON in one handler; the
messages are written for the person reading them and never contain a secret.
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


class TemporarilyUnavailable(OAuthError):
    """The service cannot answer now; ``retry_after`` (seconds) goes in ``Retry-After``."""

    code = "temporarily_unavailable"
    status = 503

    def __init__(self, description: str, *, retry_after: str | None = None) -> None:
        super().__init__(description)
        self.retry_after = retry_after

    def challenge(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": self.retry_after}


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
