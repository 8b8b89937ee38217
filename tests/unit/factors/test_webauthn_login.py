"""The usernameless login flow of ``factors.webauthn_login`` over an in-memory store:
single-use handles, expiry, the sign-counter rule and suspension, credential states."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from tests.unit.factors.webauthn_keys import (
    RP,
    SOFTWARE_KEYS_ALLOWED,
    Kiosk,
    registration_options,
    resigned,
    with_counter,
)
from tokenstile.clock import FrozenClock
from tokenstile.factors.webauthn import MalformedResponse, parse_assertion
from tokenstile.factors.webauthn_login import (
    CredentialState,
    Purpose,
    StoredChallenge,
    WebAuthnCredential,
    WebAuthnLogin,
    check_handle,
    handle_hash,
)
from tokenstile.factors.webauthn_registration import parse_registration, verify_registration
from tokenstile.tokens.model import User

HANDLE = b"user-handle-of-alice"


class MemoryStore:
    """``WebAuthnStore`` in a dict, with the same single-use and forward-only rules."""

    def __init__(self) -> None:
        self.challenges: dict[bytes, StoredChallenge] = {}
        self.credentials: dict[bytes, WebAuthnCredential] = {}
        self.lose_next_record = False

    def put_challenge(
        self,
        digest: bytes,
        *,
        purpose: Purpose,
        challenge: bytes,
        expires_at: float,
        user_id: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.challenges[digest] = StoredChallenge(
            challenge, purpose, expires_at, user_id, dict(context or {})
        )

    def take_challenge(self, digest: bytes, *, purpose: Purpose) -> StoredChallenge | None:
        found = self.challenges.get(digest)
        if found is None or found.purpose != purpose:
            return None
        return self.challenges.pop(digest)

    def find_credential(self, credential_id: bytes) -> WebAuthnCredential | None:
        return self.credentials.get(credential_id)

    def _by_pk(self, pk: int) -> WebAuthnCredential:
        return next(c for c in self.credentials.values() if c.id == pk)

    def _replace(self, pk: int, **changes: Any) -> None:
        found = self._by_pk(pk)
        self.credentials[found.credential_id] = dataclasses.replace(found, **changes)

    def record_assertion(
        self, credential_pk: int, *, sign_count: int, backed_up: bool, at: float
    ) -> bool:
        found = self._by_pk(credential_pk)
        if self.lose_next_record:  # another replica recorded a higher count first
            self.lose_next_record = False
            self._replace(credential_pk, sign_count=sign_count + 10)
            return False
        if found.state != "active":
            return False
        if not (found.sign_count < sign_count or found.sign_count == sign_count == 0):
            return False
        self._replace(credential_pk, sign_count=sign_count)
        return True

    def suspend_credential(self, credential_pk: int, *, reason: str, at: float) -> bool:
        if self._by_pk(credential_pk).state != "active":
            return False
        self._replace(credential_pk, state="suspended")
        return True

    def credential_state(self, credential_pk: int) -> tuple[CredentialState, int] | None:
        found = self._by_pk(credential_pk)
        return found.state, found.sign_count

    def set_state(self, credential_id: bytes, state: CredentialState) -> None:
        self._replace(self.credentials[credential_id].id, state=state)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(1_800_000_000.0)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def login(clock: FrozenClock) -> WebAuthnLogin:
    return WebAuthnLogin(RP, clock=clock)


def enroll(
    store: MemoryStore, kiosk: Kiosk, *, enabled: bool = True, assurance: str | None = None
) -> WebAuthnCredential:
    challenge = b"c" * 32
    response = kiosk.register(registration_options(challenge=challenge, user_handle=HANDLE))
    new = verify_registration(
        RP,
        parse_registration(response),
        challenge=challenge,
        policy=SOFTWARE_KEYS_ALLOWED,
        now=0,
    )
    credential = WebAuthnCredential(
        id=len(store.credentials) + 1,
        credential_id=new.credential_id,
        user=User(7, "alice", "Alice", False, enabled),
        user_handle=HANDLE,
        public_key=new.public_key.cose,
        algorithm=new.public_key.algorithm,
        aaguid=new.aaguid,
        sign_count=new.sign_count,
        state="active",
        uv_method="pin",
        label="key",
        assurance=assurance or new.assurance,
    )
    store.credentials[new.credential_id] = credential
    return credential


def attempt(
    login: WebAuthnLogin, store: MemoryStore, kiosk: Kiosk, **tamper: Any
) -> tuple[str, Any]:
    options = login.begin(store)
    response = kiosk.authenticate(options.public_key)
    if "count" in tamper:
        response = with_counter(response, tamper["count"])
    return options.handle, parse_assertion(response)


def test_a_login_consumes_its_handle_and_moves_the_counter(
    login: WebAuthnLogin, store: MemoryStore
) -> None:
    kiosk = Kiosk()
    credential = enroll(store, kiosk)
    handle, assertion = attempt(login, store, kiosk)
    assert list(store.challenges) == [handle_hash(handle)]
    outcome = login.finish(store, handle, assertion)
    assert outcome.accepted
    assert outcome.describe() == "Signed in."
    # The software key: a software-secured key, phishing-resistant but not hardware.
    assert credential.assurance == "software"
    assert outcome.amr == ("swk", "pin", "mfa")
    assert outcome.acr == "phr"
    assert outcome.credential is not None
    assert outcome.credential.user.username == "alice"
    assert store.credentials[credential.credential_id].sign_count == 1
    assert store.challenges == {}
    # The same handle again: spent.
    again = login.finish(store, handle, assertion)
    assert again.status == "unknown_handle"
    assert "already used" in again.describe()


def test_a_bound_challenge_is_refused_and_spent_elsewhere(
    login: WebAuthnLogin, store: MemoryStore
) -> None:
    """The browser sign-in binds a challenge to its browser and request: an answer to it
    finished under another binding (or none) is refused, and the handle is spent."""
    kiosk = Kiosk()
    credential = enroll(store, kiosk)
    mine = {"browser": "a" * 64, "request": "b" * 64}
    for other in ({"browser": "c" * 64, "request": "b" * 64}, None):
        options = login.begin(store, binding=mine)
        assertion = parse_assertion(kiosk.authenticate(options.public_key))
        outcome = login.finish(store, options.handle, assertion, binding=other)
        assert outcome.status == "wrong_binding"
        assert "another browser" in outcome.describe()
        assert login.finish(store, options.handle, assertion, binding=mine).status == (
            "unknown_handle"
        )
    assert store.credentials[credential.credential_id].sign_count == 0
    options = login.begin(store, binding=mine)
    assertion = parse_assertion(kiosk.authenticate(options.public_key))
    assert login.finish(store, options.handle, assertion, binding=dict(mine)).accepted


@pytest.mark.parametrize(
    ("assurance", "amr", "acr"),
    [
        ("attested", ("hwk", "pin", "mfa"), "phrh"),
        ("vouched", ("hwk", "pin", "mfa"), "phrh"),
        ("unverified", ("swk", "pin", "mfa"), "phr"),
        ("software", ("swk", "pin", "mfa"), "phr"),
    ],
)
def test_only_verified_or_vouched_hardware_is_stamped_hwk_phrh(
    login: WebAuthnLogin, store: MemoryStore, assurance: str, amr: tuple[str, ...], acr: str
) -> None:
    kiosk = Kiosk()
    enroll(store, kiosk, assurance=assurance)
    outcome = login.finish(store, *attempt(login, store, kiosk))
    assert outcome.accepted
    assert (outcome.amr, outcome.acr) == (amr, acr)


def test_an_expired_challenge_is_refused(
    login: WebAuthnLogin, store: MemoryStore, clock: FrozenClock
) -> None:
    kiosk = Kiosk()
    enroll(store, kiosk)
    handle, assertion = attempt(login, store, kiosk)
    clock.advance(120)
    outcome = login.finish(store, handle, assertion)
    assert outcome.status == "expired"
    assert store.credentials[assertion.credential_id].sign_count == 0


def test_an_unknown_credential(login: WebAuthnLogin, store: MemoryStore) -> None:
    kiosk = Kiosk()
    enroll(MemoryStore(), kiosk)  # enrolled elsewhere
    handle, assertion = attempt(login, store, kiosk)
    assert login.finish(store, handle, assertion).status == "unknown_credential"


@pytest.mark.parametrize(
    ("state", "status"),
    [("revoked", "credential_revoked"), ("suspended", "credential_suspended")],
)
def test_revoked_and_suspended_credentials_are_refused(
    login: WebAuthnLogin, store: MemoryStore, state: CredentialState, status: str
) -> None:
    kiosk = Kiosk()
    credential = enroll(store, kiosk)
    store.set_state(credential.credential_id, state)
    handle, assertion = attempt(login, store, kiosk)
    outcome = login.finish(store, handle, assertion)
    assert outcome.status == status
    assert store.credentials[credential.credential_id].sign_count == 0


def test_a_disabled_person_is_refused(login: WebAuthnLogin, store: MemoryStore) -> None:
    kiosk = Kiosk()
    enroll(store, kiosk, enabled=False)
    handle, assertion = attempt(login, store, kiosk)
    assert login.finish(store, handle, assertion).status == "user_disabled"


def test_a_cloned_key_is_suspended_when_its_counter_fails_to_increase(
    login: WebAuthnLogin, store: MemoryStore
) -> None:
    kiosk = Kiosk()
    credential = enroll(store, kiosk)
    clone = Kiosk(_clone(kiosk))
    for _ in range(3):
        handle, assertion = attempt(login, store, kiosk)
        assert login.finish(store, handle, assertion).accepted
    handle, assertion = attempt(login, store, clone)  # the clone's counter says 1
    outcome = login.finish(store, handle, assertion)
    assert outcome.status == "counter_regression"
    assert outcome.suspended
    assert outcome.presented_count == 1
    assert "cloned" in outcome.describe()
    assert store.credentials[credential.credential_id].state == "suspended"
    # The real key is now refused too, until an admin looks.
    handle, assertion = attempt(login, store, kiosk)
    assert login.finish(store, handle, assertion).status == "credential_suspended"


def test_a_forged_low_counter_does_not_suspend(login: WebAuthnLogin, store: MemoryStore) -> None:
    kiosk = Kiosk()
    credential = enroll(store, kiosk)
    handle, assertion = attempt(login, store, kiosk)
    assert login.finish(store, handle, assertion).accepted
    handle, forged = attempt(login, store, kiosk, count=0)  # edited after signing
    assert login.finish(store, handle, forged).status == "bad_signature"
    assert store.credentials[credential.credential_id].state == "active"


def test_an_equal_count_from_a_concurrent_request_suspends(
    login: WebAuthnLogin, store: MemoryStore
) -> None:
    kiosk = Kiosk()
    credential = enroll(store, kiosk)
    handle, assertion = attempt(login, store, kiosk)
    store.lose_next_record = True
    outcome = login.finish(store, handle, assertion)
    assert outcome.status == "counter_regression"
    assert store.credentials[credential.credential_id].state == "suspended"


def test_a_key_without_a_counter_always_presents_zero(
    login: WebAuthnLogin, store: MemoryStore
) -> None:
    kiosk = Kiosk()
    credential = enroll(store, kiosk)
    for _ in range(3):
        options = login.begin(store)
        response = resigned(kiosk, kiosk.authenticate(options.public_key), count=0)
        assert login.finish(store, options.handle, parse_assertion(response)).accepted
    assert store.credentials[credential.credential_id].state == "active"
    # Once it has counted, zero is a regression.
    handle, assertion = attempt(login, store, kiosk)
    assert login.finish(store, handle, assertion).accepted
    options = login.begin(store)
    response = resigned(kiosk, kiosk.authenticate(options.public_key), count=0)
    assert login.finish(store, options.handle, parse_assertion(response)).status == (
        "counter_regression"
    )


def test_handles_are_checked_before_anything_runs() -> None:
    for bad in (None, 3, "", "short", "x" * 129, "has space in it here", "é" * 20):
        with pytest.raises(MalformedResponse):
            check_handle(bad)
    assert check_handle("A" * 43) == "A" * 43


def _clone(kiosk: Kiosk) -> Any:
    from tokenstile.virtual import VirtualAuthenticator

    return VirtualAuthenticator(kiosk.device.authenticator.clone())
