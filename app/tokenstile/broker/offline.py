"""The kiosk's offline lease, kept (issue 17, offline sign-in; the format and its checks
are :mod:`tokenstile.protocol.offline_lease`, the sign-in checks
:mod:`tokenstile.devices.offline_login`).

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
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jwt

from tokenstile.broker.client import TokenServiceClient
from tokenstile.broker.store import SessionStore
from tokenstile.clock import Clock
from tokenstile.protocol.jose import b64url_encode
from tokenstile.protocol.offline_lease import Lease, LeaseInvalid, read_lease

LEASE_ITEM = "offline-lease"  # the keychain item, beside ``session``


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
