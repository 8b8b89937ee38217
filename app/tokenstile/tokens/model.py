"""The records the token service works with, and the store port it needs.

The store (``tokenstile.store``) implements ``TokenStore``; the service never sees SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

# Re-exported: the tokens package names it here, the broker in protocol.scopes.
from tokenstile.protocol.roles import STAFF_ROLES
from tokenstile.protocol.scopes import LOCAL_AUDIENCE as LOCAL_AUDIENCE  # noqa: PLC0414

T = TypeVar("T")

ClientKind = Literal["kiosk", "app", "resource-server", "web", "native"]
CLIENT_KINDS: tuple[ClientKind, ...] = ("kiosk", "app", "resource-server", "web", "native")
# The clients of the OpenID Provider's authorization code flow (``/authorize``): a web app
# (confidential, with a secret) and a native app (public, loopback redirects, PKCE only).
BROWSER_CLIENT_KINDS: tuple[ClientKind, ...] = ("web", "native")


# Assurance levels, weakest first. ``phrh``/``phr`` follow the OpenID EAP ACR values.
# ``tap``: a tap-and-go re-entry inside a shift grant (``tokens.shifts``), the factor
# alone (no PIN, no user verification, no username): the weakest of all.
TAP_ACR = "tap"
# ``tac``: a temporary access code a helpdesk person issued (issue 18), something the
# person was told rather than something they hold: weaker than every factor, even a tap.
TAC_ACR = "tac"
ACR_LEVELS: tuple[str, ...] = (TAC_ACR, TAP_ACR, "otp", "mfa", "phr", "phrh")


# The username of a new person: 1 to 128 characters with no white space, no control
# character and none of the invisible ones (zero-width, bidi controls), so that ``alice``
# and ``alice\u200b`` can never be two people. The admin API's schema publishes the
# pattern; the admin API and ``tokenstile manage user add`` both apply it.
MAX_USERNAME = 128
_INVISIBLE = r"\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
USERNAME_PATTERN = rf"^[^\s\x00-\x1f\x7f-\x9f{_INVISIBLE}]{{1,{MAX_USERNAME}}}$"
USERNAME_RULE = f"A username is 1 to {MAX_USERNAME} visible characters, without spaces."
_USERNAME = re.compile(USERNAME_PATTERN)


# A role's name (the four-eyes confirm's ``second_person``): lower-case letters, digits
# and ``_ . -``, starting with a letter, at most 64 characters.
ROLE_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
ROLE_RULE = "A role is 1 to 64 of a-z, 0-9, _ . -, starting with a letter."
_ROLE = re.compile(ROLE_PATTERN)


def is_valid_role(role: str) -> bool:
    return _ROLE.fullmatch(role) is not None


def is_valid_username(username: str) -> bool:
    """Whether ``username`` may name a new person (``USERNAME_RULE``)."""
    return _USERNAME.fullmatch(username) is not None


def credential_ref(kind: Literal["fido2", "piv", "otp"], key: str) -> str:
    """What ``sessions.credential`` holds for the credential that opened a session:
    ``fido2:<credential id, base64url>``, ``piv:<certificate fingerprint>``,
    ``otp:<serial>``; revoking that credential ends the sessions that carry it."""
    return f"{kind}:{key}"


# Why the store ended a session (``end_sessions_of``): its credential was revoked by an admin,
# or suspended at a login that presented a lower signature count (a cloned key).
CREDENTIAL_REVOKED = "credential_revoked"
CREDENTIAL_SUSPENDED = "credential_suspended"

InfoT = TypeVar("InfoT")


@dataclass(frozen=True, slots=True, kw_only=True)
class Revoked(Generic[InfoT]):
    """A credential as it is after its revocation, and how many sessions that ended."""

    info: InfoT
    sessions_ended: int

    @property
    def sessions_text(self) -> str:
        """``2 sessions ended`` (``1 session ended``), as the CLI reports it."""
        n = self.sessions_ended
        return f"{n} session{'' if n == 1 else 's'} ended"


def acr_satisfies(acr: str, minimum: str | None) -> bool:
    if minimum is None:
        return True
    if acr not in ACR_LEVELS or minimum not in ACR_LEVELS:
        return acr == minimum
    return ACR_LEVELS.index(acr) >= ACR_LEVELS.index(minimum)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    is_admin: bool
    enabled: bool


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    kind: ClientKind
    secret_hash: str | None
    audiences: tuple[str, ...]
    scopes: tuple[str, ...]
    enabled: bool
    # RFC 9449: every token-issuing request of this client must carry a DPoP proof.
    dpop_bound: bool = False
    # Where ``/authorize`` may send a web or native client's answers (``redirect_uris``).
    redirect_uris: tuple[str, ...] = ()
    # Where ``/logout`` may send the browser back (exact match), and where the service
    # POSTs the client's back-channel logout tokens (``tokens.logout``).
    post_logout_redirect_uris: tuple[str, ...] = ()
    backchannel_logout_uri: str | None = None
    # private_key_jwt: the client's public JWK Set (JSON text); it then has no secret.
    jwks: str | None = None

    @property
    def default_audience(self) -> str:
        return self.audiences[0] if self.audiences else LOCAL_AUDIENCE


@dataclass(frozen=True, slots=True)
class AudiencePolicy:
    audience: str
    token_format: Literal["jwt", "opaque"] = "jwt"  # noqa: S105
    lifetime: int | None = None
    min_acr: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    user_id: int
    client_id: str
    audience: str
    scope: str
    amr: tuple[str, ...]
    acr: str
    factor: str
    auth_time: float
    created_at: float
    expires_at: float
    idle_timeout: float
    last_used_at: float
    revoked_at: float | None = None
    revoke_reason: str | None = None
    # The RFC 7638 thumbprint of the DPoP key the session's tokens are bound to.
    dpop_jkt: str | None = None
    # The credential that opened the session (``credential_ref``), if one did.
    credential: str | None = None
    # An app's session opened by an authorization code: the provider (browser) session
    # whose sign-in it carries (``tokens.authorization_code``).
    parent_sid: str | None = None
    # Parked at its kiosk (``tokens.parking``): since when, and the deadline after which
    # it is revoked; both None while it is in use.
    parked_at: float | None = None
    parked_until: float | None = None


@dataclass(frozen=True, slots=True)
class KioskShift:
    """The kiosk group a kiosk client belongs to and its shift length (0: tap-and-go off)."""

    group: str
    shift_hours: float

    @property
    def tap_and_go(self) -> bool:
        return self.shift_hours > 0


@dataclass(frozen=True, slots=True)
class ShiftGrant:
    """A person's shift at a kiosk group (``tokens.shifts``): made or renewed by a full
    sign-in there with ``credential``; a tap is accepted only while it is live."""

    user_id: int
    group: str
    credential: str
    sid: str
    created_at: float
    expires_at: float
    ended_at: float | None = None
    end_reason: str | None = None

    def live(self, now: float) -> bool:
        return self.ended_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class RefreshToken:
    id: int
    sid: str
    client_id: str
    created_at: float
    used_at: float | None
    successor_id: int | None
    superseded_at: float | None


@dataclass(frozen=True, slots=True)
class RefreshLookup:
    token: RefreshToken
    session: Session
    user: User
    successor: RefreshToken | None


@dataclass(frozen=True, slots=True)
class StoredKey:
    kid: str
    alg: str
    private_key: bytes
    created_at: float
    sign_from: float


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event: str
    outcome: Literal["success", "failure", "alert", "info"]
    username: str | None = None
    client_id: str | None = None
    sid: str | None = None
    factor: str | None = None
    origin: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class TokenTx(Protocol):
    """One database transaction; every method runs inside it."""

    def find_refresh(self, token_hash: bytes) -> RefreshLookup | None: ...

    def add_refresh(
        self, *, token_hash: bytes, sid: str, client_id: str, parent_id: int | None, at: float
    ) -> int: ...

    def claim_refresh(self, token_id: int, *, successor_id: int, at: float) -> bool:
        """Mark an unused token used; True only for the one caller that did it."""
        ...

    def supersede_refresh(self, token_id: int, *, at: float) -> bool:
        """Retire a never-used successor during a grace retry; True if this caller did."""
        ...

    def relink_refresh(self, token_id: int, *, successor_id: int) -> None: ...

    def retire_refresh(self, token_id: int, *, at: float) -> None:
        """Mark a used token superseded too, so that no grace retry revives it (the
        refresh token of a parked session, after its resume)."""
        ...

    def add_session(self, session: Session) -> None: ...

    def get_session(self, sid: str) -> Session | None: ...

    def touch_session(self, sid: str, *, at: float) -> None: ...

    def revoke_session(self, sid: str, *, at: float, reason: str) -> bool: ...

    def park_session(self, sid: str, *, at: float, until: float) -> bool:
        """Mark a live session parked until ``until``; False when it is revoked or
        parked already (one conditional UPDATE decides between racers)."""
        ...

    def unpark_session(self, sid: str, *, at: float) -> bool:
        """Put a parked session back in use (deadline ``> at``, not revoked); False for
        the callers that did not do it."""
        ...

    def add_opaque_token(
        self, *, token_hash: bytes, sid: str, claims: dict[str, Any], expires_at: float
    ) -> None: ...

    def find_opaque_token(self, token_hash: bytes) -> tuple[dict[str, Any], str] | None: ...

    def delete_opaque_token(self, token_hash: bytes) -> bool:
        """Forget one opaque access token (revoked alone); True if it was stored."""
        ...

    def revoke_access_token(self, jti: str, *, sid: str, expires_at: float, at: float) -> bool:
        """Deny the access token ``jti`` until ``expires_at`` (when it dies anyway) without
        ending its session; False if it was denied already."""
        ...

    def access_token_revoked(self, jti: str) -> bool:
        """Whether the access token ``jti`` was revoked alone (``revoke_access_token``)."""
        ...

    def get_user(self, user_id: int) -> User | None: ...

    def user_has_role(self, user_id: int, role: str) -> bool: ...

    def get_client(self, client_id: str) -> Client | None: ...

    def get_audience(self, audience: str) -> AudiencePolicy | None: ...

    def audiences(self) -> list[AudiencePolicy]: ...

    def audit(self, event: AuditEvent, *, at: float) -> None: ...

    # tap-and-go (``tokens.shifts``)

    def kiosk_shift(self, client_id: str) -> KioskShift | None:
        """The kiosk group of a kiosk client, None for a client in no group."""
        ...

    def shift_grants_of(self, user_id: int) -> list[ShiftGrant]:
        """The person's grants, one per kiosk group, live or not."""
        ...

    def renew_shift_grant(
        self, *, user_id: int, group: str, credential: str, sid: str, at: float, expires_at: float
    ) -> None:
        """Make the person's grant for ``group``, or start it afresh (one row per pair)."""
        ...

    def end_shift_grants(
        self,
        *,
        reason: str,
        at: float,
        user_id: int | None = None,
        group: str | None = None,
        credential: str | None = None,
    ) -> int:
        """End the live grants that match every given condition; how many it ended."""
        ...

    def signing_key_trusted(self, kid: str) -> bool:
        """Whether the signing key ``kid`` is still trusted (stored)."""
        ...

    def remember_dpop_proof(self, key: bytes, *, expires_at: float, now: float) -> bool:
        """Record a DPoP proof (hash of its key and jti); False if already recorded.

        Expired records may be dropped on the way.
        """
        ...


class TokenStore(Protocol):
    def write(self) -> AbstractContextManager[TokenTx]:
        """A transaction that will write (SQLite: BEGIN IMMEDIATE)."""
        ...

    def read(self) -> AbstractContextManager[TokenTx]: ...

    def run_write(self, job: Callable[[TokenTx], T]) -> T:
        """Run ``job`` in a write transaction; return its result once committed.

        The store may run several callers' jobs in one transaction (group commit), each
        in its own savepoint: a job that raises is undone alone.
        """
        ...

    def signing_keys(self) -> Sequence[StoredKey]: ...


def is_staff(tx: TokenTx, user: User) -> bool:
    """Whether ``user`` holds a built-in role (``protocol.roles``): only such a person
    receives a privileged scope such as ``tokenstile:admin``; what they may do with it is
    the admin API's decision, role by role."""
    return user.is_admin or any(tx.user_has_role(user.id, role) for role in sorted(STAFF_ROLES))
