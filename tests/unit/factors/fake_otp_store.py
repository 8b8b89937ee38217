"""An in-memory ``OtpStore``: the contract of the SQL store, kept under one lock.

Each conditional method checks and writes under the lock, as the SQL store's single
``UPDATE ... WHERE`` does in the database. The SQL store gets its own tests of the same
behaviour (including two processes) when it is written.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from tokenstile.factors.otp import OtpCredential
from tokenstile.factors.otp_lockout import FailureCount


class InMemoryOtpStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: dict[int, OtpCredential] = {}
        self._user_failures: dict[int, FailureCount] = {}
        self.writes = 0

    def add(self, credential: OtpCredential) -> OtpCredential:
        with self._lock:
            self._credentials[credential.id] = credential
        return credential

    def get(self, credential_id: int) -> OtpCredential:
        with self._lock:
            return self._credentials[credential_id]

    def otp_credentials(self, user_id: int) -> Sequence[OtpCredential]:
        with self._lock:
            return [c for c in self._credentials.values() if c.user_id == user_id]

    def _conditional(
        self, credential_id: int, states: tuple[str, ...], counter: int, **changes: object
    ) -> bool:
        with self._lock:
            current = self._credentials[credential_id]
            if current.state not in states or current.last_used >= counter:
                return False
            self._credentials[credential_id] = replace(current, last_used=counter, **changes)
            self.writes += 1
            return True

    def record_otp_use(self, credential_id: int, *, counter: int, drift: int, at: float) -> bool:
        return self._conditional(
            credential_id, ("active",), counter, drift=drift, failures=0, last_failure_at=None
        )

    def activate_otp_credential(
        self, credential_id: int, *, counter: int, drift: int, at: float
    ) -> bool:
        return self._conditional(credential_id, ("pending",), counter, drift=drift, state="active")

    def resync_otp_credential(
        self, credential_id: int, *, counter: int, drift: int, at: float
    ) -> bool:
        return self._conditional(credential_id, ("active", "locked"), counter, drift=drift)

    def record_otp_failure(self, credential_id: int, *, at: float) -> FailureCount:
        with self._lock:
            current = self._credentials[credential_id]
            updated = replace(current, failures=current.failures + 1, last_failure_at=at)
            self._credentials[credential_id] = updated
            self.writes += 1
            return FailureCount(updated.failures, at)

    def lock_otp_credential(self, credential_id: int, *, at: float) -> bool:
        with self._lock:
            current = self._credentials[credential_id]
            if current.state != "active":
                return False
            self._credentials[credential_id] = replace(current, state="locked")
            self.writes += 1
            return True

    def user_otp_failures(self, user_id: int) -> FailureCount:
        with self._lock:
            return self._user_failures.get(user_id, FailureCount())

    def record_user_otp_failure(self, user_id: int, *, at: float) -> FailureCount:
        with self._lock:
            count = self._user_failures.get(user_id, FailureCount()).count + 1
            self._user_failures[user_id] = FailureCount(count, at)
            self.writes += 1
            return self._user_failures[user_id]

    def clear_user_otp_failures(self, user_id: int) -> None:
        with self._lock:
            self._user_failures.pop(user_id, None)
            self.writes += 1

    # What an admin unlock will do in the SQL store.
    def unlock(self, user_id: int) -> None:
        with self._lock:
            self._user_failures.pop(user_id, None)
            for cid, credential in self._credentials.items():
                if credential.user_id == user_id and credential.state == "locked":
                    self._credentials[cid] = replace(
                        credential, state="active", failures=0, last_failure_at=None
                    )
