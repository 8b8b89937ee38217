"""What an offline lease lists, read from the factors' tables (``factors.offline_lease``).

One read transaction: every active FIDO2 credential and every active PIV card of an
enabled person, with the person's name. Suspended keys (their model's metadata said so),
revoked ones and disabled people are left out, so the next lease takes them off a kiosk.
"""

from __future__ import annotations

from sqlalchemy import select

from tokenstile.protocol.offline_lease import LeaseCard, LeaseKey
from tokenstile.store import schema as t
from tokenstile.store.repository import Store

_w = t.webauthn_credentials
_p = t.piv_cards
_u = t.users

_KEYS = (
    select(
        _w.c.credential_id,
        _w.c.public_key,
        _w.c.algorithm,
        _w.c.sign_count,
        _u.c.username,
        _u.c.display_name,
    )
    .select_from(_w.join(_u, _u.c.id == _w.c.user_id))
    .where(_w.c.state == "active", _u.c.enabled.is_(True))
    .order_by(_w.c.id)
)
_CARDS = (
    select(_p.c.fingerprint, _u.c.username, _u.c.display_name)
    .select_from(_p.join(_u, _u.c.id == _p.c.user_id))
    .where(_p.c.state == "active", _u.c.enabled.is_(True))
    .order_by(_p.c.id)
)


class SqlLeaseSource:
    """``LeaseSource`` over the token service's database."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def lease_entries(self) -> tuple[list[LeaseKey], list[LeaseCard]]:
        with self._store.read() as tx:
            keys = [
                LeaseKey(
                    credential_id=bytes(row.credential_id),
                    public_key=bytes(row.public_key),
                    algorithm=int(row.algorithm),
                    sign_count=int(row.sign_count),
                    username=row.username,
                    display_name=row.display_name or "",
                )
                for row in tx.connection.execute(_KEYS)
            ]
            cards = [
                LeaseCard(
                    fingerprint=str(row.fingerprint).lower(),
                    username=row.username,
                    display_name=row.display_name or "",
                )
                for row in tx.connection.execute(_CARDS)
            ]
        return keys, cards
