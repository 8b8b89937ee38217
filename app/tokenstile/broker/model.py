"""What the broker keeps and hands out: token responses, the session, the access tokens.

The session lives in the keychain as one small JSON document (:class:`StoredSession`,
a few KB at most): the server and client, the refresh token, the current access token
with its expiry, the exchanged per-app tokens, and the DPoP private key when the session
is bound to one. Nothing here is ever logged.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

FORMAT_VERSION: Final = 1
MAX_EXCHANGED: Final = 16  # per-app tokens kept in the session (the item stays small)

# RFC 8176 amr values -> the factor that produced them.
_FACTOR_BY_AMR: Final = (("hwk", "fido2"), ("swk", "fido2"), ("sc", "piv"), ("otp", "totp"))


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenGrant:
    """A parsed token response (RFC 6749 section 5.1; RFC 8693 for an exchange)."""

    access_token: str
    refresh_token: str | None
    expires_in: int
    token_type: str
    scope: str
    id_token: str | None = None
    # Seconds until the session's absolute end (a common extension of RFC 6749).
    refresh_token_expires_in: int | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> TokenGrant:
        """Raise ``ValueError`` when the body is not a token response."""
        access = body.get("access_token")
        expires_in = body.get("expires_in")
        token_type = body.get("token_type", "Bearer")
        refresh = body.get("refresh_token")
        scope = body.get("scope", "")
        id_token = body.get("id_token")
        session_left = body.get("refresh_token_expires_in")
        if not isinstance(access, str) or not access:
            raise ValueError("no access_token")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
            raise ValueError("no positive expires_in")
        if not isinstance(token_type, str) or not isinstance(scope, str):
            raise ValueError("token_type or scope is not a string")  # noqa: TRY004
        if refresh is not None and not isinstance(refresh, str):
            raise ValueError("refresh_token is not a string")
        if id_token is not None and not isinstance(id_token, str):
            raise ValueError("id_token is not a string")
        if isinstance(session_left, bool) or not isinstance(session_left, int | None):
            raise ValueError("refresh_token_expires_in is not a whole number")  # noqa: TRY004
        return cls(
            access_token=access,
            refresh_token=refresh or None,
            expires_in=expires_in,
            token_type=token_type,
            scope=scope,
            id_token=id_token,
            refresh_token_expires_in=max(0, session_left) if session_left is not None else None,
        )

    def session_expires_at(self, *, issued_at: float) -> float | None:
        """When the session ends for good, if the server said."""
        left = self.refresh_token_expires_in
        return issued_at + left if left is not None else None

    def __repr__(self) -> str:  # never show the tokens
        return f"TokenGrant(token_type={self.token_type!r}, expires_in={self.expires_in})"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionInfo:
    """What can be said about the signed-in session without showing a token."""

    server: str
    client_id: str
    username: str
    subject: str
    sid: str
    factor: str
    acr: str
    amr: tuple[str, ...]
    scope: str
    auth_time: float
    session_expires_at: float | None
    access_expires_at: float
    dpop_jkt: str | None
    display_name: str = ""  # the person's name as the server knows it ("" if unknown)
    # Signed in at the kiosk while the service was out of reach (broker.offline): its
    # token is the kiosk's own, for the apps of this workstation only.
    offline: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessToken:
    """One access token with what a caller needs to use it."""

    access_token: str
    token_type: str  # "Bearer" or "DPoP"
    expires_at: float
    scope: str
    issued_at: float

    @property
    def is_dpop(self) -> bool:
        return self.token_type.lower() == "dpop"

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "scope": self.scope,
            "issued_at": self.issued_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccessToken:
        return cls(
            access_token=str(data["access_token"]),
            token_type=str(data["token_type"]),
            expires_at=float(data["expires_at"]),
            scope=str(data.get("scope", "")),
            issued_at=float(data.get("issued_at", 0.0)),
        )

    @classmethod
    def from_grant(cls, grant: TokenGrant, *, issued_at: float) -> AccessToken:
        """``issued_at``: when the request left (the lifetime counts from no later)."""
        return cls(
            access_token=grant.access_token,
            token_type=grant.token_type,
            expires_at=issued_at + grant.expires_in,
            scope=grant.scope,
            issued_at=issued_at,
        )

    def __repr__(self) -> str:
        return f"AccessToken(token_type={self.token_type!r}, expires_at={self.expires_at})"


def exchange_key(audience: str, scope: str | None, app_id: str | None = None) -> str:
    """Where an exchanged token is kept: per audience, scope and requesting app."""
    key = f"{audience} {' '.join(sorted((scope or '').split()))}".rstrip()
    return f"{key}\t{app_id}" if app_id else key


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSession:
    """The keychain item's content."""

    server: str
    client_id: str
    refresh_token: str | None
    access: AccessToken
    id_token: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    dpop_key: Mapping[str, Any] | None = None  # the private JWK
    dpop_jkt: str | None = None
    session_expires_at: float | None = None
    exchanged: Mapping[str, AccessToken] = field(default_factory=dict)
    display_name: str = ""
    # Parked at the kiosk (``kiosk_park_sessions``): the service's deadline; its tokens are
    # not served meanwhile (and its access tokens are dropped from the item).
    parked_until: float | None = None
    # The other people parked at this kiosk, each parked (a shelf of one level).
    shelf: tuple[StoredSession, ...] = ()

    @property
    def audience(self) -> str | None:
        aud = self.claims.get("aud")
        if isinstance(aud, list) and aud and isinstance(aud[0], str):
            return aud[0]
        return aud if isinstance(aud, str) else None

    def info(self) -> SessionInfo:
        claims = self.claims
        amr_claim = claims.get("amr")
        amr = tuple(str(a) for a in amr_claim) if isinstance(amr_claim, list) else ()
        subject = str(claims.get("sub", ""))
        return SessionInfo(
            server=self.server,
            client_id=self.client_id,
            username=str(claims.get("preferred_username") or subject),
            subject=subject,
            sid=str(claims.get("sid", "")),
            factor=factor_of(amr),
            acr=str(claims.get("acr", "")),
            amr=amr,
            scope=self.access.scope,
            auth_time=_number(claims.get("auth_time")),
            session_expires_at=self.session_expires_at,
            access_expires_at=self.access.expires_at,
            dpop_jkt=self.dpop_jkt,
            display_name=self.display_name,
            offline=claims.get("offline") is True,
        )

    def with_access(
        self,
        access: AccessToken,
        refresh_token: str | None,
        *,
        session_expires_at: float | None = None,
    ) -> StoredSession:
        claims = token_claims(access.access_token) or self.claims
        return replace(
            self,
            access=access,
            refresh_token=refresh_token or self.refresh_token,
            claims=_kept_claims(claims),
            session_expires_at=session_expires_at or self.session_expires_at,
        )

    def with_exchanged(self, key: str, token: AccessToken, *, now: float) -> StoredSession:
        kept = {k: t for k, t in self.exchanged.items() if t.expires_at > now and k != key}
        while len(kept) >= MAX_EXCHANGED:
            kept.pop(min(kept, key=lambda k: kept[k].expires_at))
        kept[key] = token
        return replace(self, exchanged=kept)

    @property
    def subject(self) -> str:
        return str(self.claims.get("sub", ""))

    @property
    def name(self) -> str:
        """What the kiosk may show of the person: their display name, else username."""
        info = self.info()
        return info.display_name or info.username

    def parked(self, until: float) -> StoredSession:
        """This session parked until ``until``: nothing left in it that an app could use
        without the service (the access tokens go; the refresh token the service refuses)."""
        blank = AccessToken(
            access_token="",
            token_type=self.access.token_type,
            expires_at=0.0,
            scope=self.access.scope,
            issued_at=self.access.issued_at,
        )
        return replace(self, parked_until=until, access=blank, exchanged={}, shelf=())

    def everyone_parked(self) -> tuple[StoredSession, ...]:
        """Every parked person of this item: the top one when parked, then the shelf."""
        top = (replace(self, shelf=()),) if self.parked_until is not None else ()
        return top + self.shelf

    def to_json(self) -> str:
        return json.dumps(self._to_dict(), separators=(",", ":"))

    def _to_dict(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "server": self.server,
            "client_id": self.client_id,
            "refresh_token": self.refresh_token,
            "access": self.access.to_json(),
            "id_token": self.id_token,
            "claims": dict(self.claims),
            "dpop_key": dict(self.dpop_key) if self.dpop_key is not None else None,
            "dpop_jkt": self.dpop_jkt,
            "session_expires_at": self.session_expires_at,
            "exchanged": {k: t.to_json() for k, t in self.exchanged.items()},
            "display_name": self.display_name,
            "parked_until": self.parked_until,
            "shelf": [entry._to_dict() for entry in self.shelf],
        }

    @classmethod
    def from_json(cls, text: str) -> StoredSession:
        """Raise ``ValueError`` for anything that is not a session this version wrote."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError("not a Tokenstile session") from exc
        return cls._from_dict(data, shelf_allowed=True)

    @classmethod
    def _from_dict(cls, data: Any, *, shelf_allowed: bool) -> StoredSession:
        try:
            if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
                raise ValueError("not a Tokenstile session")
            exchanged = data.get("exchanged") or {}
            dpop_key = data.get("dpop_key")
            expires = data.get("session_expires_at")
            return cls(
                server=str(data["server"]),
                client_id=str(data["client_id"]),
                refresh_token=data.get("refresh_token") or None,
                access=AccessToken.from_json(data["access"]),
                id_token=data.get("id_token") or None,
                claims=dict(data.get("claims") or {}),
                dpop_key=dict(dpop_key) if isinstance(dpop_key, dict) else None,
                dpop_jkt=data.get("dpop_jkt") or None,
                session_expires_at=float(expires) if expires is not None else None,
                exchanged={str(k): AccessToken.from_json(v) for k, v in exchanged.items()},
                display_name=str(data.get("display_name") or ""),
                parked_until=float(parked) if (parked := data.get("parked_until")) else None,
                shelf=tuple(
                    cls._from_dict(entry, shelf_allowed=False)
                    for entry in (data.get("shelf") or [] if shelf_allowed else [])
                ),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError("a session field is missing or of the wrong type") from exc

    def __repr__(self) -> str:
        return f"StoredSession(server={self.server!r}, client_id={self.client_id!r})"


_KEPT_CLAIMS: Final = (
    "iss",
    "sub",
    "preferred_username",
    "aud",
    "sid",
    "acr",
    "amr",
    "auth_time",
    "client_id",
    "cnf",
    "offline",
)


def _kept_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    return {name: claims[name] for name in _KEPT_CLAIMS if name in claims}


def session_claims(access_token: str) -> dict[str, Any]:
    """The claims worth keeping about the session, read from its first access token."""
    return _kept_claims(token_claims(access_token) or {})


def token_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT access token, unverified (for display only), or None.

    The broker trusts the server it spoke to over TLS; resource servers verify tokens.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def factor_of(amr: tuple[str, ...]) -> str:
    for value, factor in _FACTOR_BY_AMR:
        if value in amr:
            return factor
    return "unknown"


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
