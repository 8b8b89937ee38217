"""Clients in SQL beyond registration: the single-use record of private_key_jwt
assertions, and the admin's changes to a web or native client.

An accepted assertion's ``jti`` is recorded (hashed with its client id) until the
assertion's ``exp``, in the database rather than in memory, so an assertion replayed to
another replica is refused too. The INSERT does nothing for a key already there (and so
returns no row) instead of failing the transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tokenstile.errors import NotFound, StoreError
from tokenstile.store import schema as t
from tokenstile.store.rows import json_text
from tokenstile.tokens.model import AuditEvent, Client

if TYPE_CHECKING:
    from tokenstile.store.repository import Store

_j = t.client_assertion_jtis
_c = t.clients


def assertion_key(client_id: str, jti: str) -> bytes:
    """The stored key of an assertion: client id and ``jti`` (NUL between), hashed."""
    return hashlib.sha256(f"{client_id}\0{jti}".encode()).digest()


def remember_client_assertion(
    store: Store, client_id: str, jti: str, *, expires_at: float, now: float
) -> bool:
    """Record the assertion ``jti`` of ``client_id`` until ``expires_at``: False when it
    was recorded before (a replay). Expired records are dropped on the way."""
    with store.write() as tx:
        conn = tx.connection
        conn.execute(_j.delete().where(_j.c.expires_at < now))
        dialect = conn.dialect.name
        if dialect == "sqlite":
            stmt = sqlite_insert(_j).on_conflict_do_nothing().returning(_j.c.key_hash)
        elif dialect == "postgresql":
            stmt = postgresql_insert(_j).on_conflict_do_nothing().returning(_j.c.key_hash)
        else:  # pragma: no cover - the store supports these two only
            raise StoreError(f"Client assertion records need SQLite or PostgreSQL, not {dialect}.")
        done = conn.execute(
            stmt, {"key_hash": assertion_key(client_id, jti), "expires_at": expires_at}
        )
        return done.first() is not None


def update_client(
    store: Store,
    client_id: str,
    *,
    at: float,
    audit: AuditEvent,
    redirect_uris: Sequence[str] | None = None,
    post_logout_redirect_uris: Sequence[str] | None = None,
    backchannel_logout_uri: str | None = None,
    clear_backchannel_logout_uri: bool = False,
    secret_hash: str | None = None,
    enabled: bool | None = None,
) -> Client:
    """Change the named fields of a client (the others stay) and audit it, in one
    transaction; the client as it is now. ``NotFound`` for an unknown id."""
    values: dict[str, object] = {}
    if redirect_uris is not None:
        values["redirect_uris"] = json_text(list(redirect_uris))
    if post_logout_redirect_uris is not None:
        values["post_logout_redirect_uris"] = json_text(list(post_logout_redirect_uris))
    if backchannel_logout_uri is not None or clear_backchannel_logout_uri:
        values["backchannel_logout_uri"] = backchannel_logout_uri
    if secret_hash is not None:
        values["secret_hash"] = secret_hash
    if enabled is not None:
        values["enabled"] = enabled
    with store.write() as tx:
        if values:
            done = tx.connection.execute(
                update(_c).where(_c.c.client_id == client_id).values(**values)
            )
            if done.rowcount == 0:
                raise NotFound(f"No client {client_id!r}.")
        tx.audit(audit, at=at)
        client = tx.get_client(client_id)
    if client is None:
        raise NotFound(f"No client {client_id!r}.")
    return client
