"""OTP credentials in the database.

``SqlOtpStore`` is the factor's ``OtpStore`` port over one open transaction: every
"record" is one conditional ``UPDATE`` whose row count decides, so the database, not a
process, decides which of two simultaneous uses of a code wins; failure counts are
incremented in the statement and read back with ``RETURNING``. A login's first read locks
the person's credential rows (``FOR NO KEY UPDATE``) until it commits, so the lockout's
read-judge-check-count runs for one person at a time across every server process.

``OtpRepository`` holds the operations, each one transaction with its audit row in it:
the login attempt, enrollment of an app or a fob, confirmation of a pending app, PSKC
import (all or nothing), assignment, listing, revocation, unlock and resync. Seeds are
sealed under the KEK before they reach a statement, and neither a seed nor a code ever
goes into the audit log.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from tokenstile.clock import Clock
from tokenstile.errors import NotFound, StoreError
from tokenstile.factors.otp import (
    MAX_STORED_COUNTER,
    NEVER_USED,
    CredentialState,
    HashName,
    InvalidOtpParameters,
    OtpCredential,
    OtpError,
    OtpKind,
    OtpParameters,
    OtpResyncFailed,
    ResyncResult,
    SecretBox,
    VerificationPolicy,
    seal_seed,
)
from tokenstile.factors.otp_enrollment import (
    AppEnrollment,
    generate_serial,
    new_app_enrollment,
)
from tokenstile.factors.otp_lockout import FailureCount, LockoutPolicy
from tokenstile.factors.otp_login import LoginStatus, OtpAuthenticator, OtpLoginOutcome
from tokenstile.factors.pskc_import import ImportProblem, PskcImport, import_pskc
from tokenstile.store import schema as t
from tokenstile.store.repository import (
    CREDENTIAL_REVOKED,
    Revoked,
    SqlTx,
    Store,
    clip,
    is_plain_text,
)
from tokenstile.tokens.model import AuditEvent, User, credential_ref

OTP_FACTOR = "otp"
# Store statements a refused login with one credential runs (credentials read and
# locked, user failure count read, credential failure counted, user failure counted). A
# refusal that stopped earlier (unknown user, delay, lock, malformed code) runs harmless
# statements of the same shapes until it has run as many, so refusals cost the database
# the same.
LOGIN_STATEMENTS = 4
MAX_SERIAL_CHARS = 128
_USERNAME_CHARS = 128
_IN_CHUNK = 500

_c = t.otp_credentials
_f = t.otp_user_failures
_u = t.users


class OtpConflict(StoreError):
    """The credential is not in a state that allows this (already enrolled, revoked...)."""

    code = "otp_conflict"


class OtpCodeRefused(OtpError):
    """A code given to confirm an enrollment was wrong, malformed or already used."""

    code = "otp_code_refused"


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


class SqlOtpStore:
    """``OtpStore`` over one connection inside a transaction (see ``otp_login``).

    ``statements`` counts the statements run, for ``pad_to``.
    """

    __slots__ = ("_conn", "_upsert", "statements")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._upsert = _USER_FAILURE_UPSERTS[conn.dialect.name]
        self.statements = 0

    def _run(self, statement: Any, params: dict[str, Any]) -> Any:
        self.statements += 1
        return self._conn.execute(statement, params)

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

    def pad_to(self, statements: int, *, at: float) -> None:
        """Run statements shaped like a counted refusal's until ``statements`` have run."""
        padding = (
            (_SELECT_CREDENTIALS, {"uid": _NO_ROW}),
            (_SELECT_USER_FAILURES, {"uid": _NO_ROW}),
            (_RECORD_FAILURE, {"cid": _NO_ROW, "at": at}),
            (_COUNT_USER_FAILURE, {"uid": _NO_ROW, "at": at}),
        )
        while self.statements < statements:
            statement, params = padding[self.statements % len(padding)]
            self._run(statement, params).all()


class _DecoyOtpStore(SqlOtpStore):
    """What an unknown or disabled person is checked against: one decoy TOTP credential
    with a random seed, never usable, behind the statements a real check runs.

    The authenticator then runs exactly the path of a wrong code for a real person (open
    the seed, check the window, count the failure on the credential and on the person),
    and every statement runs and matches no row, so nothing is written.
    """

    __slots__ = ("_decoy",)

    def __init__(self, conn: Connection, decoy: dict[str, Any]) -> None:
        super().__init__(conn)
        self._decoy = decoy

    def otp_credentials(self, user_id: int) -> Sequence[OtpCredential]:
        self._run(_SELECT_CREDENTIALS, {"uid": _NO_ROW}).all()
        return [_credential(_RowView(self._decoy))]

    def record_otp_use(self, credential_id: int, *, counter: int, drift: int, at: float) -> bool:
        super().record_otp_use(_NO_ROW, counter=counter, drift=drift, at=at)
        return False  # a decoy never signs anyone in

    def record_otp_failure(self, credential_id: int, *, at: float) -> FailureCount:
        self._run(_RECORD_FAILURE, {"cid": _NO_ROW, "at": at}).all()
        return FailureCount(1, at)

    def lock_otp_credential(self, credential_id: int, *, at: float) -> bool:
        return False

    def user_otp_failures(self, user_id: int) -> FailureCount:
        return super().user_otp_failures(_NO_ROW)

    def record_user_otp_failure(self, user_id: int, *, at: float) -> FailureCount:
        self._run(_COUNT_USER_FAILURE, {"uid": _NO_ROW, "at": at}).all()
        return FailureCount(1, at)

    def clear_user_otp_failures(self, user_id: int) -> None:
        return None


class _RowView:
    """Attribute access to a dict, like a result row (``_credential`` reads rows)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def _decoy_row(box: SecretBox) -> dict[str, Any]:
    serial = "tokenstile-decoy"
    return {
        "id": _NO_ROW,
        "serial": serial,
        "user_id": _NO_ROW,
        "label": "",
        "kind": "totp",
        "algorithm": "SHA1",
        "digits": 6,
        "period": 30,
        "state": "active",
        "sealed_seed": seal_seed(box, serial, secrets.token_bytes(20)),
        "last_used": NEVER_USED,
        "drift": 0,
        "failures": 0,
        "last_failure_at": None,
        "not_before": None,
        "not_after": None,
        "manufacturer": None,
        "model": None,
    }


def _audit_text(value: str, limit: int) -> str:
    clipped = value[:limit]
    if is_plain_text(clipped):
        return clipped
    return clipped.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


# -- what callers see -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OtpCredentialInfo:
    """A credential as an admin sees it: everything but the seed."""

    serial: str
    username: str | None
    label: str
    kind: str
    algorithm: str
    digits: int
    period: int | None
    state: str
    drift: int
    failures: int
    created_at: float
    last_used_at: float | None
    enrolled_by: str | None
    manufacturer: str | None
    model: str | None
    not_after: float | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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


@dataclass(frozen=True, slots=True)
class OtpLoginResult:
    """``user`` is set only when the code was accepted; ``outcome`` is for the audit log."""

    user: User | None
    outcome: OtpLoginOutcome

    @property
    def accepted(self) -> bool:
        return self.user is not None and self.outcome.accepted


@dataclass(frozen=True, slots=True)
class PskcImportResult:
    """The parser's report (with any problem the database found) and what was stored."""

    report: PskcImport
    imported: tuple[OtpCredentialInfo, ...]

    @property
    def ok(self) -> bool:
        return self.report.ok

    def describe(self) -> str:
        if not self.ok:
            return self.report.describe()
        lines = [
            f"Imported {len(self.imported)} credential(s) from {self.report.packages} package(s)."
        ]
        for info in self.imported:
            owner = info.username or "unassigned"
            lines.append(
                f"  {info.serial}: {info.kind.upper()} {info.algorithm} {info.digits} digits"
                f"{f' {info.period} s' if info.period else ''}, {owner}"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "packages": self.report.packages,
            "imported": [info.to_json() for info in self.imported],
            "problems": [
                {
                    "package": p.package,
                    "line": p.line,
                    "serial": p.serial,
                    "reason": p.reason,
                    "description": p.describe(),
                }
                for p in self.report.problems
            ],
        }


class _InDatabase:
    """``text in this`` runs ``statement`` with it as ``:key`` (inside the caller's
    transaction): whether a row comes back."""

    def __init__(self, conn: Connection, statement: Any, key: str) -> None:
        self._conn = conn
        self._statement = statement
        self._key = key

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        return self._conn.execute(self._statement, {self._key: text}).first() is not None


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


class OtpRepository:
    """Every OTP operation as one transaction, audited in that transaction.

    ``by`` names who did an admin action (``tokenstile manage``, ``admin:alice``); it goes
    in the audit detail and the credential's ``enrolled_by``. ``origin`` is where from.
    """

    def __init__(
        self,
        store: Store,
        *,
        box: SecretBox,
        clock: Clock,
        policy: VerificationPolicy | None = None,
        lockout: LockoutPolicy | None = None,
        issuer_name: str = "Tokenstile",
    ) -> None:
        self._store = store
        self._box = box
        self._clock = clock
        self.issuer_name = issuer_name
        self.authenticator = OtpAuthenticator(box=box, clock=clock, policy=policy, lockout=lockout)
        self._decoy = _decoy_row(box)

    # -- login ------------------------------------------------------------------------------

    def login(
        self, username: str, code: str, *, client_id: str | None = None, origin: str | None = None
    ) -> OtpLoginResult:
        """One login attempt: find the person, check the code, count or record, audit.

        An unknown or disabled person is checked against a decoy credential
        (``_DecoyOtpStore``): the same statements, the same seed opening and HMAC work, the
        same failure counting as a wrong code for a real person, with nothing written.
        Refusals that stop early (delay, lock, no credential, malformed code) run
        statements of the same shapes until they have run ``LOGIN_STATEMENTS``.
        """
        plausible = is_plain_text(username)
        with self._store.write() as tx:
            conn = tx.connection
            lookup = username if plausible else ""
            row = conn.execute(_SELECT_USER, {"username": lookup}).first()
            user = (
                User(row.id, row.username, row.display_name, bool(row.is_admin), bool(row.enabled))
                if row is not None and plausible
                else None
            )
            known = user if user is not None and user.enabled else None
            otp: SqlOtpStore
            if known is None:
                otp = _DecoyOtpStore(conn, self._decoy)
                checked = self.authenticator.authenticate(otp, user_id=_NO_ROW, code=code)
                status: LoginStatus = (
                    "malformed" if checked.status == "malformed" else "unknown_user"
                )
                outcome = OtpLoginOutcome(status)
            else:
                otp = SqlOtpStore(conn)
                outcome = self.authenticator.authenticate(otp, user_id=known.id, code=code)
            now = self._clock.now()
            if not outcome.accepted:
                otp.pad_to(LOGIN_STATEMENTS, at=now)
            self._audit_login(
                tx, username, user, outcome, client_id=client_id, origin=origin, at=now
            )
        return OtpLoginResult(known if outcome.accepted else None, outcome)

    def _audit_login(
        self,
        tx: SqlTx,
        username: str,
        user: User | None,
        outcome: OtpLoginOutcome,
        *,
        client_id: str | None,
        origin: str | None,
        at: float,
    ) -> None:
        name = _audit_text(username, _USERNAME_CHARS)
        # ``checked``: the code was checked against a real credential and counted; False
        # for a refusal that looked at no code (delay, lock, unknown person, malformed).
        detail: dict[str, Any] = {"reason": outcome.status, "checked": outcome.checked}
        if user is not None and not user.enabled:
            detail["reason"] = "user_disabled"
        if outcome.credential is not None:
            detail["serial"] = outcome.credential.serial
        if outcome.retry_at is not None:
            detail["retry_at"] = outcome.retry_at
        if outcome.accepted:
            assert outcome.credential is not None  # noqa: S101
            detail = {
                "serial": outcome.credential.serial,
                "kind": outcome.credential.params.kind,
            }
        tx.audit(
            AuditEvent(
                "otp_login",
                "success" if outcome.accepted else "failure",
                username=name,
                client_id=client_id,
                factor=OTP_FACTOR,
                origin=origin,
                detail=detail,
            ),
            at=at,
        )
        for serial in outcome.locked_serials:
            tx.audit(
                AuditEvent(
                    "otp_credential_locked",
                    "alert",
                    username=name,
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"serial": serial, "failures": self.authenticator.lockout.lock_after},
                ),
                at=at,
            )
        if outcome.user_locked and outcome.status in ("wrong_code", "replayed"):
            tx.audit(
                AuditEvent(
                    "otp_user_locked",
                    "alert",
                    username=name,
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"failures": self.authenticator.lockout.lock_after},
                ),
                at=at,
            )

    # -- enrollment ---------------------------------------------------------------------------

    def prepare_app(
        self,
        username: str,
        *,
        params: OtpParameters | None = None,
        seed: bytes | None = None,
        label: str = "Authenticator app",
        serial: str | None = None,
    ) -> AppEnrollment:
        """A new credential's seed, serial and ``otpauth://`` URI, not stored yet."""
        params = params or OtpParameters.totp()
        if serial is not None:
            serial = self._check_serial(serial)
        elif params.kind == "hotp":
            serial = generate_serial("HOTP")
        return new_app_enrollment(
            issuer=self.issuer_name,
            account=username,
            params=params,
            seed=seed,
            label=label,
            serial=serial,
        )

    @staticmethod
    def _check_serial(serial: str) -> str:
        serial = serial.strip()
        if not serial or len(serial) > MAX_SERIAL_CHARS or not serial.isprintable():
            raise InvalidOtpParameters(
                f"A serial must be 1 to {MAX_SERIAL_CHARS} printable characters."
            )
        return serial

    def store_enrollment(
        self,
        username: str,
        enrollment: AppEnrollment,
        *,
        active: bool,
        by: str,
        origin: str | None = None,
        last_used: int = NEVER_USED,
    ) -> OtpCredentialInfo:
        """Store a prepared credential: pending until its first code, or active at once
        (an admin supplied the seed). ``last_used``: an HOTP fob's counter minus one."""
        now = self._clock.now()
        params = enrollment.params
        state: CredentialState = "active" if active else "pending"
        try:
            with self._store.write() as tx:
                user = tx.require_user(username)
                tx.connection.execute(
                    _INSERT_CREDENTIAL,
                    {
                        "serial": enrollment.serial,
                        "user_id": user.id,
                        "label": clip(enrollment.label) or "",
                        "kind": params.kind,
                        "algorithm": params.algorithm,
                        "digits": params.digits,
                        "period": params.period,
                        "state": state,
                        "sealed_seed": seal_seed(self._box, enrollment.serial, enrollment.seed),
                        "last_used": last_used,
                        "drift": 0,
                        "failures": 0,
                        "created_at": now,
                        "enrolled_by": clip(by),
                        "state_changed_at": now,
                    },
                )
                tx.audit(
                    AuditEvent(
                        "otp_enrolled",
                        "info",
                        username=user.username,
                        factor=OTP_FACTOR,
                        origin=origin,
                        detail={
                            "serial": enrollment.serial,
                            "kind": params.kind,
                            "algorithm": params.algorithm,
                            "digits": params.digits,
                            "period": params.period,
                            "state": state,
                            "source": "admin secret" if active else "generated",
                            "by": by,
                        },
                    ),
                    at=now,
                )
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise OtpConflict(
                    f"A credential with serial {enrollment.serial} is already enrolled."
                ) from exc
            raise
        return self.credential(enrollment.serial)

    def enroll_app(
        self,
        username: str,
        *,
        by: str,
        origin: str | None = None,
        params: OtpParameters | None = None,
        seed: bytes | None = None,
        label: str = "Authenticator app",
        serial: str | None = None,
    ) -> tuple[OtpCredentialInfo, AppEnrollment]:
        """TOTP (or HOTP) for an app: a generated seed stays pending until confirmed; an
        admin-supplied seed is active at once."""
        enrollment = self.prepare_app(
            username, params=params, seed=seed, label=label, serial=serial
        )
        info = self.store_enrollment(
            username, enrollment, active=seed is not None, by=by, origin=origin
        )
        return info, enrollment

    def enroll_hotp(
        self,
        username: str,
        seed: bytes,
        *,
        by: str,
        origin: str | None = None,
        counter: int = 0,
        params: OtpParameters | None = None,
        label: str = "HOTP fob",
        serial: str | None = None,
    ) -> OtpCredentialInfo:
        """An HOTP fob whose seed the admin has; ``counter`` is the next one it shows."""
        params = params or OtpParameters.hotp()
        if params.kind != "hotp":
            raise InvalidOtpParameters("enroll_hotp enrolls HOTP credentials only.")
        if not 0 <= counter < MAX_STORED_COUNTER:
            raise InvalidOtpParameters("The HOTP counter must be between 0 and 2**63 - 2.")
        enrollment = self.prepare_app(
            username, params=params, seed=seed, label=label, serial=serial
        )
        return self.store_enrollment(
            username, enrollment, active=True, by=by, origin=origin, last_used=counter - 1
        )

    def confirm(
        self, serial: str, code: str, *, by: str, origin: str | None = None
    ) -> OtpCredentialInfo:
        """The first code of a pending app credential makes it active."""
        with self._store.write() as tx:
            credential = self._credential(tx, serial)
            if credential.state != "pending":
                raise OtpConflict(
                    f"Credential {serial} is {credential.state}; only a pending one is confirmed."
                )
            outcome = self.authenticator.confirm_enrollment(
                SqlOtpStore(tx.connection), credential, code
            )
            tx.audit(
                AuditEvent(
                    "otp_confirm",
                    "success" if outcome.accepted else "failure",
                    username=self._username_of(tx, credential),
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"serial": serial, "by": by}
                    | ({} if outcome.accepted else {"reason": outcome.status}),
                ),
                at=self._clock.now(),
            )
        # Leaving the block committed the audit row of a refusal too.
        if not outcome.accepted:
            if outcome.status == "replayed":
                raise OtpCodeRefused("That code was already used: type the next one.")
            if outcome.status == "malformed":
                raise OtpCodeRefused("A code is 6 or 8 digits.")
            raise OtpCodeRefused(
                "The code does not match: check the phone's clock and type the code shown now."
            )
        return self.credential(serial)

    # -- PSKC import ----------------------------------------------------------------------------

    def import_pskc(
        self,
        data: bytes,
        *,
        by: str,
        origin: str | None = None,
        psk: bytes | None = None,
        assignments_csv: str | None = None,
    ) -> PskcImportResult:
        """Import every key of a PSKC file or none; assign from a ``serial,username`` CSV.

        The file is read against the database's serials and people (a read transaction,
        so a large file does not hold the write lock), then written in one transaction
        that checks both again: nothing is stored unless everything can be.
        """
        now = self._clock.now()
        with self._store.read() as tx:
            report = import_pskc(
                data,
                now=now,
                psk=psk,
                assignments_csv=assignments_csv,
                known_usernames=_InDatabase(tx.connection, _SELECT_USER, "username"),
                existing_serials=_InDatabase(tx.connection, _SERIAL_TAKEN, "serial"),
            )
        if report.ok:
            long_serials = [
                ImportProblem(
                    f"the serial is longer than {MAX_SERIAL_CHARS} characters",
                    package=key.package,
                    serial=key.serial[:MAX_SERIAL_CHARS] + "...",
                )
                for key in report.keys
                if len(key.serial) > MAX_SERIAL_CHARS
            ]
            if long_serials:
                report = dataclasses.replace(report, keys=(), problems=tuple(long_serials))
        if not report.ok:
            with self._store.write() as tx:
                self._audit_import_failure(tx, report, by=by, origin=origin, at=now)
            return PskcImportResult(report, ())
        try:
            with self._store.write() as tx:
                report = self._store_import(tx, report, by=by, origin=origin, at=now)
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            # A concurrent import or enrollment took a serial between check and insert.
            report = dataclasses.replace(
                report,
                keys=(),
                problems=(ImportProblem("a serial was enrolled meanwhile; nothing imported"),),
            )
            with self._store.write() as tx:
                self._audit_import_failure(tx, report, by=by, origin=origin, at=now)
            return PskcImportResult(report, ())
        if not report.ok:
            return PskcImportResult(report, ())
        serials = [key.serial for key in report.keys]
        return PskcImportResult(report, tuple(self._infos(serials)))

    def _store_import(
        self, tx: SqlTx, report: PskcImport, *, by: str, origin: str | None, at: float
    ) -> PskcImport:
        conn = tx.connection
        serials = [key.serial for key in report.keys]
        taken: set[str] = set()
        for chunk in _chunks(serials):
            taken.update(conn.execute(select(_c.c.serial).where(_c.c.serial.in_(chunk))).scalars())
        wanted = sorted({key.username for key in report.keys if key.username is not None})
        user_ids: dict[str, int] = {}
        for chunk in _chunks(wanted):
            rows = conn.execute(select(_u.c.username, _u.c.id).where(_u.c.username.in_(chunk)))
            user_ids.update({row.username: row.id for row in rows})
        problems = [
            ImportProblem(
                "a credential with this serial is already enrolled",
                package=key.package,
                serial=key.serial,
            )
            for key in report.keys
            if key.serial in taken
        ] + [
            ImportProblem(
                f"there is no user {key.username!r}", package=key.package, serial=key.serial
            )
            for key in report.keys
            if key.username is not None and key.username not in user_ids
        ]
        if problems:
            failed = dataclasses.replace(report, keys=(), problems=tuple(problems))
            self._audit_import_failure(tx, failed, by=by, origin=origin, at=at)
            return failed
        values = [
            {
                "serial": key.serial,
                "user_id": user_ids[key.username] if key.username is not None else None,
                "label": clip(key.label) or key.serial,
                "kind": key.params.kind,
                "algorithm": key.params.algorithm,
                "digits": key.params.digits,
                "period": key.params.period,
                "state": "active",
                "sealed_seed": seal_seed(self._box, key.serial, key.seed),
                "last_used": key.last_used,
                "drift": key.drift,
                "failures": 0,
                "not_before": key.not_before,
                "not_after": key.not_after,
                "manufacturer": clip(key.manufacturer),
                "model": clip(key.model),
                "issuer": clip(key.issuer),
                "key_id": clip(key.key_id),
                "created_at": at,
                "enrolled_by": clip(by),
                "state_changed_at": at,
            }
            for key in report.keys
        ]
        conn.execute(_INSERT_CREDENTIAL, values)
        tx.audit(
            AuditEvent(
                "otp_import",
                "success",
                factor=OTP_FACTOR,
                origin=origin,
                detail={"packages": report.packages, "serials": serials, "by": by},
            ),
            at=at,
        )
        for key in report.keys:
            tx.audit(
                AuditEvent(
                    "otp_enrolled",
                    "info",
                    username=key.username,
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={
                        "serial": key.serial,
                        "kind": key.params.kind,
                        "algorithm": key.params.algorithm,
                        "digits": key.params.digits,
                        "period": key.params.period,
                        "state": "active",
                        "source": "pskc",
                        "manufacturer": key.manufacturer,
                        "by": by,
                    },
                ),
                at=at,
            )
        return report

    @staticmethod
    def _audit_import_failure(
        tx: SqlTx, report: PskcImport, *, by: str, origin: str | None, at: float
    ) -> None:
        tx.audit(
            AuditEvent(
                "otp_import",
                "failure",
                factor=OTP_FACTOR,
                origin=origin,
                detail={
                    "packages": report.packages,
                    "problems": [problem.describe() for problem in report.problems[:100]],
                    "by": by,
                },
            ),
            at=at,
        )

    # -- administration -------------------------------------------------------------------------

    def credential(self, serial: str) -> OtpCredentialInfo:
        infos = self._infos([serial])
        if not infos:
            raise NotFound(f"No OTP credential has the serial {serial!r}.")
        return infos[0]

    def _infos(self, serials: Sequence[str]) -> list[OtpCredentialInfo]:
        found: list[OtpCredentialInfo] = []
        with self._store.read() as tx:
            for chunk in _chunks(serials):
                rows = tx.connection.execute(
                    _SELECT_INFO.where(_c.c.serial.in_(chunk)).order_by(_c.c.id)
                )
                found += [_info(row) for row in rows]
        return found

    def credentials(self, username: str | None = None) -> list[OtpCredentialInfo]:
        """Every credential (oldest first), or one person's."""
        stmt = _SELECT_INFO.order_by(_c.c.id)
        with self._store.read() as tx:
            if username is not None:
                user = tx.require_user(username)
                stmt = stmt.where(_c.c.user_id == user.id)
            return [_info(row) for row in tx.connection.execute(stmt)]

    def assign(
        self, serial: str, username: str, *, by: str, origin: str | None = None
    ) -> OtpCredentialInfo:
        """Hand a fob to a person (an imported fob, or one moving to someone else)."""
        now = self._clock.now()
        with self._store.write() as tx:
            credential = self._credential(tx, serial)
            user = tx.require_user(username)
            if credential.state == "revoked":
                raise OtpConflict(f"Credential {serial} is revoked.")
            previous = self._username_of(tx, credential)
            tx.connection.execute(
                update(_c)
                .where(_c.c.id == credential.id)
                .values(user_id=user.id, failures=0, last_failure_at=None)
            )
            tx.audit(
                AuditEvent(
                    "otp_assigned",
                    "info",
                    username=user.username,
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"serial": serial, "previous": previous, "by": by},
                ),
                at=now,
            )
        return self.credential(serial)

    def revoke(
        self, serial: str, *, by: str, origin: str | None = None
    ) -> Revoked[OtpCredentialInfo]:
        """Revoke a credential for good, and end the sessions it opened."""
        now = self._clock.now()
        with self._store.write() as tx:
            credential = self._credential(tx, serial)
            done = tx.connection.execute(
                update(_c)
                .where(_c.c.id == credential.id, _c.c.state != "revoked")
                .values(state="revoked", state_changed_at=now)
            )
            if done.rowcount != 1:
                raise OtpConflict(f"Credential {serial} is already revoked.")
            tx.audit(
                AuditEvent(
                    "otp_revoked",
                    "info",
                    username=self._username_of(tx, credential),
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"serial": serial, "was": credential.state, "by": by},
                ),
                at=now,
            )
            ended = tx.end_sessions_of(
                credential_ref("otp", credential.serial),
                reason=CREDENTIAL_REVOKED,
                by=by,
                origin=origin,
                at=now,
            )
        return Revoked(info=self.credential(serial), sessions_ended=ended)

    def unlock(self, username: str, *, by: str, origin: str | None = None) -> list[str]:
        """Clear a person's failure count and unlock (and un-delay) their credentials;
        the serials that were locked."""
        now = self._clock.now()
        with self._store.write() as tx:
            conn = tx.connection
            user = tx.require_user(username)
            # Locked in the order a login locks them, so the two never deadlock.
            rows = conn.execute(
                select(_c.c.serial, _c.c.state)
                .where(_c.c.user_id == user.id)
                .order_by(_c.c.id)
                .with_for_update(key_share=True)
            ).all()
            locked = [row.serial for row in rows if row.state == "locked"]
            before = SqlOtpStore(conn).user_otp_failures(user.id)
            conn.execute(
                update(_c)
                .where(_c.c.user_id == user.id, _c.c.state == "locked")
                .values(state="active", state_changed_at=now)
            )
            conn.execute(
                update(_c)
                .where(_c.c.user_id == user.id, _c.c.state == "active")
                .values(failures=0, last_failure_at=None)
            )
            conn.execute(delete(_f).where(_f.c.user_id == user.id))
            tx.audit(
                AuditEvent(
                    "otp_unlocked",
                    "info",
                    username=user.username,
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"serials": locked, "user_failures": before.count, "by": by},
                ),
                at=now,
            )
        return locked

    def resync(
        self, serial: str, first_code: str, second_code: str, *, by: str, origin: str | None = None
    ) -> ResyncResult:
        """Find two consecutive codes in the wide window and record the second."""
        failure: OtpResyncFailed | None = None
        found: ResyncResult | None = None
        with self._store.write() as tx:
            credential = self._credential(tx, serial)
            try:
                found = self.authenticator.resync(
                    SqlOtpStore(tx.connection), credential, first_code, second_code
                )
            except OtpResyncFailed as exc:
                failure = exc
            detail: dict[str, Any] = {"serial": serial, "by": by}
            if found is not None:
                detail["drift"] = found.drift
            tx.audit(
                AuditEvent(
                    "otp_resync",
                    "success" if failure is None else "failure",
                    username=self._username_of(tx, credential),
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail=detail,
                ),
                at=self._clock.now(),
            )
        if failure is not None:
            raise failure
        assert found is not None  # noqa: S101
        return found

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _credential(tx: SqlTx, serial: str) -> OtpCredential:
        row = tx.connection.execute(_SELECT_BY_SERIAL, {"serial": serial}).first()
        if row is None:
            raise NotFound(f"No OTP credential has the serial {serial!r}.")
        return _credential(row)

    @staticmethod
    def _username_of(tx: SqlTx, credential: OtpCredential) -> str | None:
        if credential.user_id is None:
            return None
        user = tx.get_user(credential.user_id)
        return user.username if user is not None else None
