"""``PivAuthenticator`` over an in-memory store: every status of both login steps."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from tests.unit.factors.piv_test_pki import (
    NOW,
    card_signature,
    login_signature,
    make_ca,
    make_card_certificate,
)
from tokenstile.factors.piv import CertificateChecker, CertificateSummary
from tokenstile.factors.piv_login import (
    PendingChallenge,
    PivAuthenticator,
    PivCardRecord,
    PivLoginPolicy,
    handle_hash,
)
from tokenstile.tokens.model import User

ORIGIN = "https://auth.example"  # login_signature's default


@dataclass
class MemoryPivStore:
    """``PivStore`` in memory, with the single-use rule of the SQL one."""

    cards: dict[str, PivCardRecord] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    challenges: dict[bytes, PendingChallenge] = field(default_factory=dict)
    used: dict[bytes, float] = field(default_factory=dict)
    uses: list[int] = field(default_factory=list)

    def card_by_fingerprint(self, fingerprint: str) -> PivCardRecord | None:
        return self.cards.get(fingerprint)

    def card_by_id(self, card_id: int) -> PivCardRecord | None:
        return next((c for c in self.cards.values() if c.id == card_id), None)

    def user(self, user_id: int) -> User | None:
        return self.users.get(user_id)

    def user_by_name(self, username: str) -> User | None:
        return next((u for u in self.users.values() if u.username == username), None)

    def pending_challenges(self, *, now: float, limit: int) -> int:
        return min(limit, sum(1 for c in self.challenges.values() if c.expires_at > now))

    def add_challenge(self, challenge: PendingChallenge, *, now: float) -> None:
        self.challenges[challenge.handle_hash] = challenge

    def claim_challenge(self, handle_hash: bytes, *, at: float) -> PendingChallenge | None:
        if handle_hash not in self.challenges or handle_hash in self.used:
            return None
        self.used[handle_hash] = at
        return self.challenges[handle_hash]

    def claimed_challenge(self, handle_hash: bytes) -> str | None:
        if handle_hash in self.used:
            return self.challenges[handle_hash].fingerprint
        return None

    def record_card_use(self, card_id: int, *, at: float) -> bool:
        card = self.card_by_id(card_id)
        if card is None or card.state != "active":
            return False
        self.uses.append(card_id)
        return True

    def add_upn_card(
        self, summary: CertificateSummary, certificate: bytes, *, user_id: int, at: float
    ) -> PivCardRecord:
        card = self.cards.get(summary.fingerprint)
        if card is None:
            card = PivCardRecord(
                id=len(self.cards) + 1,
                fingerprint=summary.fingerprint,
                user_id=user_id,
                certificate=certificate,
                cert_serial=summary.serial,
                card_guid=None,
                state="active",
            )
            self.cards[summary.fingerprint] = card
        return card

    # test helpers
    def enroll(self, certificate: object, user: User, *, state: str = "active") -> PivCardRecord:
        der = certificate.public_bytes(Encoding.DER)  # type: ignore[attr-defined]
        summary = CertificateSummary.of(certificate)  # type: ignore[arg-type]
        card = PivCardRecord(
            id=len(self.cards) + 1,
            fingerprint=summary.fingerprint,
            user_id=user.id,
            certificate=der,
            cert_serial=summary.serial,
            card_guid="00112233",
            state=state,  # type: ignore[arg-type]
        )
        self.cards[summary.fingerprint] = card
        self.users[user.id] = user
        return card


ALICE = User(1, "alice", "Alice", False, True)
BOB_DISABLED = User(2, "bob", "Bob", False, False)


@pytest.fixture
def store() -> MemoryPivStore:
    return MemoryPivStore()


@pytest.fixture
def auth() -> PivAuthenticator:
    return PivAuthenticator(PivLoginPolicy(challenge_lifetime=120))


def der(certificate: object) -> bytes:
    return certificate.public_bytes(Encoding.DER)  # type: ignore[attr-defined,no-any-return]


def test_begin_then_complete_signs_in_and_records_the_use(
    store: MemoryPivStore, auth: PivAuthenticator
) -> None:
    certificate, key = make_card_certificate()
    card = store.enroll(certificate, ALICE)
    checker = CertificateChecker()
    begun = auth.begin(store, checker, der(certificate), client_id="kiosk", now=NOW)
    assert begun.accepted
    assert begun.user == ALICE
    assert begun.card == card
    assert begun.challenge is not None
    assert len(begun.challenge) == 32
    assert begun.handle is not None
    assert len(begun.handle) == 43
    assert begun.expires_at == NOW + 120
    pending = next(iter(store.challenges.values()))
    assert pending.handle_hash != begun.handle.encode()  # stored hashed
    assert (pending.card_id, pending.certificate, pending.client_id) == (card.id, None, "kiosk")
    done = auth.complete(
        store,
        checker,
        begun.handle,
        login_signature(key, begun.challenge),
        origin=ORIGIN,
        now=NOW + 5,
    )
    assert done.accepted
    assert done.user == ALICE
    assert done.client_id == "kiosk"
    assert done.certificate is not None
    assert done.certificate.fingerprint == card.fingerprint
    assert store.uses == [card.id]
    again = auth.complete(
        store,
        checker,
        begun.handle,
        login_signature(key, begun.challenge),
        origin=ORIGIN,
        now=NOW + 6,
    )
    assert (again.status, again.reused_fingerprint) == ("reused", card.fingerprint)


def test_begin_refusals(store: MemoryPivStore, auth: PivAuthenticator) -> None:
    checker = CertificateChecker()
    unknown, _ = make_card_certificate()
    revoked, _ = make_card_certificate()
    store.enroll(revoked, ALICE, state="revoked")
    expired, _ = make_card_certificate(not_after=NOW - 1)
    store.enroll(expired, ALICE)
    future, _ = make_card_certificate(not_before=NOW + 60)
    store.enroll(future, ALICE)
    disabled, _ = make_card_certificate()
    store.enroll(disabled, BOB_DISABLED)
    orphan, _ = make_card_certificate()
    store.enroll(orphan, User(9, "gone", "", False, True))
    del store.users[9]
    malformed = auth.begin(store, checker, b"\x30\x03\x02\x01\x01", client_id="k", now=NOW)
    assert (malformed.status, malformed.handle, store.challenges) == ("malformed", None, {})
    cases = {
        "unknown_certificate": (der(unknown), None),
        "revoked": (der(revoked), ALICE),
        "expired": (der(expired), ALICE),
        "not_yet_valid": (der(future), ALICE),
        "user_disabled": (der(disabled), BOB_DISABLED),
        "unknown_user": (der(orphan), None),
    }
    for expected, (body, holder) in cases.items():
        # Refused or not, a certificate gets a challenge like any other: the answer does
        # not tell a stranger whether it is enrolled.
        outcome = auth.begin(store, checker, body, client_id="kiosk", now=NOW)
        assert outcome.status == expected
        assert not outcome.accepted
        assert outcome.handle is not None
        assert outcome.challenge is not None
        assert len(outcome.challenge) == 32
        assert outcome.expires_at == NOW + 120
        pending = store.challenges[handle_hash(outcome.handle)]
        assert pending.refusal == expected
        assert pending.user_id == (holder.id if holder is not None else None)
        assert pending.certificate is None
        # The refusal comes at the second step, whatever was signed.
        done = auth.complete(
            store, checker, outcome.handle, b"any signature", origin=ORIGIN, now=NOW + 1
        )
        assert (done.status, done.accepted, done.user) == (expected, False, holder)
        assert done.reused_fingerprint == pending.fingerprint
        assert done.client_id == "kiosk"
    assert len(store.challenges) == len(cases)


def test_revoked_wins_over_expired(store: MemoryPivStore, auth: PivAuthenticator) -> None:
    certificate, _ = make_card_certificate(not_after=NOW - 1)
    store.enroll(certificate, ALICE, state="revoked")
    outcome = auth.begin(store, CertificateChecker(), der(certificate), client_id="k", now=NOW)
    assert outcome.status == "revoked"


def test_an_enrolled_certificate_that_no_longer_chains_is_untrusted(
    store: MemoryPivStore, auth: PivAuthenticator
) -> None:
    stranger = make_ca("Stranger")
    certificate, _ = make_card_certificate(stranger)
    store.enroll(certificate, ALICE)  # enrolled before the anchor was configured
    checker = CertificateChecker([make_ca("Corp Root").certificate])
    outcome = auth.begin(store, checker, der(certificate), client_id="k", now=NOW)
    assert outcome.status == "untrusted"


def test_strangers_cannot_use_up_a_cards_challenges(
    store: MemoryPivStore, auth: PivAuthenticator
) -> None:
    certificate, key = make_card_certificate()
    store.enroll(certificate, ALICE)
    checker = CertificateChecker()
    # Anyone can send the public certificate: no per-card cap for them to fill.
    strangers = [
        auth.begin(store, checker, der(certificate), client_id="k", now=NOW) for _ in range(200)
    ]
    assert {s.status for s in strangers} == {"accepted"}
    assert len({s.handle for s in strangers}) == 200
    mine = auth.begin(store, checker, der(certificate), client_id="k", now=NOW)
    assert mine.handle is not None
    assert mine.challenge is not None
    done = auth.complete(
        store,
        checker,
        mine.handle,
        login_signature(key, mine.challenge),
        origin=ORIGIN,
        now=NOW + 1,
    )
    assert done.accepted


def test_a_global_bound_on_pending_challenges(store: MemoryPivStore) -> None:
    auth = PivAuthenticator(PivLoginPolicy(challenge_lifetime=120, max_pending_challenges=3))
    enrolled, _ = make_card_certificate()
    store.enroll(enrolled, ALICE)
    unknown, _ = make_card_certificate()
    checker = CertificateChecker()
    statuses = [
        auth.begin(store, checker, der(c), client_id="k", now=NOW).status
        for c in (enrolled, unknown, enrolled, unknown, enrolled)
    ]
    # Everyone's challenges count, enrolled or not: full is full for both alike.
    assert statuses == ["accepted", "unknown_certificate", "accepted", "busy", "busy"]
    assert len(store.challenges) == 3
    later = auth.begin(store, checker, der(enrolled), client_id="k", now=NOW + 121)
    assert later.accepted


def test_the_signature_must_name_the_service_origin(
    store: MemoryPivStore, auth: PivAuthenticator
) -> None:
    certificate, key = make_card_certificate()
    store.enroll(certificate, ALICE)
    checker = CertificateChecker()

    def attempt(signature_over: bytes | None, origin: str = ORIGIN) -> str:
        begun = auth.begin(store, checker, der(certificate), client_id="k", now=NOW)
        assert begun.handle is not None
        assert begun.challenge is not None
        message = begun.challenge if signature_over is None else signature_over
        if signature_over == b"relay":
            signature = login_signature(key, begun.challenge, "http://127.0.0.1:9999")
        else:
            signature = card_signature(key, message)
        return auth.complete(store, checker, begun.handle, signature, origin=origin, now=NOW).status

    # The bare challenge (what a card signed before the login message existed).
    assert attempt(None) == "bad_signature"
    # A challenge relayed by another server: the card signed that server's origin.
    assert attempt(b"relay") == "bad_signature"
    # Signed naming the origin this service has: accepted.
    assert attempt(b"relay", origin="http://127.0.0.1:9999") == "accepted"


def test_complete_refusals(store: MemoryPivStore, auth: PivAuthenticator) -> None:
    certificate, key = make_card_certificate(not_after=NOW + 200)
    card = store.enroll(certificate, ALICE)
    checker = CertificateChecker()

    def begin() -> tuple[str, bytes]:
        begun = auth.begin(store, checker, der(certificate), client_id="k", now=NOW)
        assert begun.handle is not None
        assert begun.challenge is not None
        return begun.handle, begun.challenge

    handle, challenge = begin()
    assert (
        auth.complete(store, checker, "x" * 43, b"sig", origin=ORIGIN, now=NOW).status
        == "unknown_handle"
    )
    assert (
        auth.complete(store, checker, "short", b"sig", origin=ORIGIN, now=NOW).status
        == "unknown_handle"
    )
    other = os.urandom(32)
    wrong = auth.complete(
        store, checker, handle, login_signature(key, other), origin=ORIGIN, now=NOW
    )
    assert wrong.status == "bad_signature"
    assert wrong.user == ALICE
    # The challenge was spent by the wrong signature: the right one now finds it used.
    late = auth.complete(
        store, checker, handle, login_signature(key, challenge), origin=ORIGIN, now=NOW
    )
    assert late.status == "reused"

    handle, challenge = begin()
    expired = auth.complete(
        store, checker, handle, login_signature(key, challenge), origin=ORIGIN, now=NOW + 120
    )
    assert expired.status == "handle_expired"

    handle, challenge = begin()
    store.cards[card.fingerprint] = dataclasses.replace(card, state="revoked")
    revoked = auth.complete(
        store, checker, handle, login_signature(key, challenge), origin=ORIGIN, now=NOW
    )
    assert revoked.status == "revoked"
    store.cards[card.fingerprint] = card

    handle, challenge = begin()
    store.users[ALICE.id] = dataclasses.replace(ALICE, enabled=False)
    disabled = auth.complete(
        store, checker, handle, login_signature(key, challenge), origin=ORIGIN, now=NOW
    )
    assert disabled.status == "user_disabled"
    store.users[ALICE.id] = ALICE

    handle, challenge = begin()
    outcome = auth.complete(
        store, checker, handle, login_signature(key, challenge), origin=ORIGIN, now=NOW + 119
    )
    assert outcome.accepted


def test_a_certificate_that_expires_between_the_steps_is_refused(
    store: MemoryPivStore, auth: PivAuthenticator
) -> None:
    certificate, key = make_card_certificate(not_after=NOW + 60)
    store.enroll(certificate, ALICE)
    checker = CertificateChecker()
    begun = auth.begin(store, checker, der(certificate), client_id="k", now=NOW)
    assert begun.handle is not None
    assert begun.challenge is not None
    signature = login_signature(key, begun.challenge)
    assert (
        auth.complete(store, checker, begun.handle, signature, origin=ORIGIN, now=NOW + 61).status
        == "expired"
    )


def test_upn_mapping_needs_a_chain_and_records_the_card_on_first_login(
    store: MemoryPivStore, auth: PivAuthenticator
) -> None:
    corp = make_ca("Corp Root")
    store.users[ALICE.id] = ALICE
    certificate, key = make_card_certificate(corp, upn="alice@corp.example")
    self_signed, _ = make_card_certificate(upn="alice@corp.example")
    mapping = CertificateChecker([corp.certificate], map_upn=True, upn_domain="corp.example")
    no_mapping = CertificateChecker([corp.certificate])
    assert auth.begin(store, no_mapping, der(certificate), client_id="k", now=NOW).status == (
        "unknown_certificate"
    )
    # A self-signed certificate naming alice is untrusted once anchors are set.
    assert auth.begin(store, mapping, der(self_signed), client_id="k", now=NOW).status == (
        "untrusted"
    )
    nobody, _ = make_card_certificate(corp, upn="nobody@corp.example")
    assert auth.begin(store, mapping, der(nobody), client_id="k", now=NOW).status == (
        "unknown_certificate"
    )
    begun = auth.begin(store, mapping, der(certificate), client_id="k", now=NOW)
    assert begun.accepted
    assert begun.card is None
    assert begun.user == ALICE
    assert begun.handle is not None
    assert begun.challenge is not None
    assert store.challenges[handle_hash(begun.handle)].certificate == der(certificate)
    done = auth.complete(
        store, mapping, begun.handle, login_signature(key, begun.challenge), origin=ORIGIN, now=NOW
    )
    assert done.accepted
    assert done.card is not None
    assert store.cards[done.card.fingerprint].user_id == ALICE.id
    # From now on the card is known by its fingerprint, and revocable.
    store.cards[done.card.fingerprint] = dataclasses.replace(done.card, state="revoked")
    assert auth.begin(store, mapping, der(certificate), client_id="k", now=NOW).status == "revoked"


def test_upn_mapping_switched_off_between_the_steps(
    store: MemoryPivStore, auth: PivAuthenticator
) -> None:
    corp = make_ca("Corp Root")
    store.users[ALICE.id] = ALICE
    certificate, key = make_card_certificate(corp, upn="alice")
    mapping = CertificateChecker([corp.certificate], map_upn=True)
    begun = auth.begin(store, mapping, der(certificate), client_id="k", now=NOW)
    assert begun.accepted
    assert begun.handle is not None
    assert begun.challenge is not None
    off = CertificateChecker([corp.certificate])
    done = auth.complete(
        store, off, begun.handle, login_signature(key, begun.challenge), origin=ORIGIN, now=NOW
    )
    assert done.status == "unknown_certificate"
    assert store.cards == {}


def test_a_upn_challenge_fails_when_the_card_was_enrolled_for_someone_else_meanwhile(
    store: MemoryPivStore, auth: PivAuthenticator
) -> None:
    corp = make_ca("Corp Root")
    store.users[ALICE.id] = ALICE
    certificate, key = make_card_certificate(corp, upn="alice")
    mapping = CertificateChecker([corp.certificate], map_upn=True)
    begun = auth.begin(store, mapping, der(certificate), client_id="k", now=NOW)
    assert begun.handle is not None
    assert begun.challenge is not None
    store.enroll(certificate, User(3, "carol", "Carol", False, True))
    signature = login_signature(key, begun.challenge)
    done = auth.complete(store, mapping, begun.handle, signature, origin=ORIGIN, now=NOW)
    assert done.status == "unknown_certificate"
