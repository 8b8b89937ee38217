"""OTP login, enrollment confirmation and admin resync over a store port.

``OtpAuthenticator`` holds no state between calls: everything lives in the store, read
and written inside the caller's transaction. What the route does::

    with store.write() as tx:
        user = tx.find_user(username)              # None, or a disabled user: pass None
        outcome = authenticator.authenticate(tx, user_id=..., code=code)
        tx.audit(...)                              # every outcome, success or not
        if outcome.accepted: issue tokens with amr ["otp"]

The lockout decides under a lock, not on a snapshot. The first read of an attempt,
``otp_credentials``, locks the person's credential rows until the transaction ends (``FOR
NO KEY UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already holds the database's
write lock), and every count is read, judged, checked and raised under it. So attempts
for one person run one after another, whichever server process they reach: each sees
the failures of all before it, and no more codes are checked than the delay allows.

Every refusal (unknown user, disabled user, malformed or wrong code, replay, delay,
lock) must look the same on the wire; ``status`` is for the audit log only. Refusals
that do not check a real credential check a dummy one sealed under the same KEK and
pad the work to ``VerificationPolicy.work_floor`` HMACs, so they cost about what a
real check costs.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from tokenstile.clock import Clock
from tokenstile.factors.otp import (
    OtpCredential,
    OtpParameters,
    OtpResyncFailed,
    ResyncResult,
    SecretBox,
    VerificationPolicy,
    check_code,
    find_resync,
    normalise_code,
    open_seed,
    seal_seed,
)
from tokenstile.factors.otp_lockout import FailureCount, LockoutPolicy

LoginStatus = Literal[
    "accepted",
    "wrong_code",
    "replayed",
    "malformed",
    "unknown_user",
    "no_credential",
    "delayed",
    "locked",
]

_DUMMY_SERIAL = "tokenstile-timing-dummy"


class OtpStore(Protocol):
    """What the OTP factor needs from storage. One login's calls run in one transaction.

    The single-use rule rests on ``record_otp_use``: it is a conditional update, not a
    read followed by a write, so that when the same code reaches two server processes
    at the same moment the database lets exactly one of them record it.
    """

    def otp_credentials(self, user_id: int) -> Sequence[OtpCredential]:
        """All the user's OTP credentials, in every state, oldest first, and locked until
        the transaction ends (``SELECT ... ORDER BY id FOR NO KEY UPDATE``): a concurrent
        attempt for the same person waits here, then reads what this one wrote. The login
        reads nothing before this, so its whole decision is made under the lock."""
        ...

    def record_otp_use(self, credential_id: int, *, counter: int, drift: int, at: float) -> bool:
        """Record an accepted code, at most once per step or counter, atomically.

        One statement that both checks and writes, for example::

            UPDATE otp_credential
               SET last_used = :counter, drift = :drift, last_used_at = :at,
                   failures = 0, last_failure_at = NULL
             WHERE id = :credential_id AND state = 'active' AND last_used < :counter

        True when the row changed. False when another request, in this process or any
        other, already recorded this or a later step/counter, or the credential is no
        longer active (revoked or locked meanwhile): the caller refuses the login.
        """
        ...

    def activate_otp_credential(
        self, credential_id: int, *, counter: int, drift: int, at: float
    ) -> bool:
        """As ``record_otp_use`` for a pending credential's first code, also setting
        ``state = 'active'``: ``WHERE state = 'pending' AND last_used < :counter``."""
        ...

    def resync_otp_credential(
        self, credential_id: int, *, counter: int, drift: int, at: float
    ) -> bool:
        """Admin resync: as ``record_otp_use`` but ``WHERE state IN ('active', 'locked')``;
        the state and the failure count are left alone (unlocking is its own action)."""
        ...

    def record_otp_failure(self, credential_id: int, *, at: float) -> FailureCount:
        """``failures = failures + 1, last_failure_at = :at`` in one statement; returns
        the new values (``RETURNING``), so concurrent failures are all counted."""
        ...

    def lock_otp_credential(self, credential_id: int, *, at: float) -> bool:
        """``state = 'locked' WHERE state = 'active'``; True if this call locked it."""
        ...

    def user_otp_failures(self, user_id: int) -> FailureCount:
        """The user's count, read after ``otp_credentials`` took the lock (at READ
        COMMITTED a new statement sees every attempt committed before the lock came)."""
        ...

    def record_user_otp_failure(self, user_id: int, *, at: float) -> FailureCount:
        """Atomic increment, like ``record_otp_failure``, of the user's count."""
        ...

    def clear_user_otp_failures(self, user_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class OtpLoginOutcome:
    """The result of one attempt. Only ``accepted`` may be told to the caller; the rest
    goes to the audit log.

    ``credential``: the credential that accepted the code, or whose code was replayed.
    ``counter``: the step or counter recorded. ``retry_at``: end of the user's delay.
    ``user_locked``: the user is now locked. ``locked_serials``: credentials this
    attempt locked.
    """

    status: LoginStatus
    credential: OtpCredential | None = None
    counter: int | None = None
    retry_at: float | None = None
    user_locked: bool = False
    locked_serials: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @property
    def checked(self) -> bool:
        """A code was checked against a real credential and did not sign in (counted as a
        failure); every other refusal stopped before any code was looked at."""
        return self.status in ("wrong_code", "replayed")


class OtpAuthenticator:
    def __init__(
        self,
        *,
        box: SecretBox,
        clock: Clock,
        policy: VerificationPolicy | None = None,
        lockout: LockoutPolicy | None = None,
    ) -> None:
        self._box = box
        self._clock = clock
        self.policy = policy or VerificationPolicy()
        self.lockout = lockout or LockoutPolicy()
        self._dummy_seed = secrets.token_bytes(20)
        self._dummy = OtpCredential(
            id=0,
            serial=_DUMMY_SERIAL,
            label="",
            params=OtpParameters.totp(),
            state="active",
            sealed_seed=seal_seed(box, _DUMMY_SERIAL, self._dummy_seed),
        )

    @property
    def box(self) -> SecretBox:
        """The KEK the seeds are sealed under (the fob tap opens them too)."""
        return self._box

    def authenticate(self, store: OtpStore, *, user_id: int | None, code: str) -> OtpLoginOutcome:
        """Check a login code for a user; ``user_id`` None for an unknown or disabled user.

        The credentials are read first, which locks them (see ``OtpStore``); the counts,
        the decision, the check and the failure count all happen under that lock.
        """
        normalised = normalise_code(code)
        if normalised is None:
            return self._refuse("malformed", self._clock.now())
        if user_id is None:
            return self._refuse("unknown_user", self._clock.now(), normalised)
        credentials = store.otp_credentials(user_id)  # concurrent attempts queue here
        user_failures = store.user_otp_failures(user_id)
        now = self._clock.now()  # after the wait for the lock, so a delay is judged fairly
        decision = self.lockout.assess(user_failures, now=now)
        if decision.locked:
            return self._refuse("locked", now, normalised, user_locked=True)
        if not decision.allowed:
            return self._refuse("delayed", now, normalised, retry_at=decision.retry_at)

        usable, delayed_until, any_locked = self._usable(credentials, now)
        if not usable:
            if delayed_until is not None:
                return self._refuse("delayed", now, normalised, retry_at=delayed_until)
            return self._refuse("locked" if any_locked else "no_credential", now, normalised)

        work = 0
        hit: tuple[OtpCredential, int, int] | None = None
        replay_of: OtpCredential | None = None
        for credential in usable:
            check = check_code(
                credential, open_seed(self._box, credential), normalised, at=now, policy=self.policy
            )
            work += check.work
            if check.matched is not None and hit is None:
                hit = (credential, check.matched, check.drift)
            elif check.replayed and replay_of is None:
                replay_of = credential
        self._pad(work)

        if hit is not None:
            credential, counter, drift = hit
            if store.record_otp_use(credential.id, counter=counter, drift=drift, at=now):
                if user_failures.count:
                    store.clear_user_otp_failures(user_id)
                return OtpLoginOutcome("accepted", credential=credential, counter=counter)
            replay_of = credential  # another request recorded this step first
        return self._record_failure(store, user_id, usable, replay_of, now)

    def _usable(
        self, credentials: Sequence[OtpCredential], now: float
    ) -> tuple[list[OtpCredential], float | None, bool]:
        """Active, valid credentials out of their delay; the earliest end of a delay;
        whether any is locked."""
        usable: list[OtpCredential] = []
        delayed_until: list[float] = []
        any_locked = False
        for credential in credentials:
            any_locked = any_locked or credential.state == "locked"
            if credential.state != "active" or not credential.valid_at(now):
                continue
            own = self.lockout.assess(
                FailureCount(credential.failures, credential.last_failure_at), now=now
            )
            if own.retry_at is not None:
                delayed_until.append(own.retry_at)
            if own.allowed:
                usable.append(credential)
        return usable, min(delayed_until, default=None), any_locked

    def _record_failure(
        self,
        store: OtpStore,
        user_id: int,
        checked: Sequence[OtpCredential],
        replay_of: OtpCredential | None,
        now: float,
    ) -> OtpLoginOutcome:
        """Count the failure on every credential checked and on the user; lock at the limit.

        A replay counts too: it is either a double submission (one harmless failure) or
        someone reusing an observed code.
        """
        locked: list[str] = []
        for credential in checked:
            count = store.record_otp_failure(credential.id, at=now)
            if self.lockout.is_locked(count.count) and store.lock_otp_credential(
                credential.id, at=now
            ):
                locked.append(credential.serial)
        after = self.lockout.assess(store.record_user_otp_failure(user_id, at=now), now=now)
        return OtpLoginOutcome(
            "replayed" if replay_of is not None else "wrong_code",
            credential=replay_of,
            retry_at=after.retry_at,
            user_locked=after.locked,
            locked_serials=tuple(locked),
        )

    def confirm_enrollment(
        self, store: OtpStore, credential: OtpCredential, code: str
    ) -> OtpLoginOutcome:
        """The first code of a pending credential makes it active."""
        if credential.state != "pending":
            return OtpLoginOutcome("no_credential", credential=credential)
        normalised = normalise_code(code)
        if normalised is None:
            return OtpLoginOutcome("malformed", credential=credential)
        now = self._clock.now()
        check = check_code(
            credential, open_seed(self._box, credential), normalised, at=now, policy=self.policy
        )
        if check.matched is not None:
            if store.activate_otp_credential(
                credential.id, counter=check.matched, drift=check.drift, at=now
            ):
                return OtpLoginOutcome("accepted", credential=credential, counter=check.matched)
            return OtpLoginOutcome("replayed", credential=credential)
        status: LoginStatus = "replayed" if check.replayed else "wrong_code"
        return OtpLoginOutcome(status, credential=credential)

    def resync(
        self, store: OtpStore, credential: OtpCredential, first_code: str, second_code: str
    ) -> ResyncResult:
        """Admin: find two consecutive codes in the wide window and record the second."""
        if credential.state not in ("active", "locked"):
            raise OtpResyncFailed(
                f"Credential {credential.serial} is {credential.state}; only an active or "
                "locked credential can be resynchronised."
            )
        now = self._clock.now()
        seed = open_seed(self._box, credential)
        found = find_resync(credential, seed, first_code, second_code, at=now, policy=self.policy)
        if not store.resync_otp_credential(
            credential.id, counter=found.counter, drift=found.drift, at=now
        ):
            raise OtpResyncFailed(
                f"Credential {credential.serial} changed meanwhile (used, revoked or "
                "resynchronised): try again with two new codes."
            )
        return found

    def _refuse(
        self,
        status: LoginStatus,
        now: float,
        code: str = "000000",
        *,
        retry_at: float | None = None,
        user_locked: bool = False,
    ) -> OtpLoginOutcome:
        """A refusal that checked no real credential still opens and checks the dummy."""
        check = check_code(
            self._dummy, open_seed(self._box, self._dummy), code, at=now, policy=self.policy
        )
        self._pad(check.work)
        return OtpLoginOutcome(status, retry_at=retry_at, user_locked=user_locked)

    def _pad(self, work: int) -> None:
        for counter in range(work, self.policy.work_floor):
            hmac.digest(self._dummy_seed, counter.to_bytes(8, "big"), "sha1")
