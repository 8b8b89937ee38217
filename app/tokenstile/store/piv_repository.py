"""PIV cards, login challenges, issuing CAs and trust anchors in the database.

``SqlPivStore`` is the factor's ``PivStore`` port over one open transaction. A challenge
is claimed by one conditional ``UPDATE ... WHERE used_at IS NULL RETURNING``: of two
requests presenting one handle, at one replica or two, the database lets exactly one
have it.

``PivRepository`` holds the operations, each one transaction with its audit row in it:
the two login steps, enrollment of a card's own certificate, issuance of a certificate
for a key generated on a card, listing, revocation, the issuing CA (built in on first
use, or imported) and the trust anchors. Audit rows name the certificate's fingerprint
and serial and the card's CHUID GUID; never a challenge or a signature.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from tokenstile.clock import Clock
from tokenstile.config import Settings
from tokenstile.errors import ConfigError, NotFound, StoreError
from tokenstile.factors.piv import (
    CertificateChecker,
    CertificateSummary,
    PivError,
    PivPublicKey,
    fingerprint,
    load_certificate,
    normalise_fingerprint,
)
from tokenstile.factors.piv_ca import (
    CaSource,
    IssuingCa,
    SecretBox,
    load_trust_anchors,
)
from tokenstile.factors.piv_login import (
    MAX_PENDING_CHALLENGES,
    BeginOutcome,
    CardSource,
    CardState,
    CompleteOutcome,
    LoginStatus,
    PendingChallenge,
    PivAuthenticator,
    PivCardRecord,
    PivLoginPolicy,
)
from tokenstile.factors.piv_message import service_origin
from tokenstile.store import schema as t
from tokenstile.store.repository import (
    CREDENTIAL_REVOKED,
    TEXT_CHARS,
    Revoked,
    SqlTx,
    Store,
    clip,
)
from tokenstile.tokens.model import AuditEvent, User, credential_ref

PIV_FACTOR = "piv"
CHECKER_CACHE_SECONDS = 10.0
EXPIRED_CHALLENGES_KEPT = 60.0  # an expired handle is told apart from a made-up one a while

_cards = t.piv_cards
_ch = t.piv_challenges
_cas = t.piv_issuing_cas
_anchors = t.piv_trust_anchors
_u = t.users


class PivConflict(StoreError):
    """The card or CA is not in a state that allows this (already enrolled, revoked...)."""

    code = "piv_conflict"


# -- prebuilt statements (the login runs these on every attempt) ----------------------------

_CARD_COLUMNS = (
    _cards.c.id,
    _cards.c.fingerprint,
    _cards.c.user_id,
    _cards.c.certificate,
    _cards.c.cert_serial,
    _cards.c.card_guid,
    _cards.c.state,
)
# The card with its holder in one statement: a login asks for both, one after the other.
_CARD_AND_USER = select(
    *_CARD_COLUMNS,
    _u.c.username,
    _u.c.display_name,
    _u.c.is_admin,
    _u.c.enabled,
).select_from(_cards.outerjoin(_u, _u.c.id == _cards.c.user_id))
_CARD_BY_FINGERPRINT = _CARD_AND_USER.where(_cards.c.fingerprint == bindparam("fp"))
_CARD_BY_ID = _CARD_AND_USER.where(_cards.c.id == bindparam("cid"))
_USER_BY_ID = select(_u).where(_u.c.id == bindparam("uid"))
_USER_BY_NAME = select(_u).where(_u.c.username == bindparam("username"))
# Everyone's unexpired challenges, counted no further than the bound (the index on
# expires_at is walked at most ``limit`` rows).
_PENDING_CHALLENGES = select(func.count()).select_from(
    select(_ch.c.expires_at)
    .where(_ch.c.expires_at > bindparam("now"))
    .limit(bindparam("limit"))
    .subquery()
)
_DROP_EXPIRED = delete(_ch).where(_ch.c.expires_at < bindparam("before"))
_INSERT_CHALLENGE = insert(_ch)
_CLAIM = (
    update(_ch)
    .where(_ch.c.handle_hash == bindparam("h"), _ch.c.used_at.is_(None))
    .values(used_at=bindparam("at"))
    .returning(
        _ch.c.challenge,
        _ch.c.fingerprint,
        _ch.c.card_id,
        _ch.c.user_id,
        _ch.c.certificate,
        _ch.c.client_id,
        _ch.c.created_at,
        _ch.c.expires_at,
        _ch.c.refusal,
    )
)
_CLAIMED_FINGERPRINT = select(_ch.c.fingerprint).where(
    _ch.c.handle_hash == bindparam("h"), _ch.c.used_at.is_not(None)
)
_RECORD_USE = (
    update(_cards)
    .where(_cards.c.id == bindparam("cid"), _cards.c.state == "active")
    .values(last_used_at=bindparam("at"))
)
_INSERT_CARD = insert(_cards)
_UPN_CARD_INSERTS = {
    name: dialect_insert(_cards).on_conflict_do_nothing(index_elements=[_cards.c.fingerprint])
    for name, dialect_insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
}
_INFO_COLUMNS = [column for column in _cards.c if column.name != "certificate"]
_SELECT_INFO = select(*_INFO_COLUMNS, _u.c.username).select_from(
    _cards.join(_u, _u.c.id == _cards.c.user_id)
)
_ACTIVE_CA = select(_cas).where(_cas.c.active == 1)


def _user(row: Any) -> User:
    return User(row.id, row.username, row.display_name, bool(row.is_admin), bool(row.enabled))


def _card(row: Any) -> PivCardRecord:
    return PivCardRecord(
        id=row.id,
        fingerprint=row.fingerprint,
        user_id=row.user_id,
        certificate=bytes(row.certificate),
        cert_serial=row.cert_serial,
        card_guid=row.card_guid,
        state=cast(CardState, row.state),
    )


def _card_values(
    summary: CertificateSummary,
    der: bytes,
    *,
    user_id: int,
    source: CardSource,
    at: float,
    by: str | None,
    card_guid: str | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    return {
        "fingerprint": summary.fingerprint,
        "user_id": user_id,
        "certificate": der,
        "cert_serial": summary.serial[:64],
        "subject": summary.subject[:512],
        "issuer": summary.issuer[:512],
        "not_before": summary.not_before,
        "not_after": summary.not_after,
        "key_algorithm": summary.key_algorithm or "?",
        "upn": summary.upn[:TEXT_CHARS] if summary.upn else None,
        "card_guid": card_guid,
        "label": (label or "PIV card")[:TEXT_CHARS],
        "source": source,
        "state": "active",
        "created_at": at,
        "enrolled_by": by[:TEXT_CHARS] if by else None,
    }


class SqlPivStore:
    """``PivStore`` over one connection inside a transaction (see ``piv_login``)."""

    __slots__ = ("_conn", "_holders", "_upn_insert")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._upn_insert = _UPN_CARD_INSERTS[conn.dialect.name]
        self._holders: dict[int, User] = {}  # read with their cards, in this transaction

    def _card(self, statement: Any, params: dict[str, Any]) -> PivCardRecord | None:
        row = self._conn.execute(statement, params).first()
        if row is None:
            return None
        if row.username is not None:
            self._holders[row.user_id] = User(
                row.user_id, row.username, row.display_name, bool(row.is_admin), bool(row.enabled)
            )
        return _card(row)

    def card_by_fingerprint(self, fingerprint: str) -> PivCardRecord | None:
        return self._card(_CARD_BY_FINGERPRINT, {"fp": fingerprint})

    def card_by_id(self, card_id: int) -> PivCardRecord | None:
        return self._card(_CARD_BY_ID, {"cid": card_id})

    def user(self, user_id: int) -> User | None:
        held = self._holders.get(user_id)
        if held is not None:
            return held
        row = self._conn.execute(_USER_BY_ID, {"uid": user_id}).first()
        return _user(row) if row is not None else None

    def user_by_name(self, username: str) -> User | None:
        row = self._conn.execute(_USER_BY_NAME, {"username": username}).first()
        return _user(row) if row is not None else None

    def pending_challenges(self, *, now: float, limit: int) -> int:
        count = self._conn.execute(_PENDING_CHALLENGES, {"now": now, "limit": limit}).scalar()
        return int(count or 0)

    def add_challenge(self, challenge: PendingChallenge, *, now: float) -> None:
        self._conn.execute(_DROP_EXPIRED, {"before": now - EXPIRED_CHALLENGES_KEPT})
        self._conn.execute(
            _INSERT_CHALLENGE,
            {
                "handle_hash": challenge.handle_hash,
                "challenge": challenge.challenge,
                "fingerprint": challenge.fingerprint,
                "card_id": challenge.card_id,
                "user_id": challenge.user_id,
                "certificate": challenge.certificate,
                "client_id": challenge.client_id,
                "created_at": challenge.created_at,
                "expires_at": challenge.expires_at,
                "refusal": challenge.refusal,
            },
        )

    def claim_challenge(self, handle_hash: bytes, *, at: float) -> PendingChallenge | None:
        row = self._conn.execute(_CLAIM, {"h": handle_hash, "at": at}).first()
        if row is None:
            return None
        return PendingChallenge(
            handle_hash=handle_hash,
            challenge=bytes(row.challenge),
            fingerprint=row.fingerprint,
            card_id=row.card_id,
            user_id=row.user_id,
            certificate=bytes(row.certificate) if row.certificate is not None else None,
            client_id=row.client_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
            refusal=cast(LoginStatus, row.refusal) if row.refusal is not None else None,
        )

    def claimed_challenge(self, handle_hash: bytes) -> str | None:
        found = self._conn.execute(_CLAIMED_FINGERPRINT, {"h": handle_hash}).scalar()
        return None if found is None else str(found)

    def record_card_use(self, card_id: int, *, at: float) -> bool:
        return bool(self._conn.execute(_RECORD_USE, {"cid": card_id, "at": at}).rowcount == 1)

    def add_upn_card(
        self, summary: CertificateSummary, certificate: bytes, *, user_id: int, at: float
    ) -> PivCardRecord:
        # Two first logins of one card at once: one inserts, the other finds its row.
        values = _card_values(
            summary, certificate, user_id=user_id, source="upn", at=at, by="upn-mapping"
        )
        self._conn.execute(self._upn_insert, {**values, "last_used_at": at})
        found = self.card_by_fingerprint(summary.fingerprint)
        assert found is not None  # noqa: S101
        return found


# -- what callers see -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PivCardInfo:
    """A card as an admin sees it."""

    fingerprint: str
    username: str
    cert_serial: str
    subject: str
    issuer: str
    not_before: float
    not_after: float
    key_algorithm: str
    upn: str | None
    card_guid: str | None
    label: str
    source: str
    state: str
    created_at: float
    enrolled_by: str | None
    last_used_at: float | None
    revoked_at: float | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _info(row: Any) -> PivCardInfo:
    return PivCardInfo(
        fingerprint=row.fingerprint,
        username=row.username,
        cert_serial=row.cert_serial,
        subject=row.subject,
        issuer=row.issuer,
        not_before=row.not_before,
        not_after=row.not_after,
        key_algorithm=row.key_algorithm,
        upn=row.upn,
        card_guid=row.card_guid,
        label=row.label,
        source=row.source,
        state=row.state,
        created_at=row.created_at,
        enrolled_by=row.enrolled_by,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CaCertificateInfo:
    """An issuing CA or a trust anchor: its certificate, never a key."""

    fingerprint: str
    subject: str
    not_before: float
    not_after: float
    source: str  # builtin, imported, trust-anchor, settings
    active: bool
    certificate_pem: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, certificate: x509.Certificate, *, source: str, active: bool) -> CaCertificateInfo:
        return cls(
            fingerprint=fingerprint(certificate),
            subject=certificate.subject.rfc4514_string(),
            not_before=certificate.not_valid_before_utc.timestamp(),
            not_after=certificate.not_valid_after_utc.timestamp(),
            source=source,
            active=active,
            certificate_pem=certificate.public_bytes(Encoding.PEM).decode("ascii"),
        )


@dataclass(frozen=True, slots=True)
class PivSettings:
    """What the repository needs from the settings (see ``config.Settings``)."""

    challenge_lifetime: float = 120.0
    max_pending_challenges: int = MAX_PENDING_CHALLENGES
    # The origin the card's signature must name: ``service_origin(issuer URL)``.
    service_origin: str | None = None
    map_upn: bool = False
    upn_domain: str | None = None
    certificate_days: int = 1095
    ca_days: int = 3650
    ca_name: str = "Tokenstile PIV Issuing CA"

    @classmethod
    def from_settings(cls, settings: Settings) -> PivSettings:
        return cls(
            challenge_lifetime=float(settings.piv_challenge_lifetime),
            service_origin=service_origin(settings.issuer_url()),
            map_upn=settings.piv_map_upn,
            upn_domain=settings.piv_upn_domain,
            certificate_days=settings.piv_certificate_days,
            ca_days=settings.piv_ca_days,
            ca_name=settings.piv_ca_name,
        )


def load_anchor_files(paths: Sequence[Path], *, now: float) -> list[x509.Certificate]:
    """The trust anchors of the ``piv_trust_anchors`` setting, checked like ``trust add``."""
    anchors: list[x509.Certificate] = []
    for path in paths:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"Cannot read the trust anchor file {path}: {exc.strerror}.") from exc
        try:
            anchors.extend(load_trust_anchors(pem, now=now))
        except PivError as exc:
            raise ConfigError(f"The trust anchor file {path}: {exc.message}") from exc
    return anchors


class PivRepository:
    """Every PIV operation as one transaction, audited in that transaction.

    ``by`` names who did an admin action (``tokenstile manage``, ``admin:alice``).
    ``file_anchors`` are trust anchors from the settings (PEM files), trusted like the
    ones stored with ``trust add``.
    """

    def __init__(
        self,
        store: Store,
        *,
        box: SecretBox | None,
        clock: Clock,
        settings: PivSettings | None = None,
        file_anchors: Sequence[x509.Certificate] = (),
        cache_seconds: float = CHECKER_CACHE_SECONDS,
    ) -> None:
        self._store = store
        self._box = box
        self._clock = clock
        self.settings = settings or PivSettings()
        self._file_anchors = tuple(file_anchors)
        self._cache_seconds = cache_seconds
        self._checker: tuple[CertificateChecker, float] | None = None
        self._checker_lock = threading.Lock()
        self.authenticator = PivAuthenticator(
            PivLoginPolicy(
                challenge_lifetime=self.settings.challenge_lifetime,
                max_pending_challenges=self.settings.max_pending_challenges,
            )
        )

    # -- the checker (trust anchors + issuing CAs), cached briefly -----------------------------

    def checker(self) -> CertificateChecker:
        """The certificate checks as of now; a ``trust add`` made elsewhere is seen within
        ``cache_seconds`` (monotonic time, not the injected clock)."""
        cached = self._checker
        if cached is not None and 0 <= time.monotonic() - cached[1] < self._cache_seconds:
            return cached[0]
        with self._checker_lock:
            with self._store.read() as tx:
                conn = tx.connection
                anchors = [
                    load_certificate(bytes(der))
                    for der in conn.execute(select(_anchors.c.certificate)).scalars()
                ]
                issuers = [
                    load_certificate(bytes(der))
                    for der in conn.execute(select(_cas.c.certificate)).scalars()
                ]
            checker = CertificateChecker(
                [*self._file_anchors, *anchors],
                issuers,
                map_upn=self.settings.map_upn,
                upn_domain=self.settings.upn_domain,
            )
            self._checker = (checker, time.monotonic())
        return checker

    def _forget_checker(self) -> None:
        self._checker = None

    # -- login ----------------------------------------------------------------------------------

    def begin_login(
        self, certificate: bytes, *, client_id: str, origin: str | None = None
    ) -> BeginOutcome:
        """Step one: judge the certificate; store and hand out a challenge if it passes."""
        checker = self.checker()
        with self._store.write() as tx:
            now = self._clock.now()
            outcome = self.authenticator.begin(
                SqlPivStore(tx.connection), checker, certificate, client_id=client_id, now=now
            )
            detail = _login_detail(outcome.certificate, outcome.card, outcome.status)
            if outcome.issued:
                detail["expires_at"] = outcome.expires_at
            tx.audit(
                AuditEvent(
                    "piv_challenge",
                    "success" if outcome.accepted else "failure",
                    username=outcome.user.username if outcome.user is not None else None,
                    client_id=client_id,
                    factor=PIV_FACTOR,
                    origin=origin,
                    detail=detail,
                ),
                at=now,
            )
        return outcome

    def complete_login(
        self, handle: str, signature: bytes, *, origin: str | None = None
    ) -> CompleteOutcome:
        """Step two: claim the challenge once, check everything again, verify the signature
        over the login message naming ``settings.service_origin`` (``origin`` is the
        client's address, for the audit log)."""
        service = self.settings.service_origin
        if service is None:
            raise ConfigError("The PIV login needs the service's origin (its issuer URL).")
        checker = self.checker()
        with self._store.write() as tx:
            now = self._clock.now()
            outcome = self.authenticator.complete(
                SqlPivStore(tx.connection), checker, handle, signature, origin=service, now=now
            )
            tx.audit(
                AuditEvent(
                    "piv_login",
                    "success" if outcome.accepted else "failure",
                    username=outcome.user.username if outcome.user is not None else None,
                    client_id=outcome.client_id,
                    factor=PIV_FACTOR,
                    origin=origin,
                    detail=_login_detail(
                        outcome.certificate,
                        outcome.card,
                        outcome.status,
                        fingerprint=outcome.reused_fingerprint,
                    ),
                ),
                at=now,
            )
        return outcome

    # -- enrollment -----------------------------------------------------------------------------

    def register(
        self,
        username: str,
        certificate: bytes,
        *,
        by: str,
        origin: str | None = None,
        card_guid: str | None = None,
        label: str | None = None,
    ) -> PivCardInfo:
        """Enroll the certificate a card already holds (its 9A certificate, DER)."""
        parsed = load_certificate(certificate)
        now = self._clock.now()
        self.checker().check(parsed, now)
        summary = CertificateSummary.of(parsed)
        with self._store.write() as tx:
            user = tx.require_user(username)
            self._insert_card(
                tx,
                summary,
                certificate,
                user=user,
                source="registered",
                by=by,
                origin=origin,
                card_guid=card_guid,
                label=label,
                at=now,
            )
        return self.card(summary.fingerprint)

    def issue(
        self,
        username: str,
        public_key: PivPublicKey,
        *,
        by: str,
        origin: str | None = None,
        card_guid: str | None = None,
        label: str | None = None,
    ) -> tuple[PivCardInfo, x509.Certificate]:
        """Certify a key generated on a card, from the issuing CA, and enroll it.

        The station that generated the key writes the certificate to the card; the
        service only ever accepts signatures that verify with this key, so a wrong key
        yields a certificate nobody can log in with.
        """
        ca = self.issuing_ca(by=by, origin=origin)
        now = self._clock.now()
        domain = self.settings.upn_domain
        with self._store.write() as tx:
            user = tx.require_user(username)
            certificate = ca.issue(
                public_key,
                common_name=user.display_name or user.username,
                username=user.username,
                upn=f"{user.username}@{domain}" if domain else None,
                now=now,
                days=self.settings.certificate_days,
            )
            der = certificate.public_bytes(Encoding.DER)
            summary = CertificateSummary.of(certificate)
            self._insert_card(
                tx,
                summary,
                der,
                user=user,
                source="issued",
                by=by,
                origin=origin,
                card_guid=card_guid,
                label=label,
                at=now,
                extra={"ca": ca.fingerprint},
            )
        return self.card(summary.fingerprint), certificate

    def _insert_card(
        self,
        tx: SqlTx,
        summary: CertificateSummary,
        der: bytes,
        *,
        user: User,
        source: CardSource,
        by: str,
        origin: str | None,
        card_guid: str | None,
        label: str | None,
        at: float,
        extra: dict[str, Any] | None = None,
    ) -> None:
        conn = tx.connection
        existing = conn.execute(
            select(_cards.c.state, _u.c.username)
            .select_from(_cards.join(_u, _u.c.id == _cards.c.user_id))
            .where(_cards.c.fingerprint == summary.fingerprint)
        ).first()
        if existing is not None:
            if existing.state == "revoked":
                raise PivConflict(
                    "This certificate was revoked; it cannot be enrolled again. "
                    "Issue the card a new certificate."
                )
            raise PivConflict(f"This certificate is already enrolled for {existing.username}.")
        conn.execute(
            _INSERT_CARD,
            _card_values(
                summary,
                der,
                user_id=user.id,
                source=source,
                at=at,
                by=by,
                card_guid=clip(card_guid, 64),
                label=label,
            ),
        )
        tx.audit(
            AuditEvent(
                "piv_enrolled",
                "info",
                username=user.username,
                factor=PIV_FACTOR,
                origin=origin,
                detail={
                    "fingerprint": summary.fingerprint,
                    "cert_serial": summary.serial,
                    "card_guid": card_guid,
                    "source": source,
                    "by": by,
                    **(extra or {}),
                },
            ),
            at=at,
        )

    # -- listing and revocation -----------------------------------------------------------------

    def resolve(self, text: str) -> str:
        """The full fingerprint of the one card whose fingerprint is or starts with ``text``."""
        wanted = normalise_fingerprint(text)
        with self._store.read() as tx:
            found = list(
                tx.connection.execute(
                    select(_cards.c.fingerprint)
                    .where(_cards.c.fingerprint.startswith(wanted, autoescape=True))
                    .limit(2)
                ).scalars()
            )
        if not found:
            raise NotFound(f"No PIV card has a certificate fingerprint {text!r}.")
        if len(found) > 1:
            raise PivError(f"More than one card's fingerprint starts with {text!r}: give more.")
        return str(found[0])

    def card(self, fingerprint: str) -> PivCardInfo:
        with self._store.read() as tx:
            row = tx.connection.execute(
                _SELECT_INFO.where(_cards.c.fingerprint == fingerprint)
            ).first()
        if row is None:
            raise NotFound(f"No PIV card has the certificate fingerprint {fingerprint}.")
        return _info(row)

    def cards(self, username: str | None = None) -> list[PivCardInfo]:
        stmt = _SELECT_INFO.order_by(_cards.c.id)
        with self._store.read() as tx:
            if username is not None:
                tx.require_user(username)
                stmt = stmt.where(_u.c.username == username)
            return [_info(row) for row in tx.connection.execute(stmt)]

    def revoke(
        self, fingerprint: str, *, by: str, origin: str | None = None
    ) -> Revoked[PivCardInfo]:
        """Revoke a card for good: its next login step is refused, at every replica, and
        the sessions it opened end."""
        full = self.resolve(fingerprint)
        now = self._clock.now()
        with self._store.write() as tx:
            row = tx.connection.execute(
                select(_cards.c.cert_serial, _cards.c.card_guid, _u.c.username)
                .select_from(_cards.join(_u, _u.c.id == _cards.c.user_id))
                .where(_cards.c.fingerprint == full)
            ).one()
            done = tx.connection.execute(
                update(_cards)
                .where(_cards.c.fingerprint == full, _cards.c.state == "active")
                .values(state="revoked", revoked_at=now, revoked_by=by[:TEXT_CHARS])
            )
            if done.rowcount != 1:
                raise PivConflict(f"The card {full[:16]}... is already revoked.")
            tx.audit(
                AuditEvent(
                    "piv_revoked",
                    "info",
                    username=row.username,
                    factor=PIV_FACTOR,
                    origin=origin,
                    detail={
                        "fingerprint": full,
                        "cert_serial": row.cert_serial,
                        "card_guid": row.card_guid,
                        "by": by,
                    },
                ),
                at=now,
            )
            ended = tx.end_sessions_of(
                credential_ref("piv", full),
                reason=CREDENTIAL_REVOKED,
                by=by,
                origin=origin,
                at=now,
            )
        return Revoked(info=self.card(full), sessions_ended=ended)

    # -- the issuing CA -------------------------------------------------------------------------

    def _require_box(self) -> SecretBox:
        if self._box is None:
            raise StoreError("The issuing CA needs the key-encryption key.")
        return self._box

    def issuing_ca(self, *, create: bool = True, by: str, origin: str | None = None) -> IssuingCa:
        """The CA that issues (its key opened with the KEK); the built-in one is created
        the first time it is needed."""
        box = self._require_box()
        with self._store.read() as tx:
            row = tx.connection.execute(_ACTIVE_CA).first()
        if row is not None:
            return IssuingCa.unseal(
                bytes(row.certificate), bytes(row.sealed_key), box, cast(CaSource, row.source)
            )
        if not create:
            raise NotFound("There is no issuing CA yet.")
        now = self._clock.now()
        ca = IssuingCa.generate(self.settings.ca_name, now=now, days=self.settings.ca_days)
        try:
            with self._store.write() as tx:
                _insert_ca(tx.connection, ca, box, source="builtin", now=now, by=by)
                tx.audit(
                    AuditEvent(
                        "piv_ca_created",
                        "info",
                        factor=PIV_FACTOR,
                        origin=origin,
                        detail={"ca": ca.fingerprint, "subject": ca.subject, "by": by},
                    ),
                    at=now,
                )
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            # Another process created one at the same moment: use that one.
            return self.issuing_ca(create=False, by=by, origin=origin)
        self._forget_checker()
        return ca

    def import_ca(
        self, certificate_pem: bytes, key_pem: bytes, *, by: str, origin: str | None = None
    ) -> CaCertificateInfo:
        """Make an organisation's CA the issuing CA; the previous one retires (its cards
        keep working)."""
        box = self._require_box()
        now = self._clock.now()
        ca = IssuingCa.from_pem(certificate_pem, key_pem, now=now)
        with self._store.write() as tx:
            conn = tx.connection
            if conn.execute(select(_cas.c.id).where(_cas.c.fingerprint == ca.fingerprint)).first():
                raise PivConflict("This CA was imported before.")
            retired = conn.execute(select(_cas.c.fingerprint).where(_cas.c.active == 1)).scalar()
            conn.execute(update(_cas).where(_cas.c.active == 1).values(active=None, retired_at=now))
            _insert_ca(conn, ca, box, source="imported", now=now, by=by)
            tx.audit(
                AuditEvent(
                    "piv_ca_imported",
                    "info",
                    factor=PIV_FACTOR,
                    origin=origin,
                    detail={
                        "ca": ca.fingerprint,
                        "subject": ca.subject,
                        "retired": retired,
                        "by": by,
                    },
                ),
                at=now,
            )
        self._forget_checker()
        return CaCertificateInfo.of(ca.certificate, source="imported", active=True)

    def issuing_cas(self) -> list[CaCertificateInfo]:
        """Every issuing CA, the active one first."""
        with self._store.read() as tx:
            rows = tx.connection.execute(
                select(_cas.c.certificate, _cas.c.source, _cas.c.active).order_by(
                    _cas.c.active.is_(None), _cas.c.id.desc()
                )
            ).all()
        return [
            CaCertificateInfo.of(
                load_certificate(bytes(row.certificate)),
                source=row.source,
                active=row.active == 1,
            )
            for row in rows
        ]

    # -- trust anchors --------------------------------------------------------------------------

    def trust_anchors(self) -> list[CaCertificateInfo]:
        with self._store.read() as tx:
            stored = [
                load_certificate(bytes(der))
                for der in tx.connection.execute(
                    select(_anchors.c.certificate).order_by(_anchors.c.added_at)
                ).scalars()
            ]
        return [
            *(CaCertificateInfo.of(c, source="settings", active=True) for c in self._file_anchors),
            *(CaCertificateInfo.of(c, source="trust-anchor", active=True) for c in stored),
        ]

    def add_trust_anchors(
        self, pem: bytes, *, by: str, origin: str | None = None
    ) -> tuple[list[CaCertificateInfo], list[CaCertificateInfo]]:
        """Store the CA certificates of a PEM file; (added, already present)."""
        now = self._clock.now()
        certificates = load_trust_anchors(pem, now=now)
        added: list[CaCertificateInfo] = []
        present: list[CaCertificateInfo] = []
        with self._store.write() as tx:
            conn = tx.connection
            for certificate in certificates:
                info = CaCertificateInfo.of(certificate, source="trust-anchor", active=True)
                known = conn.execute(
                    select(_anchors.c.fingerprint).where(_anchors.c.fingerprint == info.fingerprint)
                ).first()
                if known is not None:
                    present.append(info)
                    continue
                conn.execute(
                    insert(_anchors).values(
                        fingerprint=info.fingerprint,
                        certificate=certificate.public_bytes(Encoding.DER),
                        subject=info.subject[:512],
                        not_after=info.not_after,
                        added_at=now,
                        added_by=by[:TEXT_CHARS],
                    )
                )
                added.append(info)
            if added:
                tx.audit(
                    AuditEvent(
                        "piv_trust_anchor_added",
                        "info",
                        factor=PIV_FACTOR,
                        origin=origin,
                        detail={
                            "anchors": [a.fingerprint for a in added],
                            "subjects": [a.subject for a in added],
                            "by": by,
                        },
                    ),
                    at=now,
                )
        self._forget_checker()
        return added, present


def _insert_ca(
    conn: Connection, ca: IssuingCa, box: SecretBox, *, source: CaSource, now: float, by: str
) -> None:
    """Store ``ca`` (its key sealed) as the active issuing CA."""
    conn.execute(
        insert(_cas).values(
            fingerprint=ca.fingerprint,
            certificate=ca.certificate.public_bytes(Encoding.DER),
            sealed_key=ca.sealed_key(box),
            source=source,
            active=1,
            created_at=now,
            created_by=by[:TEXT_CHARS],
        )
    )


def _login_detail(
    summary: CertificateSummary | None,
    card: PivCardRecord | None,
    status: str,
    *,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if fingerprint is not None:
        detail["fingerprint"] = fingerprint
    if summary is not None:
        detail["fingerprint"] = summary.fingerprint
        detail["cert_serial"] = summary.serial
    if card is not None and card.card_guid:
        detail["card_guid"] = card.card_guid
    if status != "accepted":
        detail["reason"] = status
    return detail
