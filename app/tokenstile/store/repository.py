"""The store: the token service's database (``TokenStore``) and its admin operations.

``Store`` opens the transactions (``run_write``, ``write``, ``read``: each hands out a
``token_tx.SqlTx``) and keeps what the ``manage`` commands and the wiring change outside
a grant: meta values, signing keys, people, clients, audiences, the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tokenstile.errors import NotFound, StoreError
from tokenstile.protocol.roles import Role
from tokenstile.store import schema as t
from tokenstile.store.database import transaction
from tokenstile.store.group_commit import GroupCommitter
from tokenstile.store.roles import grant_role
from tokenstile.store.rows import client_from_row, json_text, session_from_row
from tokenstile.store.token_tx import SqlTx
from tokenstile.tokens.model import (
    AudiencePolicy,
    AuditEvent,
    Client,
    ClientKind,
    Session,
    StoredKey,
    User,
)

T = TypeVar("T")


class Store:
    """The database behind the token service. Implements ``TokenStore``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._group = GroupCommitter(engine) if engine.dialect.name == "sqlite" else None

    def observe_group_commits(self, observer: Callable[[int], None]) -> bool:
        """Tell ``observer`` the size of every group-commit batch (metrics); False when
        this store has no group commit (PostgreSQL: every job commits alone)."""
        if self._group is None:
            return False
        self._group.batch_observer = observer
        return True

    def close(self) -> None:
        if self._group is not None:
            self._group.close()

    def run_write(self, job: Callable[[SqlTx], T]) -> T:
        """Run ``job`` in a write transaction and return its result once committed.

        On SQLite, jobs from concurrent requests share one transaction and one fsync
        (see ``group_commit``); elsewhere each job has its own transaction.
        """
        if self._group is None:
            with self.write() as tx:
                return job(tx)
        return self._group.run(lambda conn: job(SqlTx(conn)))

    @contextmanager
    def write(self) -> Iterator[SqlTx]:
        with transaction(self.engine, write=True) as conn:
            yield SqlTx(conn)

    @contextmanager
    def read(self) -> Iterator[SqlTx]:
        with transaction(self.engine, write=False) as conn:
            yield SqlTx(conn)

    # meta
    def get_meta(self, key: str) -> bytes | None:
        with self.read() as tx:
            row = tx.connection.execute(select(t.meta.c.value).where(t.meta.c.key == key)).first()
        return None if row is None else bytes(row.value)

    def set_meta(self, key: str, value: bytes) -> None:
        with self.write() as tx:
            conn = tx.connection
            exists = conn.execute(select(t.meta.c.key).where(t.meta.c.key == key)).first()
            if exists is None:
                conn.execute(insert(t.meta).values(key=key, value=value))
            else:
                conn.execute(update(t.meta).where(t.meta.c.key == key).values(value=value))

    # signing keys
    def signing_keys(self) -> Sequence[StoredKey]:
        with self.read() as tx:
            rows = tx.connection.execute(select(t.signing_keys)).all()
        return [
            StoredKey(r.kid, r.alg, bytes(r.private_key), r.created_at, r.sign_from) for r in rows
        ]

    def add_signing_key(self, key: StoredKey, *, audit: AuditEvent, at: float) -> None:
        with self.write() as tx:
            tx.connection.execute(
                insert(t.signing_keys).values(
                    kid=key.kid,
                    alg=key.alg,
                    private_key=key.private_key,
                    created_at=key.created_at,
                    sign_from=key.sign_from,
                )
            )
            tx.audit(audit, at=at)

    def signing_key_ids(self) -> frozenset[tuple[str, float]]:
        """``(kid, sign_from)`` of every stored key: the cheap probe a server runs to see
        whether its key ring is still what the store holds."""
        sk = t.signing_keys
        with self.read() as tx:
            rows = tx.connection.execute(select(sk.c.kid, sk.c.sign_from)).all()
        return frozenset((r.kid, r.sign_from) for r in rows)

    def distrust_signing_keys(
        self, key: StoredKey, *, audit: Callable[[list[str]], AuditEvent], at: float
    ) -> list[str]:
        """Store ``key`` and delete every other signing key, in one transaction.

        The response to a compromise: a deleted key leaves the JWKS and no token it
        signed passes the service's own checks any more. Returns the deleted kids;
        ``audit`` makes the event that names them.
        """
        sk = t.signing_keys
        with self.write() as tx:
            conn = tx.connection
            conn.execute(
                insert(sk).values(
                    kid=key.kid,
                    alg=key.alg,
                    private_key=key.private_key,
                    created_at=key.created_at,
                    sign_from=key.sign_from,
                )
            )
            others = sorted(conn.execute(select(sk.c.kid).where(sk.c.kid != key.kid)).scalars())
            conn.execute(sk.delete().where(sk.c.kid != key.kid))
            tx.audit(audit(others), at=at)
        return others

    def delete_signing_keys(self, kids: Sequence[str]) -> None:
        if not kids:
            return
        with self.write() as tx:
            tx.connection.execute(t.signing_keys.delete().where(t.signing_keys.c.kid.in_(kids)))

    # users
    def add_user(
        self, username: str, *, display_name: str, is_admin: bool, at: float, audit: AuditEvent
    ) -> User:
        try:
            with self.write() as tx:
                result = tx.connection.execute(
                    insert(t.users).values(
                        username=username,
                        display_name=display_name,
                        is_admin=is_admin,
                        enabled=True,
                        created_at=at,
                    )
                )
                key = result.inserted_primary_key
                assert key is not None  # noqa: S101
                if is_admin:  # the role is what the admin API reads (store.roles)
                    grant_role(tx.connection, int(key[0]), Role.ADMIN, at=at)
                tx.audit(audit, at=at)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StoreError(f"A user named {username!r} already exists.") from exc
            raise
        return User(int(key[0]), username, display_name, is_admin, True)

    def find_user(self, username: str) -> User | None:
        with self.read() as tx:
            return tx.get_user_by_name(username)

    def set_user_enabled(
        self, username: str, enabled: bool, *, at: float, audit: AuditEvent
    ) -> None:
        with self.write() as tx:
            result = tx.connection.execute(
                update(t.users).where(t.users.c.username == username).values(enabled=enabled)
            )
            if result.rowcount != 1:
                raise NotFound(f"No user named {username!r}.")
            tx.audit(audit, at=at)

    # clients
    def add_client(
        self,
        *,
        client_id: str,
        name: str,
        kind: ClientKind,
        secret_hash: str | None,
        audiences: Sequence[str],
        scopes: Sequence[str],
        at: float,
        audit: AuditEvent,
        dpop_bound: bool = False,
        redirect_uris: Sequence[str] = (),
        post_logout_redirect_uris: Sequence[str] = (),
        backchannel_logout_uri: str | None = None,
        jwks: str | None = None,
    ) -> Client:
        try:
            with self.write() as tx:
                tx.connection.execute(
                    insert(t.clients).values(
                        client_id=client_id,
                        name=name,
                        kind=kind,
                        secret_hash=secret_hash,
                        audiences=json_text(list(audiences)),
                        scopes=json_text(list(scopes)),
                        enabled=True,
                        created_at=at,
                        dpop_bound=dpop_bound,
                        redirect_uris=json_text(list(redirect_uris)),
                        post_logout_redirect_uris=json_text(list(post_logout_redirect_uris)),
                        backchannel_logout_uri=backchannel_logout_uri,
                        jwks=jwks,
                    )
                )
                tx.audit(audit, at=at)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StoreError(f"A client named {name!r} already exists.") from exc
            raise
        return Client(
            client_id,
            name,
            kind,
            secret_hash,
            tuple(audiences),
            tuple(scopes),
            True,
            dpop_bound=dpop_bound,
            redirect_uris=tuple(redirect_uris),
            post_logout_redirect_uris=tuple(post_logout_redirect_uris),
            backchannel_logout_uri=backchannel_logout_uri,
            jwks=jwks,
        )

    def find_client(self, client_id: str) -> Client | None:
        with self.read() as tx:
            return tx.get_client(client_id)

    def find_client_by_name(self, name: str) -> Client | None:
        with self.read() as tx:
            row = tx.connection.execute(select(t.clients).where(t.clients.c.name == name)).first()
        return client_from_row(row) if row is not None else None

    def list_clients(self) -> list[Client]:
        with self.read() as tx:
            rows = tx.connection.execute(select(t.clients).order_by(t.clients.c.name)).all()
        return [client_from_row(r) for r in rows]

    # audiences
    def set_audience(self, policy: AudiencePolicy, *, at: float, audit: AuditEvent) -> None:
        with self.write() as tx:
            conn = tx.connection
            a = t.audiences
            values = {
                "token_format": policy.token_format,
                "lifetime": policy.lifetime,
                "min_acr": policy.min_acr,
            }
            done = conn.execute(update(a).where(a.c.audience == policy.audience).values(**values))
            if done.rowcount == 0:
                conn.execute(insert(a).values(audience=policy.audience, **values))
            tx.audit(audit, at=at)

    def max_access_token_lifetime(self, default: int) -> int:
        with self.read() as tx:
            longest = tx.connection.execute(select(func.max(t.audiences.c.lifetime))).scalar()
        return max(default, int(longest or 0))

    # audit
    def audit(self, event: AuditEvent, *, at: float) -> None:
        with self.write() as tx:
            tx.audit(event, at=at)

    def audit_entries(
        self, *, since: float | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        a = t.audit
        stmt = select(a).order_by(a.c.id)
        if since is not None:
            stmt = stmt.where(a.c.at >= since)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.read() as tx:
            rows = tx.connection.execute(stmt).mappings().all()
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]

    # sessions (admin view)
    def sessions_of(self, username: str) -> list[Session]:
        s, u = t.sessions, t.users
        stmt = (
            select(s)
            .select_from(s.join(u, u.c.id == s.c.user_id))
            .where(and_(u.c.username == username))
            .order_by(s.c.created_at)
        )
        with self.read() as tx:
            return [session_from_row(m) for m in tx.connection.execute(stmt).mappings()]
