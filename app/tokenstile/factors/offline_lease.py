"""Issuing a kiosk its offline lease (issue 17, offline sign-in; the format is
``protocol.offline_lease``).

Who may have one: a kiosk, and only while a person is signed in there. The request
carries that session's own local access token (``urn:tokenstile:local``, DPoP-bound if
the kiosk client is), the session must live and its client must be a **kiosk** client;
a stranger on the network, a desktop app with an app client's token, a resource server
holding a leaked token for its own audience are all refused. The lease lists every
enrolled hardware factor's public half (no secret: OTP seeds never leave the service),
but who works where is still worth keeping from strangers, hence the sign-in.

Each lease issued is an audit row (who was signed in, which kiosk, how many entries, its
id and expiry), so an operator can tell which kiosks hold a lease from before a
revocation. A lifetime of 0 (``kiosk_offline_hours``, the default) turns leases off.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Protocol

import jwt

from tokenstile.errors import InvalidToken, TokenstileError, UnauthorizedClient
from tokenstile.protocol.offline_lease import LEASE_TYPE, Lease, LeaseCard, LeaseKey, lease_claims
from tokenstile.tokens.dpop import check_token_binding
from tokenstile.tokens.minting import is_session_token
from tokenstile.tokens.model import LOCAL_AUDIENCE, AuditEvent, Client
from tokenstile.tokens.service import TokenService


class OfflineLeasesOff(UnauthorizedClient):
    """This service gives no offline leases (``kiosk_offline_hours`` is 0)."""

    code = "offline_disabled"
    status = 404


class LeaseSource(Protocol):
    def lease_entries(self) -> tuple[list[LeaseKey], list[LeaseCard]]: ...


class OfflineLeases:
    """``issue``: a signed lease for the kiosk whose signed-in session presents it."""

    __slots__ = ("_clients", "_lifetime", "_rp_id", "_service", "_source")

    def __init__(
        self,
        service: TokenService,
        source: LeaseSource,
        clients: Callable[[str], Client | None],
        *,
        lifetime: float,
        rp_id: str,
    ) -> None:
        self._service = service
        self._source = source
        self._clients = clients
        self._lifetime = lifetime
        self._rp_id = rp_id

    @property
    def enabled(self) -> bool:
        return self._lifetime > 0

    def issue(self, access_token: str, *, dpop_jkt: str | None) -> tuple[str, float]:
        """The lease (a JWS) and when it expires; ``dpop_jkt`` as for userinfo."""
        if not self.enabled:
            raise OfflineLeasesOff("This service gives no offline leases.")
        minter = self._service.minter
        claims = self._service.introspection.read_access_token(access_token)
        if claims is None or claims.get("aud") != LOCAL_AUDIENCE:
            raise InvalidToken("The access token is not valid.")
        try:
            check_token_binding(claims, dpop_jkt)
        except TokenstileError as exc:
            raise InvalidToken("The access token is not valid.") from exc
        with minter.store.read() as tx:
            session = tx.get_session(str(claims["sid"]))
            user = tx.get_user(session.user_id) if session is not None else None
        if (
            session is None
            or user is None
            or not user.enabled
            or not is_session_token(claims, session)
        ):
            raise InvalidToken("The access token is not valid.")
        client = self._clients(session.client_id)
        now = minter.clock.now()
        if client is None or client.kind != "kiosk" or not client.enabled:
            with minter.store.write() as tx:
                tx.audit(
                    AuditEvent(
                        "offline_lease",
                        "failure",
                        username=user.username,
                        client_id=session.client_id,
                        sid=session.sid,
                        detail={"reason": "not a kiosk client"},
                    ),
                    at=now,
                )
            raise UnauthorizedClient("Only a kiosk is given an offline lease.")
        keys, cards = self._source.lease_entries()
        lease = Lease(
            lease_id=secrets.token_urlsafe(16),
            issuer=minter.issuer,
            client_id=client.client_id,
            rp_id=self._rp_id,
            issued_at=float(int(now)),
            expires_at=float(int(now + self._lifetime)),
            keys=tuple(keys),
            cards=tuple(cards),
        )
        signer = minter.keyring.signer(now)
        token = jwt.encode(
            lease_claims(lease),
            signer.private_key,
            algorithm=signer.alg,
            headers={"typ": LEASE_TYPE, "kid": signer.kid},
        )
        with minter.store.write() as tx:
            tx.audit(
                AuditEvent(
                    "offline_lease",
                    "success",
                    username=user.username,
                    client_id=client.client_id,
                    sid=session.sid,
                    detail={
                        "lease": lease.lease_id,
                        "keys": len(keys),
                        "cards": len(cards),
                        "expires_at": lease.expires_at,
                    },
                ),
                at=now,
            )
        return token, lease.expires_at
