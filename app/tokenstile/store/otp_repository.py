"""OTP credentials in the database: the SQL adapter behind ``factors.otp_service``.

``SqlOtpTx`` implements ``OtpTx`` over one open transaction: every "record" is one
conditional ``UPDATE`` whose row count decides, so the database, not a process, decides
which of two simultaneous uses of a code wins; failure counts are incremented in the
statement and read back with ``RETURNING``. A login's first read locks the person's
credential rows (``FOR NO KEY UPDATE``) until it commits, so the lockout's
read-judge-check-count runs for one person at a time across every server process.
``SqlOtpStore`` opens those transactions over the ``Store``. The use cases, the timing
decoy and the result types live in ``factors``; here are the prebuilt statements and
the row mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from tokenstile.errors import NotFound
from tokenstile.factors.otp import CredentialState, HashName, OtpCredential, OtpKind, OtpParameters
from tokenstile.factors.otp_lockout import FailureCount
from tokenstile.factors.otp_tx import NewOtpCredential, OtpCredentialInfo, OtpSerialTaken
from tokenstile.store import schema as t
from tokenstile.store.repository import Store
from tokenstile.store.rows import clip, is_plain_text
from tokenstile.store.token_tx import SqlTx
from tokenstile.tokens.model import AuditEvent, User

_IN_CHUNK = 500

_c = t.otp_credentials
_f = t.otp_user_failures
_u = t.users


# -- prebuilt statements (the login runs these on every attempt) ----------------------------

_SELECT_USER = select(_u).where(_u.c.username == bindparam("username"))
# Locks the rows in id order until the transaction ends (PostgreSQL: FOR NO KEY UPDATE,
# which does not block foreign-key checks; SQLite: nothing to add, BEGIN IMMEDIATE already
# holds the one write lock). Every login attempt for a person starts here, so attempts
# queue instead of all judging the same failure count (issue 13, item 8).
_SELECT_CREDENTIALS = (
    select(_c)
    .where(_c.c.user_id == bindparam("uid"))
    .order_by(_c.c.id)
    .with_for_update(key_share=True)
)
_SELECT_USER_FAILURES = select(_f.c.failures, _f.c.last_failure_at).where(
    _f.c.user_id == bindparam("uid")
)
_RECORD_USE = (
    update(_c)
    .where(
        _c.c.id == bindparam("cid"),
        _c.c.state == "active",
        _c.c.last_used < bindparam("counter"),
    )
    .values(
        last_used=bindparam("counter"),
        drift=bindparam("drift"),
        last_used_at=bindparam("at"),
        failures=0,
        last_failure_at=None,
    )
)
_ACTIVATE = (
    update(_c)
    .where(
        _c.c.id == bindparam("cid"),
        _c.c.state == "pending",
        _c.c.last_used < bindparam("counter"),
    )
    .values(
        state="active",
        state_changed_at=bindparam("at"),
        last_used=bindparam("counter"),
        drift=bindparam("drift"),
        last_used_at=bindparam("at"),
    )
)
_RESYNC = (
    update(_c)
    .where(
        _c.c.id == bindparam("cid"),
        _c.c.state.in_(["active", "locked"]),
        _c.c.last_used < bindparam("counter"),
    )
    .values(last_used=bindparam("counter"), drift=bindparam("drift"))
)
_RECORD_FAILURE = (
    update(_c)
    .where(_c.c.id == bindparam("cid"))
    .values(failures=_c.c.failures + 1, last_failure_at=bindparam("at"))
    .returning(_c.c.failures, _c.c.last_failure_at)
)
_LOCK = (
    update(_c)
    .where(_c.c.id == bindparam("cid"), _c.c.state == "active")
    .values(state="locked", state_changed_at=bindparam("at"))
)
_USER_FAILURE_VALUES = {
    "user_id": bindparam("uid"),
    "failures": 1,
    "last_failure_at": bindparam("at"),
}
_USER_FAILURE_UPSERTS = {
    name: (
        dialect_insert(_f)
        .values(_USER_FAILURE_VALUES)
        .on_conflict_do_update(
            index_elements=[_f.c.user_id],
            set_={"failures": _f.c.failures + 1, "last_failure_at": bindparam("at")},
        )
        .returning(_f.c.failures, _f.c.last_failure_at)
    )
    for name, dialect_insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
}
_COUNT_USER_FAILURE = (
    update(_f)
    .where(_f.c.user_id == bindparam("uid"))
    .values(failures=_f.c.failures + 1, last_failure_at=bindparam("at"))
    .returning(_f.c.failures, _f.c.last_failure_at)
)
_CLEAR_USER_FAILURES = (
    update(_f).where(_f.c.user_id == bindparam("uid")).values(failures=0, last_failure_at=None)
)
_INSERT_CREDENTIAL = insert(_c)
_INFO_COLUMNS = [column for column in _c.c if column.name != "sealed_seed"]
_SELECT_INFO = select(*_INFO_COLUMNS, _u.c.username).select_from(
    _c.outerjoin(_u, _u.c.id == _c.c.user_id)
)
_LOCK_USER_CREDENTIALS = (
    select(_c.c.serial, _c.c.state)
    .where(_c.c.user_id == bindparam("uid"))
    .order_by(_c.c.id)
    .with_for_update(key_share=True)
)

_SELECT_BY_SERIAL = select(_c).where(_c.c.serial == bindparam("serial"))
_SERIAL_TAKEN = select(_c.c.id).where(_c.c.serial == bindparam("serial"))

# No row has id 0: these run the statements of a counted refusal and change nothing.
_NO_ROW = 0


def _credential(row: Any) -> OtpCredential:
    kind = cast(OtpKind, row.kind)
    return OtpCredential(
        id=row.id,
        serial=row.serial,
        label=row.label,
        params=OtpParameters(kind, cast(HashName, row.algorithm), row.digits, row.period),
        state=cast(CredentialState, row.state),
        sealed_seed=bytes(row.sealed_seed),
        user_id=row.user_id,
        last_used=int(row.last_used),
        drift=row.drift,
        failures=row.failures,
        last_failure_at=row.last_failure_at,
        not_before=row.not_before,
        not_after=row.not_after,
        manufacturer=row.manufacturer,
        model=row.model,
    )


def _info(row: Any) -> OtpCredentialInfo:
    return OtpCredentialInfo(
        serial=row.serial,
        username=row.username,
        label=row.label,
        kind=row.kind,
        algorithm=row.algorithm,
        digits=row.digits,
        period=row.period,
        state=row.state,
        drift=row.drift,
        failures=row.failures,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        enrolled_by=row.enrolled_by,
        manufacturer=row.manufacturer,
        model=row.model,
        not_after=row.not_after,
    )


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def _values(new: NewOtpCredential) -> dict[str, Any]:
    return {
        "serial": new.serial,
        "user_id": new.user_id,
        "label": clip(new.label) or "",
        "kind": new.params.kind,
        "algorithm": new.params.algorithm,
        "digits": new.params.digits,
        "period": new.params.period,
        "state": new.state,
        "sealed_seed": new.sealed_seed,
        "last_used": new.last_used,
        "drift": new.drift,
        "failures": 0,
        "not_before": new.not_before,
        "not_after": new.not_after,
        "manufacturer": clip(new.manufacturer),
        "model": clip(new.model),
        "issuer": clip(new.issuer),
        "key_id": clip(new.key_id),
        "created_at": new.created_at,
        "enrolled_by": clip(new.enrolled_by),
        "state_changed_at": new.created_at,
    }


class SqlOtpTx:
    """``OtpTx`` over one ``SqlTx`` (a connection inside a transaction).

    ``statements`` counts the ``OtpStore`` statements run, for ``pad_to``.
    """

    __slots__ = ("_conn", "_tx", "_upsert", "statements")

    def __init__(self, tx: SqlTx) -> None:
        self._tx = tx
        self._conn = tx.connection
        self._upsert = _USER_FAILURE_UPSERTS[self._conn.dialect.name]
        self.statements = 0

    def _run(self, statement: Any, params: dict[str, Any]) -> Any:
        self.statements += 1
        return self._conn.execute(statement, params)

    # -- the authenticator's port (OtpStore) ------------------------------------------------

    def otp_credentials(self, user_id: int) -> Sequence[OtpCredential]:
        return [_credential(row) for row in self._run(_SELECT_CREDENTIALS, {"uid": user_id})]

    def record_otp_use(self, credential_id: int, *, counter: int, drift: int, at: float) -> bool:
        params = {"cid": credential_id, "counter": counter, "drift": drift, "at": at}
        return bool(self._run(_RECORD_USE, params).rowcount == 1)

    def activate_otp_credential(
        self, credential_id: int, *, counter: int, drift: int, at: float
    ) -> bool:
        params = {"cid": credential_id, "counter": counter, "drift": drift, "at": at}
        return bool(self._run(_ACTIVATE, params).rowcount == 1)

    def resync_otp_credential(
        self, credential_id: int, *, counter: int, drift: int, at: float
    ) -> bool:
        params = {"cid": credential_id, "counter": counter, "drift": drift}
        return bool(self._run(_RESYNC, params).rowcount == 1)

    def record_otp_failure(self, credential_id: int, *, at: float) -> FailureCount:
        row = self._run(_RECORD_FAILURE, {"cid": credential_id, "at": at}).first()
        if row is None:
            raise NotFound("The OTP credential no longer exists.")
        return FailureCount(int(row.failures), row.last_failure_at)

    def lock_otp_credential(self, credential_id: int, *, at: float) -> bool:
        return bool(self._run(_LOCK, {"cid": credential_id, "at": at}).rowcount == 1)

    def user_otp_failures(self, user_id: int) -> FailureCount:
        row = self._run(_SELECT_USER_FAILURES, {"uid": user_id}).first()
        if row is None:
            return FailureCount()
        return FailureCount(int(row.failures), row.last_failure_at)

    def record_user_otp_failure(self, user_id: int, *, at: float) -> FailureCount:
        # INSERT ... ON CONFLICT DO UPDATE: the first failure of two concurrent ones
        # creates the row, the second counts on it; neither is lost.
        row = self._run(self._upsert, {"uid": user_id, "at": at}).one()
        return FailureCount(int(row.failures), row.last_failure_at)

    def clear_user_otp_failures(self, user_id: int) -> None:
        self._run(_CLEAR_USER_FAILURES, {"uid": user_id})

    def nobody(self) -> _NoRowOtp:
        return _NoRowOtp(self)

    def pad_to(self, statements: int, *, at: float) -> None:
        padding = (
            (_SELECT_CREDENTIALS, {"uid": _NO_ROW}),
            (_SELECT_USER_FAILURES, {"uid": _NO_ROW}),
            (_RECORD_FAILURE, {"cid": _NO_ROW, "at": at}),
            (_COUNT_USER_FAILURE, {"uid": _NO_ROW, "at": at}),
        )
        while self.statements < statements:
            statement, params = padding[self.statements % len(padding)]
            self._run(statement, params).all()

    # -- people -------------------------------------------------------------------------------

    def find_user(self, username: str) -> User | None:
        # Text no database takes as a parameter looks up "" instead, and finds nobody:
        # the same statement either way.
        plausible = is_plain_text(username)
        row = self._conn.execute(_SELECT_USER, {"username": username if plausible else ""})
        found = row.first()
        if found is None or not plausible:
            return None
        return User(
            found.id,
            found.username,
            found.display_name,
            bool(found.is_admin),
            bool(found.enabled),
        )

    def require_user(self, username: str) -> User:
        return self._tx.require_user(username)

    def get_user(self, user_id: int) -> User | None:
        return self._tx.get_user(user_id)

    def username_taken(self, username: str) -> bool:
        return self._conn.execute(_SELECT_USER, {"username": username}).first() is not None

    def user_ids(self, usernames: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(usernames):
            rows = self._conn.execute(
                select(_u.c.username, _u.c.id).where(_u.c.username.in_(chunk))
            )
            found.update({row.username: row.id for row in rows})
        return found

    # -- credentials --------------------------------------------------------------------------

    def serial_taken(self, serial: str) -> bool:
        return self._conn.execute(_SERIAL_TAKEN, {"serial": serial}).first() is not None

    def serials_taken(self, serials: Sequence[str]) -> set[str]:
        taken: set[str] = set()
        for chunk in _chunks(serials):
            taken.update(
                self._conn.execute(select(_c.c.serial).where(_c.c.serial.in_(chunk))).scalars()
            )
        return taken

    def credential_by_serial(self, serial: str) -> OtpCredential | None:
        row = self._conn.execute(_SELECT_BY_SERIAL, {"serial": serial}).first()
        return None if row is None else _credential(row)

    def credential_infos(self, serials: Sequence[str]) -> list[OtpCredentialInfo]:
        found: list[OtpCredentialInfo] = []
        for chunk in _chunks(serials):
            rows = self._conn.execute(_SELECT_INFO.where(_c.c.serial.in_(chunk)).order_by(_c.c.id))
            found += [_info(row) for row in rows]
        return found

    def all_credential_infos(self, user_id: int | None = None) -> list[OtpCredentialInfo]:
        stmt = _SELECT_INFO.order_by(_c.c.id)
        if user_id is not None:
            stmt = stmt.where(_c.c.user_id == user_id)
        return [_info(row) for row in self._conn.execute(stmt)]

    def add_otp_credentials(self, credentials: Sequence[NewOtpCredential]) -> None:
        values = [_values(new) for new in credentials]
        try:
            self._conn.execute(_INSERT_CREDENTIAL, values[0] if len(values) == 1 else values)
        except IntegrityError as exc:
            raise OtpSerialTaken("A credential with this serial is already enrolled.") from exc

    def assign_otp_credential(self, credential_id: int, user_id: int) -> None:
        self._conn.execute(
            update(_c)
            .where(_c.c.id == credential_id)
            .values(user_id=user_id, failures=0, last_failure_at=None)
        )

    def revoke_otp_credential(self, credential_id: int, *, at: float) -> bool:
        done = self._conn.execute(
            update(_c)
            .where(_c.c.id == credential_id, _c.c.state != "revoked")
            .values(state="revoked", state_changed_at=at)
        )
        return bool(done.rowcount == 1)

    def lock_user_credentials(self, user_id: int) -> list[tuple[str, str]]:
        rows = self._conn.execute(_LOCK_USER_CREDENTIALS, {"uid": user_id}).all()
        return [(row.serial, row.state) for row in rows]

    def unlock_user(self, user_id: int, *, at: float) -> None:
        conn = self._conn
        conn.execute(
            update(_c)
            .where(_c.c.user_id == user_id, _c.c.state == "locked")
            .values(state="active", state_changed_at=at)
        )
        conn.execute(
            update(_c)
            .where(_c.c.user_id == user_id, _c.c.state == "active")
            .values(failures=0, last_failure_at=None)
        )
        conn.execute(delete(_f).where(_f.c.user_id == user_id))

    # -- sessions and audit ---------------------------------------------------------------------

    def end_sessions_of(
        self, credential: str, *, reason: str, by: str, origin: str | None, at: float
    ) -> int:
        return self._tx.end_sessions_of(credential, reason=reason, by=by, origin=origin, at=at)

    def audit(self, event: AuditEvent, *, at: float) -> None:
        self._tx.audit(event, at=at)


class _NoRowOtp:
    """The ``OtpStore`` statements of a counted refusal aimed at no row (``nobody()``):
    each runs, counts, and changes and finds nothing."""

    __slots__ = ("_tx",)

    def __init__(self, tx: SqlOtpTx) -> None:
        self._tx = tx

    def otp_credentials(self, user_id: int) -> Sequence[OtpCredential]:
        self._tx._run(_SELECT_CREDENTIALS, {"uid": _NO_ROW}).all()
        return []

    def record_otp_use(self, credential_id: int, *, counter: int, drift: int, at: float) -> bool:
        return self._tx.record_otp_use(_NO_ROW, counter=counter, drift=drift, at=at)

    def activate_otp_credential(
        self, credential_id: int, *, counter: int, drift: int, at: float
    ) -> bool:
        return self._tx.activate_otp_credential(_NO_ROW, counter=counter, drift=drift, at=at)

    def resync_otp_credential(
        self, credential_id: int, *, counter: int, drift: int, at: float
    ) -> bool:
        return self._tx.resync_otp_credential(_NO_ROW, counter=counter, drift=drift, at=at)

    def record_otp_failure(self, credential_id: int, *, at: float) -> FailureCount:
        self._tx._run(_RECORD_FAILURE, {"cid": _NO_ROW, "at": at}).all()
        return FailureCount()

    def lock_otp_credential(self, credential_id: int, *, at: float) -> bool:
        return self._tx.lock_otp_credential(_NO_ROW, at=at)

    def user_otp_failures(self, user_id: int) -> FailureCount:
        return self._tx.user_otp_failures(_NO_ROW)

    def record_user_otp_failure(self, user_id: int, *, at: float) -> FailureCount:
        # An UPDATE, not the upsert: the upsert would create a row for nobody.
        self._tx._run(_COUNT_USER_FAILURE, {"uid": _NO_ROW, "at": at}).all()
        return FailureCount()

    def clear_user_otp_failures(self, user_id: int) -> None:
        self._tx.clear_user_otp_failures(_NO_ROW)


class SqlOtpStore:
    """``OtpTxStore`` over the ``Store``: ``OtpService(SqlOtpStore(store), box=..., clock=...)``."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    @contextmanager
    def write(self) -> Iterator[SqlOtpTx]:
        with self._store.write() as tx:
            yield SqlOtpTx(tx)

    @contextmanager
    def read(self) -> Iterator[SqlOtpTx]:
        with self._store.read() as tx:
            yield SqlOtpTx(tx)
