"""What the OTP use cases need from storage, and what they hand back.

``OtpTx`` is one open transaction: the authenticator's ``OtpStore`` port (each method one
statement), plus the person, credential and audit reads and writes the use cases in
``otp_service`` make. ``OtpTxStore`` opens such transactions. The store implements both
(``store.otp_repository``), as it implements ``TokenTx`` for the token service.

The timing decoy lives here too: ``DecoyOtpStore`` is what an unknown or disabled person
is checked against, over the transaction's ``nobody()`` view, whose statements run and
match no row.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from tokenstile.errors import StoreError
from tokenstile.factors.otp import (
    NEVER_USED,
    CredentialState,
    OtpCredential,
    OtpError,
    OtpParameters,
    SecretBox,
    seal_seed,
)
from tokenstile.factors.otp_lockout import FailureCount
from tokenstile.factors.otp_login import OtpLoginOutcome, OtpStore
from tokenstile.factors.pskc_import import PskcImport
from tokenstile.tokens.model import AuditEvent, User

OTP_FACTOR = "otp"
# Statements (``OtpStore`` calls) a refused login with one credential runs (credentials
# read and locked, user failure count read, credential failure counted, user failure
# counted). A refusal that stopped earlier (unknown user, delay, lock, malformed code)
# runs harmless statements of the same shapes until it has run as many, so refusals cost
# the database the same.
LOGIN_STATEMENTS = 4
MAX_SERIAL_CHARS = 128


class OtpConflict(StoreError):
    """The credential is not in a state that allows this (already enrolled, revoked...)."""

    code = "otp_conflict"


class OtpSerialTaken(OtpConflict):
    """The store refused a new credential: its serial is already enrolled (raised by
    ``OtpTx.add_otp_credentials``, inside the transaction, which then rolls back)."""


class OtpCodeRefused(OtpError):
    """A code given to confirm an enrollment was wrong, malformed or already used."""

    code = "otp_code_refused"


# -- the port --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class NewOtpCredential:
    """A credential to store; its seed already sealed under the KEK."""

    serial: str
    user_id: int | None
    label: str
    params: OtpParameters
    state: CredentialState
    sealed_seed: bytes
    last_used: int = NEVER_USED
    drift: int = 0
    created_at: float
    enrolled_by: str | None
    not_before: float | None = None
    not_after: float | None = None
    manufacturer: str | None = None
    model: str | None = None
    issuer: str | None = None
    key_id: str | None = None


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


class OtpTx(OtpStore, Protocol):
    """One transaction of the OTP use cases. The ``OtpStore`` methods count as statements
    for ``pad_to``; nothing else does."""

    def nobody(self) -> OtpStore:
        """This transaction's ``OtpStore`` calls aimed at no row: each runs its statement
        (and counts it), changes nothing and finds nothing (a count of zero)."""
        ...

    def pad_to(self, statements: int, *, at: float) -> None:
        """Run statements shaped like a counted refusal's until ``statements`` have run."""
        ...

    def find_user(self, username: str) -> User | None:
        """The person by name, enabled or not (the login's lookup)."""
        ...

    def require_user(self, username: str) -> User:
        """The person by name, or ``NotFound``."""
        ...

    def get_user(self, user_id: int) -> User | None: ...

    def username_taken(self, username: str) -> bool: ...

    def serial_taken(self, serial: str) -> bool: ...

    def serials_taken(self, serials: Sequence[str]) -> set[str]: ...

    def user_ids(self, usernames: Sequence[str]) -> dict[str, int]:
        """Those of ``usernames`` that name a person, with their ids."""
        ...

    def credential_by_serial(self, serial: str) -> OtpCredential | None: ...

    def credential_infos(self, serials: Sequence[str]) -> list[OtpCredentialInfo]: ...

    def all_credential_infos(self, user_id: int | None = None) -> list[OtpCredentialInfo]:
        """Every credential (oldest first), or one person's."""
        ...

    def add_otp_credentials(self, credentials: Sequence[NewOtpCredential]) -> None:
        """Insert them all, or raise ``OtpSerialTaken``."""
        ...

    def assign_otp_credential(self, credential_id: int, user_id: int) -> None:
        """Give the credential to the person and clear its failure count."""
        ...

    def revoke_otp_credential(self, credential_id: int, *, at: float) -> bool:
        """``state = 'revoked'`` unless it already was; True if this call revoked it."""
        ...

    def lock_user_credentials(self, user_id: int) -> list[tuple[str, str]]:
        """Lock the person's credential rows in the order a login locks them; each one's
        serial and state."""
        ...

    def unlock_user(self, user_id: int, *, at: float) -> None:
        """Unlock the person's locked credentials, clear the failure counts of the active
        ones and the person's own count."""
        ...

    def end_sessions_of(
        self, credential: str, *, reason: str, by: str, origin: str | None, at: float
    ) -> int: ...

    def audit(self, event: AuditEvent, *, at: float) -> None: ...


class OtpTxStore(Protocol):
    def write(self) -> AbstractContextManager[OtpTx]:
        """A write transaction: committed when the block ends, rolled back on error."""
        ...

    def read(self) -> AbstractContextManager[OtpTx]: ...


# -- the timing decoy -------------------------------------------------------------------------


def decoy_credential(box: SecretBox) -> OtpCredential:
    """One TOTP credential with a random seed under the real KEK, never usable."""
    serial = "tokenstile-decoy"
    return OtpCredential(
        id=0,
        serial=serial,
        label="",
        params=OtpParameters("totp", "SHA1", 6, 30),
        state="active",
        sealed_seed=seal_seed(box, serial, secrets.token_bytes(20)),
        user_id=0,
        last_used=NEVER_USED,
    )


class DecoyOtpStore:
    """What an unknown or disabled person is checked against: the decoy credential,
    behind the statements a real check runs.

    The authenticator then runs exactly the path of a wrong code for a real person (open
    the seed, check the window, count the failure on the credential and on the person),
    and every statement runs on ``nobody`` and matches no row, so nothing is written.
    """

    __slots__ = ("_credential", "_nobody")

    def __init__(self, nobody: OtpStore, credential: OtpCredential) -> None:
        self._nobody = nobody
        self._credential = credential

    def otp_credentials(self, user_id: int) -> Sequence[OtpCredential]:
        self._nobody.otp_credentials(user_id)
        return [self._credential]

    def record_otp_use(self, credential_id: int, *, counter: int, drift: int, at: float) -> bool:
        self._nobody.record_otp_use(credential_id, counter=counter, drift=drift, at=at)
        return False  # a decoy never signs anyone in

    def activate_otp_credential(
        self, credential_id: int, *, counter: int, drift: int, at: float
    ) -> bool:
        return False

    def resync_otp_credential(
        self, credential_id: int, *, counter: int, drift: int, at: float
    ) -> bool:
        return False

    def record_otp_failure(self, credential_id: int, *, at: float) -> FailureCount:
        self._nobody.record_otp_failure(credential_id, at=at)
        return FailureCount(1, at)

    def lock_otp_credential(self, credential_id: int, *, at: float) -> bool:
        return False

    def user_otp_failures(self, user_id: int) -> FailureCount:
        return self._nobody.user_otp_failures(user_id)

    def record_user_otp_failure(self, user_id: int, *, at: float) -> FailureCount:
        self._nobody.record_user_otp_failure(user_id, at=at)
        return FailureCount(1, at)

    def clear_user_otp_failures(self, user_id: int) -> None:
        return None


# -- what callers see -------------------------------------------------------------------------


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
