"""Lockout for OTP logins: a growing delay after a few failures, a lock after many.

The same policy applies to each credential and to each user; the counts live in the
store. With the defaults::

    failures   1-4   5     6     7      8      9      10-19   20+
    wait       -     30 s  60 s  2 min  4 min  8 min  15 min  locked until an admin unlocks

A success resets the count. Attempts refused during a delay are not checked and not
counted, so waiting is always enough to get a fair try.

The policy only judges a count; the bound holds because the login reads the count, judges
it, checks the code and counts the failure while holding the person's credential rows
locked (``OtpStore.otp_credentials``), so concurrent attempts, at any server process, are
judged one after another and never on the same stale count.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenstile.factors.otp import InvalidOtpParameters


@dataclass(frozen=True, slots=True)
class FailureCount:
    """Consecutive failures and when the last one happened (None: never)."""

    count: int = 0
    last_failure_at: float | None = None


@dataclass(frozen=True, slots=True)
class LockoutDecision:
    """``allowed``: check the code now. ``retry_at``: when a delayed attempt may be made
    (None when allowed or locked). ``locked``: only an admin unlock helps."""

    allowed: bool
    locked: bool
    retry_at: float | None
    failures: int


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    delay_after: int = 5
    lock_after: int = 20
    first_delay: float = 30.0
    growth: float = 2.0
    max_delay: float = 900.0

    def __post_init__(self) -> None:
        if not 1 <= self.delay_after <= self.lock_after:
            raise InvalidOtpParameters(
                "The lockout policy needs 1 <= failures before a delay <= failures before a lock."
            )
        if self.first_delay < 0 or self.growth < 1 or self.max_delay < self.first_delay:
            raise InvalidOtpParameters(
                "Lockout delays must not be negative, must not shrink, and the maximum "
                "must be at least the first delay."
            )

    def delay_for(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure."""
        if failures < self.delay_after:
            return 0.0
        exponent = failures - self.delay_after
        # Bounded before the power so a huge count cannot overflow a float.
        if exponent > 64:
            return self.max_delay
        return float(min(self.first_delay * self.growth**exponent, self.max_delay))

    def is_locked(self, failures: int) -> bool:
        return failures >= self.lock_after

    def assess(self, failures: FailureCount, *, now: float) -> LockoutDecision:
        """May a code be checked at ``now``, given these consecutive failures?"""
        count = failures.count
        if self.is_locked(count):
            return LockoutDecision(allowed=False, locked=True, retry_at=None, failures=count)
        delay = self.delay_for(count)
        if delay > 0 and failures.last_failure_at is not None:
            retry_at = failures.last_failure_at + delay
            if now < retry_at:
                return LockoutDecision(
                    allowed=False, locked=False, retry_at=retry_at, failures=count
                )
        return LockoutDecision(allowed=True, locked=False, retry_at=None, failures=count)
