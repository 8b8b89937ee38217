"""Window, drift, HOTP look-ahead, resync, replay and lockout, over the in-memory store."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

import pytest

from tokenstile.clock import FrozenClock
from tokenstile.errors import KeyEncryptionError
from tokenstile.factors.otp import (
    NEVER_USED,
    OtpCredential,
    OtpParameters,
    OtpResyncFailed,
    VerificationPolicy,
    check_code,
    hotp_code,
    open_seed,
    seal_seed,
    totp_code,
    totp_step,
)
from tokenstile.factors.otp_lockout import LockoutPolicy
from tokenstile.factors.otp_login import OtpAuthenticator
from tokenstile.tokens.keys import KeyEncryptionKey

from .fake_otp_store import InMemoryOtpStore

SEED = bytes(range(1, 21))
SHORT_SEED = bytes.fromhex("8f6a1c2e9b0d47a35e21")  # 80 bits
START = 1_800_000_000.0  # a multiple of 30 and 60: step boundaries are easy to reason about
USER = 7


@pytest.fixture
def kek() -> KeyEncryptionKey:
    return KeyEncryptionKey.generate()[0]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def store() -> InMemoryOtpStore:
    return InMemoryOtpStore()


@pytest.fixture
def auth(kek: KeyEncryptionKey, clock: FrozenClock) -> OtpAuthenticator:
    return OtpAuthenticator(box=kek, clock=clock)


def make_credential(
    kek: KeyEncryptionKey,
    *,
    id: int = 1,
    seed: bytes = SEED,
    params: OtpParameters | None = None,
    state: str = "active",
    serial: str | None = None,
    **fields: object,
) -> OtpCredential:
    serial = serial or f"SN-{id}"
    fields.setdefault("user_id", USER)
    return OtpCredential(
        id=id,
        serial=serial,
        label="fob",
        params=params or OtpParameters.totp(),
        state=state,
        sealed_seed=seal_seed(kek, serial, seed),
        **fields,
    )


def code_at(step_offset: int, *, seed: bytes = SEED, period: int = 30, digits: int = 6) -> str:
    return totp_code(seed, START + step_offset * period, digits=digits, period=period)


# ---- the pure check -------------------------------------------------------------------


def test_check_code_window_and_drift(kek: KeyEncryptionKey) -> None:
    credential = make_credential(kek)
    policy = VerificationPolicy()
    now_step = totp_step(START, 30)
    for offset in (-1, 0, 1):
        check = check_code(credential, SEED, code_at(offset), at=START, policy=policy)
        assert check.matched == now_step + offset
        assert check.drift == offset
        assert check.work == 3
    for offset in (-2, 2):
        check = check_code(credential, SEED, code_at(offset), at=START, policy=policy)
        assert check.matched is None
        assert not check.replayed


def test_wider_window_is_configurable(kek: KeyEncryptionKey) -> None:
    credential = make_credential(kek)
    check = check_code(
        credential, SEED, code_at(2), at=START, policy=VerificationPolicy(totp_window=2)
    )
    assert check.drift == 2
    assert check.work == 5


def test_check_is_centred_on_the_recorded_drift(kek: KeyEncryptionKey) -> None:
    credential = make_credential(kek, drift=3)
    policy = VerificationPolicy()
    assert check_code(credential, SEED, code_at(4), at=START, policy=policy).drift == 4
    assert check_code(credential, SEED, code_at(2), at=START, policy=policy).drift == 2
    assert check_code(credential, SEED, code_at(0), at=START, policy=policy).matched is None


def test_a_used_step_is_reported_as_a_replay(kek: KeyEncryptionKey) -> None:
    now_step = totp_step(START, 30)
    credential = make_credential(kek, last_used=now_step)
    check = check_code(credential, SEED, code_at(0), at=START, policy=VerificationPolicy())
    assert check.matched is None
    assert check.replayed
    # An earlier step in the window is a replay too; a later one is fresh.
    assert check_code(credential, SEED, code_at(-1), at=START, policy=VerificationPolicy()).replayed
    assert (
        check_code(credential, SEED, code_at(1), at=START, policy=VerificationPolicy()).matched
        == now_step + 1
    )


def test_sealed_seed_is_bound_to_its_serial(kek: KeyEncryptionKey) -> None:
    credential = make_credential(kek, serial="A")
    assert open_seed(kek, credential) == SEED
    moved = replace(credential, serial="B")
    with pytest.raises(KeyEncryptionError):
        open_seed(kek, moved)
    assert "sealed_seed" not in repr(credential)


# ---- login through the authenticator -------------------------------------------------


def test_totp_login_records_step_and_drift_then_centres_on_it(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey, clock: FrozenClock
) -> None:
    store.add(make_credential(kek))
    outcome = auth.authenticate(store, user_id=USER, code=code_at(1))
    assert outcome.accepted
    assert outcome.counter == totp_step(START, 30) + 1
    assert store.get(1).drift == 1
    assert store.get(1).last_used == totp_step(START, 30) + 1

    # The fob runs one step ahead: a minute later its code two steps ahead of the server
    # is inside the window because the window is now centred on the drift.
    clock.advance(60)
    outcome = auth.authenticate(store, user_id=USER, code=code_at(2 + 2))
    assert outcome.accepted
    assert store.get(1).drift == 2


def test_replay_is_refused_sequentially(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey, clock: FrozenClock
) -> None:
    store.add(make_credential(kek))
    code = code_at(0)
    assert auth.authenticate(store, user_id=USER, code=code).accepted
    again = auth.authenticate(store, user_id=USER, code=code)
    assert again.status == "replayed"
    assert again.credential is not None
    assert again.credential.serial == "SN-1"
    # An older code from the window is refused too, even later in the same step.
    clock.advance(10)
    assert auth.authenticate(store, user_id=USER, code=code_at(-1)).status == "replayed"
    # The next step's code is fine.
    clock.advance(20)
    assert auth.authenticate(store, user_id=USER, code=code_at(1)).accepted


class StaleStore(InMemoryOtpStore):
    """Hands out the credentials as they were before any login: what a second server
    process reads when it reads at the same moment as the first."""

    def __init__(self, inner: InMemoryOtpStore, snapshot: Sequence[OtpCredential]) -> None:
        super().__init__()
        self.__dict__.update(inner.__dict__)
        self._snapshot = list(snapshot)

    def otp_credentials(self, user_id: int) -> Sequence[OtpCredential]:
        return self._snapshot


def test_same_code_read_at_the_same_moment_is_accepted_once(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    store.add(make_credential(kek))
    snapshot = store.otp_credentials(USER)
    code = code_at(0)
    assert auth.authenticate(store, user_id=USER, code=code).accepted
    # The second request read before the first wrote: only the conditional update stops it.
    late = auth.authenticate(StaleStore(store, snapshot), user_id=USER, code=code)
    assert late.status == "replayed"
    assert store.get(1).failures == 1


def test_same_code_in_many_threads_is_accepted_once(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    store.add(make_credential(kek))
    code = code_at(0)
    barrier = threading.Barrier(8)
    statuses: list[str] = []

    def attempt() -> None:
        barrier.wait()
        statuses.append(auth.authenticate(store, user_id=USER, code=code).status)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count("accepted") == 1
    # Replays count as failures, so after the fifth the last threads may meet the delay.
    assert set(statuses) - {"accepted"} <= {"replayed", "delayed"}
    assert "replayed" in statuses


def test_80_bit_seed_logs_in(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    store.add(make_credential(kek, seed=SHORT_SEED))
    assert auth.authenticate(store, user_id=USER, code=code_at(0, seed=SHORT_SEED)).accepted


def test_sha256_8_digits_60s_and_a_second_credential(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    params = OtpParameters.totp(algorithm="SHA256", digits=8, period=60)
    store.add(make_credential(kek, id=1))
    store.add(make_credential(kek, id=2, seed=SHORT_SEED, params=params))
    code = totp_code(SHORT_SEED, START, digits=8, period=60, algorithm="SHA256")
    outcome = auth.authenticate(store, user_id=USER, code=code)
    assert outcome.accepted
    assert outcome.credential is not None
    assert outcome.credential.id == 2


def test_hotp_look_ahead_resynchronises_the_counter(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    store.add(make_credential(kek, params=OtpParameters.hotp(), last_used=4))
    # The fob's button was pressed 10 times without logging in: counter 15 is the edge.
    outcome = auth.authenticate(store, user_id=USER, code=hotp_code(SEED, 15))
    assert outcome.accepted
    assert store.get(1).last_used == 15
    # Counters up to 15 are spent; 16 is next.
    assert auth.authenticate(store, user_id=USER, code=hotp_code(SEED, 15)).status == "replayed"
    assert auth.authenticate(store, user_id=USER, code=hotp_code(SEED, 10)).status == "wrong_code"
    assert auth.authenticate(store, user_id=USER, code=hotp_code(SEED, 16)).accepted


def test_hotp_beyond_the_look_ahead_is_refused(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    store.add(make_credential(kek, params=OtpParameters.hotp(), last_used=NEVER_USED))
    assert auth.authenticate(store, user_id=USER, code=hotp_code(SEED, 11)).status == "wrong_code"
    assert auth.authenticate(store, user_id=USER, code=hotp_code(SEED, 10)).accepted


def test_admin_resync_of_hotp_from_two_consecutive_codes(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    credential = store.add(make_credential(kek, params=OtpParameters.hotp(), last_used=4))
    found = auth.resync(store, credential, hotp_code(SEED, 80), hotp_code(SEED, 81))
    assert found.counter == 81
    assert store.get(1).last_used == 81
    assert auth.authenticate(store, user_id=USER, code=hotp_code(SEED, 82)).accepted


def test_admin_resync_of_totp_finds_a_far_drift(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey, clock: FrozenClock
) -> None:
    credential = store.add(make_credential(kek, state="locked"))
    # The fob's clock is 40 steps (20 minutes) behind.
    found = auth.resync(store, credential, code_at(-41), code_at(-40))
    assert found.drift == -40
    assert store.get(1).drift == -40
    assert store.get(1).state == "locked"  # resync does not unlock
    store.unlock(USER)
    clock.advance(30)
    assert auth.authenticate(store, user_id=USER, code=code_at(1 - 40)).accepted


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (-41, -39),  # not consecutive
        (-40, -41),  # reversed
        (-102, -101),  # outside the resync window
    ],
)
def test_resync_refuses_codes_that_do_not_fit(
    auth: OtpAuthenticator,
    store: InMemoryOtpStore,
    kek: KeyEncryptionKey,
    first: int,
    second: int,
) -> None:
    credential = store.add(make_credential(kek))
    with pytest.raises(OtpResyncFailed):
        auth.resync(store, credential, code_at(first), code_at(second))
    assert store.get(1).last_used == NEVER_USED


def test_resync_refuses_malformed_codes_and_revoked_credentials(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    credential = store.add(make_credential(kek))
    with pytest.raises(OtpResyncFailed, match="6 or 8 digits"):
        auth.resync(store, credential, "abc", code_at(1))
    with pytest.raises(OtpResyncFailed, match="6-digit"):
        auth.resync(store, credential, "12345678", "12345678")
    revoked = store.add(make_credential(kek, id=2, state="revoked"))
    with pytest.raises(OtpResyncFailed, match="revoked"):
        auth.resync(store, revoked, code_at(0), code_at(1))


def test_resync_codes_cannot_be_used_ones(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    store.add(make_credential(kek))
    assert auth.authenticate(store, user_id=USER, code=code_at(1)).accepted
    with pytest.raises(OtpResyncFailed):
        auth.resync(store, store.get(1), code_at(0), code_at(1))


def test_pending_credential_is_activated_by_its_first_code(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    credential = store.add(make_credential(kek, state="pending"))
    # A pending credential does not log in.
    assert auth.authenticate(store, user_id=USER, code=code_at(0)).status == "no_credential"
    assert auth.confirm_enrollment(store, credential, "12a456").status == "malformed"
    assert auth.confirm_enrollment(store, credential, code_at(5)).status == "wrong_code"
    assert auth.confirm_enrollment(store, credential, code_at(0)).accepted
    assert store.get(1).state == "active"
    # The confirming code is spent.
    assert auth.authenticate(store, user_id=USER, code=code_at(0)).status == "replayed"
    assert auth.confirm_enrollment(store, store.get(1), code_at(1)).status == "no_credential"


@pytest.mark.parametrize(
    "code", ["", "abcdef", "12345", "9" * 5000, "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_malformed_codes_change_nothing(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey, code: str
) -> None:
    store.add(make_credential(kek))
    assert auth.authenticate(store, user_id=USER, code=code).status == "malformed"
    assert store.writes == 0


def test_unknown_user_checks_the_dummy_and_writes_nothing(
    auth: OtpAuthenticator, store: InMemoryOtpStore
) -> None:
    outcome = auth.authenticate(store, user_id=None, code="123456")
    assert outcome.status == "unknown_user"
    assert not outcome.accepted
    assert store.writes == 0


def test_refusals_do_the_same_hmac_work_as_a_check(
    kek: KeyEncryptionKey,
    clock: FrozenClock,
    store: InMemoryOtpStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hmac as hmac_module

    from tokenstile.factors import otp as otp_module
    from tokenstile.factors import otp_login as login_module

    calls: list[int] = []
    real_digest = hmac_module.digest

    def counting(key: bytes, msg: bytes, digest: str) -> bytes:
        calls.append(1)
        return real_digest(key, msg, digest)

    class CountingHmac:
        digest = staticmethod(counting)
        compare_digest = staticmethod(hmac_module.compare_digest)

    monkeypatch.setattr(otp_module, "hmac", CountingHmac)
    monkeypatch.setattr(login_module, "hmac", CountingHmac)
    auth = OtpAuthenticator(box=kek, clock=clock)
    store.add(make_credential(kek))
    store.add(make_credential(kek, id=2, user_id=None))

    def work(user_id: int | None, code: str) -> int:
        calls.clear()
        auth.authenticate(store, user_id=user_id, code=code)
        return len(calls)

    floor = auth.policy.work_floor
    assert work(USER, "000000") == floor  # wrong code for a real user
    assert work(None, "000000") == floor  # unknown user
    assert work(USER, "abc") == floor  # malformed
    assert work(USER + 1, "000000") == floor  # a user without credentials


# ---- lockout ---------------------------------------------------------------------------


def test_lockout_delays_then_locks_user_and_credential(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey, clock: FrozenClock
) -> None:
    store.add(make_credential(kek))
    policy = auth.lockout
    for failure in range(1, policy.lock_after + 1):
        outcome = auth.authenticate(store, user_id=USER, code="000000")
        assert outcome.status == "wrong_code", failure
        if failure < policy.delay_after:
            assert outcome.retry_at is None
        elif failure < policy.lock_after:
            assert outcome.retry_at == clock.now() + policy.delay_for(failure)
            # During the delay even the right code is not checked.
            blocked = auth.authenticate(store, user_id=USER, code=code_at(0))
            assert blocked.status == "delayed"
            assert blocked.retry_at == outcome.retry_at
            clock.set(outcome.retry_at)
    assert outcome.user_locked
    assert outcome.locked_serials == ("SN-1",)
    assert store.get(1).state == "locked"
    clock.advance(86_400)
    assert auth.authenticate(store, user_id=USER, code=code_at(0)).status == "locked"

    store.unlock(USER)
    # The time moved on; take the current step.
    step_code = totp_code(SEED, clock.now())
    assert auth.authenticate(store, user_id=USER, code=step_code).accepted


def test_success_resets_the_counts(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    store.add(make_credential(kek))
    for _ in range(4):
        auth.authenticate(store, user_id=USER, code="000000")
    assert store.user_otp_failures(USER).count == 4
    assert store.get(1).failures == 4
    assert auth.authenticate(store, user_id=USER, code=code_at(0)).accepted
    assert store.user_otp_failures(USER).count == 0
    assert store.get(1).failures == 0


def test_a_delayed_credential_is_skipped_but_another_works(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey, clock: FrozenClock
) -> None:
    store.add(make_credential(kek, id=1, failures=6, last_failure_at=clock.now()))
    store.add(make_credential(kek, id=2, seed=SHORT_SEED))
    assert auth.authenticate(store, user_id=USER, code=code_at(0)).status == "wrong_code"
    assert store.get(1).failures == 6  # not checked, not counted
    clock.advance(30)
    assert auth.authenticate(store, user_id=USER, code=code_at(1, seed=SHORT_SEED)).accepted


def test_only_delayed_credentials_give_the_earliest_retry(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey, clock: FrozenClock
) -> None:
    store.add(make_credential(kek, id=1, failures=5, last_failure_at=clock.now()))
    store.add(make_credential(kek, id=2, failures=6, last_failure_at=clock.now()))
    outcome = auth.authenticate(store, user_id=USER, code=code_at(0))
    assert outcome.status == "delayed"
    assert outcome.retry_at == clock.now() + 30
    assert store.writes == 0


def test_custom_lockout_policy(kek: KeyEncryptionKey, clock: FrozenClock) -> None:
    store = InMemoryOtpStore()
    auth = OtpAuthenticator(
        box=kek, clock=clock, lockout=LockoutPolicy(delay_after=2, lock_after=3, first_delay=5)
    )
    store.add(make_credential(kek))
    auth.authenticate(store, user_id=USER, code="000000")
    second = auth.authenticate(store, user_id=USER, code="000000")
    assert second.retry_at == clock.now() + 5
    clock.advance(5)
    third = auth.authenticate(store, user_id=USER, code="000000")
    assert third.user_locked
    assert store.get(1).state == "locked"


def test_expired_credential_is_not_used(
    auth: OtpAuthenticator, store: InMemoryOtpStore, kek: KeyEncryptionKey
) -> None:
    store.add(make_credential(kek, not_after=START - 1))
    assert auth.authenticate(store, user_id=USER, code=code_at(0)).status == "no_credential"
