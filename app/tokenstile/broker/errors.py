"""What the broker raises on purpose (all ``TokenstileError``\\ s with a stable ``code``).

The tree::

    BrokerError                 broker_error
    ├── NotLoggedIn             not_logged_in        no session, or the server ended it
    ├── Parked                  parked               the person stepped away: the session
    │                                                is parked at the kiosk, not served
    ├── ParkingFull             parking_full         as many people are parked as allowed
    ├── ServerUnreachable       server_unreachable   no answer, and no cached token to serve
    ├── KeychainUnavailable     keychain_unavailable the message names the fix
    │   └── KeychainLocked      keychain_locked      its collection is locked (unlock asks)
    ├── ServerRefusal           broker_error         the server answered an OAuth error
    │   ├── LoginRefused        login_refused        the server said no to a login
    │   └── TokenRefused        token_refused        the server said no to a token request
    │                                                (exchange: audience, scope, acr)
    ├── ServiceError            service_error        an admin API call failed (status, error)
    └── ConfirmFailed           confirm_failed       the kiosk gave no confirm token; ``reason``
                                                     says why (cancelled, not_signed_in,
                                                     busy, refused, invalid_request,
                                                     unavailable)

Errors of the devices (``tokenstile.devices``: wrong PIN, key removed...) pass through
unchanged.
"""

from __future__ import annotations

from tokenstile.errors import TokenstileError


class BrokerError(TokenstileError):
    code = "broker_error"


class NotLoggedIn(BrokerError):
    code = "not_logged_in"


class SignedInOffline(BrokerError):
    """The session was opened offline at the kiosk: only the apps of this workstation are
    served (its own token), nothing that needs the token service."""

    code = "signed_in_offline"


class Parked(BrokerError):
    """The kiosk parked the session (``kiosk_park_sessions``): its tokens are not served
    until the person signs in again at the kiosk; ``names`` are the parked people."""

    code = "parked"

    def __init__(self, message: str, *, names: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.names = names


class ParkingFull(BrokerError):
    """Parking one more person would pass ``kiosk_park_max``."""

    code = "parking_full"


class ServerUnreachable(BrokerError):
    code = "server_unreachable"
    #: True when the request may have reached the server (its answer was lost).
    maybe_delivered: bool = False


class KeychainUnavailable(BrokerError):
    code = "keychain_unavailable"


class KeychainLocked(KeychainUnavailable):
    """The keychain's collection is locked: unlocking it may ask the person."""

    code = "keychain_locked"


class ServerRefusal(BrokerError):
    """The server answered with an OAuth error: ``oauth_error`` is its ``error`` member."""

    def __init__(self, message: str, *, oauth_error: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.oauth_error = oauth_error
        self.retry_after = retry_after


class LoginRefused(ServerRefusal):
    """A login failed; the message is the server's ``error_description``."""

    code = "login_refused"


class TapRefused(LoginRefused):
    """A tap of tap-and-go (a fob's code alone) was refused: the message is the service's
    sentence, which the kiosk shows as it is (no shift here, another group, used code)."""

    code = "tap_refused"


class TokenRefused(ServerRefusal):
    """A token exchange was refused (audience not allowed, scope, assurance too low)."""

    code = "token_refused"


class ServiceError(BrokerError):
    """An admin API call failed: ``status`` is the HTTP status, ``error`` the JSON error."""

    code = "service_error"

    def __init__(self, message: str, *, status: int, error: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class ConfirmFailed(BrokerError):
    """``Broker.confirm`` got no token: ``reason`` is one of
    ``protocol.confirm.CHANNEL_ERRORS`` (``cancelled`` when the person closed the prompt)."""

    code = "confirm_failed"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
