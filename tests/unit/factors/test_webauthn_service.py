"""``WebAuthnService`` over an in-memory ``WebAuthnTx``: the FIDO2 use cases need no SQL.

The store's own tests (``tests/integration/fido2``) run the same use cases on SQLite and
PostgreSQL; these show what the factor asks of any store, and that its audit rows and
session endings come from the factor, not from the adapter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from tests.unit.factors.test_webauthn_login import MemoryStore
from tests.unit.factors.webauthn_keys import RP, SOFTWARE_KEYS_ALLOWED, Kiosk, resigned
from tokenstile.clock import FrozenClock
from tokenstile.errors import NotFound
from tokenstile.factors.webauthn import b64url, parse_assertion
from tokenstile.factors.webauthn_login import (
    CredentialState,
    Purpose,
    StoredChallenge,
    WebAuthnCredential,
)
from tokenstile.factors.webauthn_registration import parse_registration
from tokenstile.factors.webauthn_service import (
    EnrolledCredential,
    WebAuthnConflict,
    WebAuthnCredentialInfo,
    WebAuthnService,
    WebAuthnTx,
    parse_credential_id,
)
from tokenstile.tokens.model import CREDENTIAL_REVOKED, CREDENTIAL_SUSPENDED, AuditEvent, User

ALICE = User(1, "alice", "Alice", is_admin=False, enabled=True)


class MemoryTx(MemoryStore):
    """The whole ``WebAuthnTx`` in dicts; one object stands for every transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.users = {ALICE.id: ALICE}
        self.infos: dict[bytes, WebAuthnCredentialInfo] = {}
        self.events: list[AuditEvent] = []
        self.ended: list[tuple[str, str]] = []

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

    def purge_expired_challenges(self, now: float) -> None:
        pass

    def audit(self, event: AuditEvent, *, at: float) -> None:
        self.events.append(event)

    def end_sessions_of(
        self, credential: str, *, reason: str, by: str, origin: str | None, at: float
    ) -> int:
        self.ended.append((credential, reason))
        return 1

    def get_user(self, user_id: int) -> User | None:
        return self.users.get(user_id)

    def require_user(self, username: str) -> User:
        for user in self.users.values():
            if user.username == username:
                return user
        raise NotFound("No such person.")

    def user_handle_of(self, user_id: int) -> bytes | None:
        handles = [c.user_handle for c in self.credentials.values() if c.user.id == user_id]
        return handles[0] if handles else None

    def credential_ids_of(self, user_id: int) -> list[bytes]:
        return [
            c.credential_id
            for c in self.credentials.values()
            if c.user.id == user_id and c.state != "revoked"
        ]

    def credential_enrolled(self, credential_id: bytes) -> bool:
        return credential_id in self.credentials

    def add_credential(self, credential: EnrolledCredential, *, at: float) -> None:
        new = credential.new
        self.credentials[new.credential_id] = WebAuthnCredential(
            id=len(self.credentials) + 1,
            credential_id=new.credential_id,
            user=self.users[credential.user_id],
            user_handle=credential.user_handle,
            public_key=new.public_key.cose,
            algorithm=new.public_key.algorithm,
            aaguid=new.aaguid,
            sign_count=new.sign_count,
            state="active",
            uv_method=credential.uv_method,
            label=credential.label,
        )
        self.infos[new.credential_id] = WebAuthnCredentialInfo.stored(
            credential_id=new.credential_id,
            algorithm=new.public_key.algorithm,
            username=self.users[credential.user_id].username,
            label=credential.label,
            aaguid=new.aaguid,
            sign_count=new.sign_count,
            transports=list(new.transports),
            backup_eligible=new.backup_eligible,
            backup_state=new.backed_up,
            attestation_format=new.attestation_format,
            uv_method=credential.uv_method,
            state="active",
            state_reason=None,
            created_at=at,
            enrolled_by=credential.enrolled_by,
            last_used_at=None,
        )

    def credential_info(self, credential_id: bytes) -> WebAuthnCredentialInfo | None:
        info = self.infos.get(credential_id)
        if info is None:
            return None
        return dataclasses.replace(info, state=self.credentials[credential_id].state)

    def credential_infos(self, user_id: int | None = None) -> list[WebAuthnCredentialInfo]:
        return [
            info
            for cid, c in self.credentials.items()
            if user_id is None or c.user.id == user_id
            if (info := self.credential_info(cid)) is not None
        ]

    def change_credential_state(
        self,
        credential_id: bytes,
        to: CredentialState,
        *,
        frm: tuple[CredentialState, ...],
        reason: str | None,
        at: float,
    ) -> bool:
        if self.credentials[credential_id].state not in frm:
            return False
        self.set_state(credential_id, to)
        return True


class MemoryTransactions:
    def __init__(self, tx: MemoryTx) -> None:
        self.tx = tx

    @contextmanager
    def write(self) -> Iterator[WebAuthnTx]:
        yield self.tx

    @contextmanager
    def read(self) -> Iterator[WebAuthnTx]:
        yield self.tx


@pytest.fixture
def tx() -> MemoryTx:
    return MemoryTx()


@pytest.fixture
def service(tx: MemoryTx) -> WebAuthnService:
    return WebAuthnService(
        MemoryTransactions(tx),
        rp=RP,
        clock=FrozenClock(1_800_000_000.0),
        policy=SOFTWARE_KEYS_ALLOWED,
    )


def enroll(service: WebAuthnService, kiosk: Kiosk) -> bytes:
    options = service.begin_registration("alice", label="Blue key", by="admin")
    info = service.complete_registration(
        options.handle, parse_registration(kiosk.register(options.public_key)), by="admin"
    )
    return parse_credential_id(info.credential_id)


def test_enrollment_and_login_are_audited_by_the_factor(
    service: WebAuthnService, tx: MemoryTx
) -> None:
    kiosk = Kiosk()
    credential_id = enroll(service, kiosk)
    options = service.login_options()
    outcome = service.login(
        options.handle, parse_assertion(kiosk.authenticate(options.public_key)), client_id="k"
    )
    assert outcome.accepted
    assert [(e.event, e.outcome) for e in tx.events] == [
        ("fido2_registration_started", "info"),
        ("fido2_enrolled", "info"),
        ("fido2_login", "success"),
    ]
    assert tx.events[-1].detail["credential_id"] == b64url(credential_id)
    assert [i.label for i in service.credentials("alice")] == ["Blue key"]


def test_a_counter_regression_alerts_and_ends_the_keys_sessions(
    service: WebAuthnService, tx: MemoryTx
) -> None:
    kiosk = Kiosk()
    credential_id = enroll(service, kiosk)
    first, second = service.login_options(), service.login_options()
    one = kiosk.authenticate(first.public_key)
    two = resigned(kiosk, kiosk.authenticate(second.public_key), count=1)  # a copy
    assert service.login(first.handle, parse_assertion(one)).accepted
    outcome = service.login(second.handle, parse_assertion(two))
    assert (outcome.status, outcome.suspended) == ("counter_regression", True)
    alert = tx.events[-1]
    assert (alert.event, alert.outcome, alert.username) == (
        "fido2_credential_suspended",
        "alert",
        "alice",
    )
    assert tx.ended == [(f"fido2:{b64url(credential_id)}", CREDENTIAL_SUSPENDED)]


def test_revocation_ends_sessions_and_states_are_checked(
    service: WebAuthnService, tx: MemoryTx
) -> None:
    credential_id = enroll(service, Kiosk())
    with pytest.raises(WebAuthnConflict, match="only a suspended"):
        service.unsuspend(credential_id, by="admin")
    done = service.revoke(credential_id, by="admin")
    assert (done.info.state, done.sessions_ended) == ("revoked", 1)
    assert tx.ended == [(f"fido2:{b64url(credential_id)}", CREDENTIAL_REVOKED)]
    with pytest.raises(WebAuthnConflict, match="only an active or suspended"):
        service.revoke(credential_id, by="admin")
    with pytest.raises(NotFound):
        service.revoke(b"nothing", by="admin")
