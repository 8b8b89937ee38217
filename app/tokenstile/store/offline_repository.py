"""What an offline lease lists, read from the factors' tables (``factors.offline_lease``),
and the ledger of offline evidence exchanged for sessions (each answer once).

One read transaction: every active FIDO2 credential and every active PIV card of an
enabled person, with the person's name. Suspended keys (their model's metadata said so),
revoked ones and disabled people are left out, so the next lease takes them off a kiosk.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from tokenstile.errors import StoreError
from tokenstile.factors.piv_login import PivCardRecord
from tokenstile.factors.webauthn_login import WebAuthnCredential
from tokenstile.protocol.offline_lease import LeaseCard, LeaseKey
from tokenstile.store import schema as t
from tokenstile.store.piv_repository import SqlPivTx
from tokenstile.store.repository import Store
from tokenstile.store.webauthn_repository import SqlWebAuthnTx
from tokenstile.tokens.model import User

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


class SqlEvidenceLedger:
    """``EvidenceLedger``: an answer's digest inserted once; the second insert of the same
    digest fails on the primary key (on every replica), so it is spent exactly once."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def spend(
        self,
        digest: bytes,
        *,
        client_id: str,
        factor: str,
        signed_at: float,
        at: float,
        keep_until: float,
    ) -> bool:
        try:
            with self._store.write() as tx:
                tx.connection.execute(
                    insert(t.offline_evidence).values(
                        digest=digest,
                        client_id=client_id,
                        factor=factor,
                        signed_at=signed_at,
                        spent_at=at,
                        keep_until=keep_until,
                    )
                )
        except IntegrityError:
            return False
        except StoreError as exc:  # the transaction's own wrapping of the same refusal
            if isinstance(exc.__cause__, IntegrityError):
                return False
            raise
        return True


class SqlOfflineKeys:
    """``KeyLookup``: an enrolled key as a login finds it, and its counter moved on."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def find(self, credential_id: bytes) -> WebAuthnCredential | None:
        with self._store.read() as tx:
            return SqlWebAuthnTx(tx).find_credential(credential_id)

    def record(self, credential: WebAuthnCredential, *, sign_count: int, at: float) -> bool:
        with self._store.write() as tx:
            return SqlWebAuthnTx(tx).record_assertion(
                credential.id, sign_count=sign_count, backed_up=False, at=at
            )


class SqlOfflineCards:
    """``CardLookup``: an enrolled card and its holder, by certificate fingerprint."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def find(self, fingerprint: str) -> tuple[PivCardRecord, User] | None:
        with self._store.read() as tx:
            cards = SqlPivTx(tx)
            card = cards.card_by_fingerprint(fingerprint)
            user = cards.user(card.user_id) if card is not None else None
        return (card, user) if card is not None and user is not None else None
