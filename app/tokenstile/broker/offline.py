"""Offline sign-in on the kiosk's side (issue 17): the lease kept, and the offline session
(the format and its checks are :mod:`tokenstile.protocol.offline_lease`, the sign-in
checks :mod:`tokenstile.devices.offline_login`).

:class:`LeaseKeeper` asks the service for a new lease while a person is signed in at the
kiosk (it needs that session's access token), checks it against the service's JWKS
fetched from the same configured URL, and keeps, as one document in its own store item
(the OS keychain's ``offline-lease``, or an encrypted file): the lease as signed, the
public key that signed it, and the highest signature counter the kiosk has seen per
security key. Every read checks the lease's signature again with that key, so a lease
changed in the store (an entry added by anything that did not also replace the key) is
refused, not used; an expired lease reads as none. The counters beside it are only as
safe as the store item, and never read below the lease's own.
A kiosk's lease is only as current as its last renewal: renew it on every sign-in.

:class:`OfflineSigner` is the kiosk's own signing key (P-256, made once, kept in the
keychain item ``offline-key``; its public JWK in the runtime directory's
``offline-key.json`` for local programs that want to check a token). An offline session
(:func:`open_offline_session`) is the broker's ordinary session document with no refresh
token and an access token the kiosk signed: issuer ``urn:tokenstile:kiosk:<client>``,
audience the local one only, ``offline: true``, the sign-in's ``acr``/``amr`` and time,
living at most ``OFFLINE_TOKEN_SECONDS`` (the kiosk signs a new one while it lasts). Apps
of this workstation read it as always; anything that needs the service (another audience,
a refresh) gets :class:`~tokenstile.broker.errors.SignedInOffline`. A resource server never
accepts it: its issuer and key are not the service's.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from tokenstile.broker.client import TokenServiceClient
from tokenstile.broker.store import SessionStore
from tokenstile.clock import Clock
from tokenstile.protocol.jose import b64url_encode
from tokenstile.protocol.offline_lease import Lease, LeaseInvalid, read_lease
from tokenstile.protocol.scopes import LOCAL_AUDIENCE

if TYPE_CHECKING:
    from tokenstile.broker.model import SessionInfo
    from tokenstile.broker.session import Broker

LEASE_ITEM: Final = "offline-lease"  # the keychain item, beside ``session``
KEY_ITEM: Final = "offline-key"
PUBLIC_KEY_FILE: Final = "offline-key.json"
OFFLINE_TOKEN_SECONDS: Final = 300
OFFLINE_SCOPE: Final = "openid profile"


class LeaseKeeper:
    """The kiosk client ``client_id``'s lease in ``store``."""

    def __init__(self, store: SessionStore, *, client_id: str, clock: Clock) -> None:
        self._store = store
        self._client_id = client_id
        self._clock = clock

    def renew(self, client: TokenServiceClient, access_token: str) -> Lease:
        """A new lease from the service (checked), kept with the counters seen so far."""
        token = client.offline_lease(access_token)
        keys = client.jwks()
        lease = read_lease(
            token, keys, issuer=None, client_id=self._client_id, now=self._clock.now()
        )
        kid = jwt.get_unverified_header(token).get("kid")
        signer = next(k for k in keys["keys"] if isinstance(k, Mapping) and k.get("kid") == kid)
        counters = self._saved_counters()
        self._store.save(json.dumps({"lease": token, "jwk": dict(signer), "counters": counters}))
        return lease

    def load(self) -> tuple[Lease, dict[str, int]] | None:
        """The kept lease and counters, checked again; None when there is none or it
        has expired. :class:`LeaseInvalid` when what is kept was changed."""
        document = self._document()
        if document is None:
            return None
        try:
            token, jwk = document["lease"], document["jwk"]
            counters = _counters(document.get("counters", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise LeaseInvalid("The kiosk's offline list is damaged.") from exc
        try:
            lease = read_lease(
                token,
                {"keys": [jwk]},
                issuer=None,
                client_id=self._client_id,
                now=self._clock.now(),
            )
        except LeaseInvalid as exc:
            if "expired" in exc.message:
                return None
            raise
        # A counter below the lease's own is never trusted over the lease.
        for key in lease.keys:
            ref = b64url_encode(key.credential_id)
            counters[ref] = max(counters.get(ref, 0), key.sign_count)
        return lease, counters

    def save_counters(self, counters: Mapping[str, int]) -> None:
        """Keep the counters seen (after an offline sign-in), never lowering one."""
        document = self._document()
        if document is None:
            return
        kept = _counters(document.get("counters", {}))
        for ref, count in counters.items():
            kept[ref] = max(kept.get(ref, 0), int(count))
        document["counters"] = kept
        self._store.save(json.dumps(document))

    def forget(self) -> None:
        self._store.clear()

    def _document(self) -> dict[str, Any] | None:
        text = self._store.load()
        if text is None:
            return None
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise LeaseInvalid("The kiosk's offline list is damaged.") from exc
        if not isinstance(document, dict):
            raise LeaseInvalid("The kiosk's offline list is damaged.")
        return document

    def _saved_counters(self) -> dict[str, int]:
        try:
            document = self._document()
        except LeaseInvalid:
            return {}
        if document is None:
            return {}
        try:
            return _counters(document.get("counters", {}))
        except (TypeError, ValueError):
            return {}


def _counters(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise TypeError("counters")
    out: dict[str, int] = {}
    for ref, count in value.items():
        if not isinstance(ref, str) or isinstance(count, bool) or not isinstance(count, int):
            raise TypeError("counter")
        if count < 0:
            raise ValueError("counter")
        out[ref] = count
    return out


class OfflineSigner:
    """The kiosk ``client_id``'s own key in ``store``; made on first use."""

    def __init__(
        self, store: SessionStore, *, client_id: str, clock: Clock, runtime: Path | None = None
    ) -> None:
        self._store = store
        self._client_id = client_id
        self._clock = clock
        self._runtime = runtime
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._jwk: dict[str, Any] | None = None

    @property
    def issuer(self) -> str:
        return f"urn:tokenstile:kiosk:{self._client_id}"

    def public_jwk(self) -> dict[str, Any]:
        """The key's public half as a JWK, its ``kid`` the RFC 7638 thumbprint (worked
        out once: every offline token names it)."""
        if self._jwk is None:
            from tokenstile.protocol.jose import jwk_thumbprint

            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._private().public_key()))
            self._jwk = {**jwk, "alg": "ES256", "use": "sig", "kid": jwk_thumbprint(jwk)}
        return dict(self._jwk)

    @property
    def kid(self) -> str:
        return str(self.public_jwk()["kid"])

    def token(
        self,
        *,
        username: str,
        amr: Sequence[str],
        acr: str,
        auth_time: float,
        lease_id: str,
    ) -> tuple[str, float, float]:
        """An offline access token for the local audience: the token, issued at, expiry."""
        now = self._clock.now()
        expires = now + OFFLINE_TOKEN_SECONDS
        claims = {
            "iss": self.issuer,
            "sub": username,
            "preferred_username": username,
            "aud": LOCAL_AUDIENCE,
            "client_id": self._client_id,
            "iat": int(now),
            "nbf": int(now),
            "exp": int(expires),
            "jti": secrets.token_urlsafe(16),
            "auth_time": int(auth_time),
            "acr": acr,
            "amr": list(amr),
            "scope": OFFLINE_SCOPE,
            "offline": True,
            "lease": lease_id,
        }
        token = jwt.encode(
            claims, self._private(), algorithm="ES256", headers={"typ": "at+jwt", "kid": self.kid}
        )
        return token, float(int(now)), float(int(expires))

    def _private(self) -> ec.EllipticCurvePrivateKey:
        if self._key is not None:
            return self._key
        text = self._store.load()
        key: Any = None
        if text is not None:
            try:
                key = jwt.algorithms.ECAlgorithm.from_jwk(text)
            except (jwt.PyJWTError, ValueError, TypeError):
                key = None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            key = ec.generate_private_key(ec.SECP256R1())
            self._store.save(jwt.algorithms.ECAlgorithm.to_jwk(key))
        made: ec.EllipticCurvePrivateKey = key
        self._key = made
        self._publish()
        return made

    def _publish(self) -> None:
        """The public JWK where local programs can read it (written whole, or not)."""
        if self._runtime is None:
            return
        self._runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps({"keys": [self.public_jwk()]})
        handle, temporary = tempfile.mkstemp(dir=self._runtime, prefix=".offline-key-")
        try:
            with os.fdopen(handle, "w") as out:
                out.write(text)
            os.chmod(temporary, 0o644)
            os.replace(temporary, self._runtime / PUBLIC_KEY_FILE)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def open_offline_session(
    broker: Broker,
    signer: OfflineSigner,
    *,
    server: str,
    client_id: str,
    username: str,
    display_name: str,
    amr: Sequence[str],
    acr: str,
    auth_time: float,
    lease: Lease,
) -> SessionInfo:
    """Keep an offline session for a person the kiosk checked against ``lease``: the
    apps of this workstation read it as any session; it ends with the lease at the
    latest."""
    from tokenstile.broker.model import AccessToken, StoredSession, session_claims

    token, issued, expires = signer.token(
        username=username, amr=amr, acr=acr, auth_time=auth_time, lease_id=lease.lease_id
    )
    state = StoredSession(
        server=server,
        client_id=client_id,
        refresh_token=None,
        access=AccessToken(
            access_token=token,
            token_type="Bearer",  # noqa: S106 - the scheme's name
            expires_at=min(expires, lease.expires_at),
            scope=OFFLINE_SCOPE,
            issued_at=issued,
        ),
        claims=session_claims(token),
        session_expires_at=lease.expires_at,
        display_name=display_name,
    )
    return broker.keep_offline(state)
