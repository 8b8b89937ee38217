"""The lockout schedule as pure functions of the failure count and the time."""

from __future__ import annotations

import pytest

from tokenstile.factors.otp import InvalidOtpParameters
from tokenstile.factors.otp_lockout import FailureCount, LockoutPolicy

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0), (1, 0), (4, 0), (5, 30), (6, 60), (7, 120), (8, 240), (9, 480), (10, 900), (19, 900)],
)
def test_default_schedule(failures: int, delay: float) -> None:
    assert LockoutPolicy().delay_for(failures) == delay


def test_assess_before_the_delay_threshold_allows() -> None:
    decision = LockoutPolicy().assess(FailureCount(4, NOW), now=NOW)
    assert decision.allowed
    assert not decision.locked
    assert decision.retry_at is None


def test_assess_during_and_after_a_delay() -> None:
    policy = LockoutPolicy()
    during = policy.assess(FailureCount(6, NOW), now=NOW + 59)
    assert not during.allowed
    assert not during.locked
    assert during.retry_at == NOW + 60
    after = policy.assess(FailureCount(6, NOW), now=NOW + 60)
    assert after.allowed


def test_locked_at_the_limit_whatever_the_time() -> None:
    policy = LockoutPolicy()
    for count in (20, 21, 10_000):
        decision = policy.assess(FailureCount(count, NOW), now=NOW + 10**9)
        assert decision.locked
        assert not decision.allowed
        assert decision.retry_at is None
    assert not policy.assess(FailureCount(19, NOW), now=NOW + 900).locked


def test_huge_counts_do_not_overflow() -> None:
    policy = LockoutPolicy(lock_after=10**9)
    assert policy.delay_for(10**8) == policy.max_delay


def test_configurable() -> None:
    policy = LockoutPolicy(delay_after=3, lock_after=6, first_delay=10, growth=3, max_delay=50)
    assert [policy.delay_for(n) for n in range(1, 7)] == [0, 0, 10, 30, 50, 50]
    assert policy.assess(FailureCount(6, NOW), now=NOW).locked


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delay_after": 0},
        {"delay_after": 10, "lock_after": 5},
        {"first_delay": -1},
        {"growth": 0.5},
        {"first_delay": 100, "max_delay": 10},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidOtpParameters):
        LockoutPolicy(**kwargs)  # type: ignore[arg-type]
