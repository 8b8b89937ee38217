"""The PIV use cases, each one transaction over ``piv_port.PivTx`` with its audit row.

``PivService`` holds the two login steps (``piv_login.PivAuthenticator`` judges, this
module stores and audits), enrollment of a card's own certificate, issuance of a
certificate for a key generated on a card, listing, revocation, the issuing CA (built in
on first use, or imported) and the trust anchors. Audit rows name the certificate's
fingerprint and serial and the card's CHUID GUID; never a challenge or a signature.

The certificate checks are cached in a ``piv_config.CheckerCache`` that the composition
root owns (see ``piv_config``). The revocation checks (``piv_revocation``) run at
enrollment and at the first login step, before the transaction (they may fetch over the
network); their verdict goes into the audit row (``revocation``). The issuing CA's CRL
(``ca_crl``) comes from a ``piv_crl.CrlPublisher``.

A card's key attestation is judged here, for every enrollment station alike
(``judge_attestation``: the ``piv_attestation.AttestationPolicy`` the composition root
hands in); its verdict goes into the enrollment's transaction as a ``piv_attestation``
row, and a refusal is audited before it is raised. What a station did to set a card up
is recorded by ``record_card_setup`` (``piv_card_setup``).

Just over 600 lines: one service over one transaction port, as ``OtpService`` and
``WebAuthnService`` are; the checks it calls already live in their own modules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tokenstile.clock import Clock
from tokenstile.errors import ConfigError, NotFound, StoreError
from tokenstile.factors.piv import (
    CertificateChecker,
    CertificateSummary,
    PivError,
    PivPublicKey,
    load_certificate,
    normalise_fingerprint,
)
from tokenstile.factors.piv_attestation import (
    AttestationEvidence,
    AttestationPolicy,
    AttestationVerdict,
    PivAttestationError,
)
from tokenstile.factors.piv_ca import CaSource, IssuingCa, SecretBox, load_trust_anchors
from tokenstile.factors.piv_config import CHECKER_CACHE_SECONDS, CheckerCache, PivSettings
from tokenstile.factors.piv_crl import CrlPublisher
from tokenstile.factors.piv_login import (
    BeginOutcome,
    CardSource,
    CompleteOutcome,
    PivAuthenticator,
    PivCardRecord,
    PivLoginPolicy,
)
from tokenstile.factors.piv_port import (
    CaCertificateInfo,
    PivCardInfo,
    PivConflict,
    PivStorage,
    PivTx,
)
from tokenstile.factors.piv_revocation import (
    NOT_CHECKED,
    RevocationChecker,
    RevocationVerdict,
)
from tokenstile.factors.piv_tap_service import CardTapService
from tokenstile.protocol.piv_setup import SETUP_STEPS
from tokenstile.tokens.model import (
    CREDENTIAL_REVOKED,
    AuditEvent,
    Revoked,
    User,
    credential_ref,
)

PIV_FACTOR = "piv"


class PivService:
    """Every PIV operation as one transaction, audited in that transaction.

    ``by`` names who did an admin action (``tokenstile manage``, ``admin:alice``).
    ``file_anchors`` are trust anchors from the settings (PEM files), trusted like the
    ones stored with ``trust add``. ``checker_cache`` may be shared; without one the
    service keeps its own for ``cache_seconds``.
    """

    def __init__(
        self,
        storage: PivStorage,
        *,
        box: SecretBox | None,
        clock: Clock,
        settings: PivSettings | None = None,
        file_anchors: Sequence[x509.Certificate] = (),
        cache_seconds: float = CHECKER_CACHE_SECONDS,
        checker_cache: CheckerCache | None = None,
        revocation: RevocationChecker | None = None,
        attestation: Callable[[], AttestationPolicy] | None = None,
    ) -> None:
        self._storage = storage
        self._attestation = attestation or AttestationPolicy
        self._box = box
        self._clock = clock
        self.settings = settings or PivSettings()
        self._file_anchors = tuple(file_anchors)
        self._checkers = checker_cache or CheckerCache(cache_seconds)
        self.revocation = revocation
        self._crl = CrlPublisher(
            storage, box=self._require_box, clock=clock, hours=self.settings.ca_crl_hours
        )
        self.authenticator = PivAuthenticator(
            PivLoginPolicy(
                challenge_lifetime=self.settings.challenge_lifetime,
                max_pending_challenges=self.settings.max_pending_challenges,
            )
        )

    def card_taps(self) -> CardTapService:
        """The card tap of tap-and-go (``piv_tap_service``), over this service's storage,
        checks and settings."""
        return CardTapService(
            self._storage,
            clock=self._clock,
            checker=self.checker,
            settings=self.settings,
            resolve=self.resolve,
        )

    # -- the checker (trust anchors + issuing CAs), cached briefly -----------------------------

    def checker(self) -> CertificateChecker:
        """The certificate checks as of now; a ``trust add`` made elsewhere is seen within
        the cache's ``seconds``."""
        return self._checkers.get(self._build_checker)

    def _build_checker(self) -> CertificateChecker:
        with self._storage.read() as tx:
            anchors = [load_certificate(der) for der in tx.trust_anchors()]
            issuers = [load_certificate(ca.certificate) for ca in tx.issuing_cas()]
        return CertificateChecker(
            [*self._file_anchors, *anchors],
            issuers,
            map_upn=self.settings.map_upn,
            upn_domain=self.settings.upn_domain,
        )

    def _forget_checker(self) -> None:
        self._checkers.forget()
        self._crl.forget()

    def revocation_verdict(
        self, certificate: x509.Certificate, checker: CertificateChecker, now: float
    ) -> RevocationVerdict:
        """The revocation check of a certificate that passes ``checker`` (else not
        checked: it is refused anyway, and nothing is fetched for it)."""
        if (
            self.revocation is None
            or not checker.checks_chains
            or checker.refusal(certificate, now) is not None
        ):
            return NOT_CHECKED
        return self.revocation.verdict(
            certificate, anchors=checker.anchors, issuers=checker.issuers, now=now
        )

    def _login_revocation(self, der: bytes, checker: CertificateChecker) -> RevocationVerdict:
        try:
            certificate = load_certificate(der)
        except PivError:
            return NOT_CHECKED
        return self.revocation_verdict(certificate, checker, self._clock.now())

    # -- login ----------------------------------------------------------------------------------

    def begin_login(
        self, certificate: bytes, *, client_id: str, origin: str | None = None
    ) -> BeginOutcome:
        """Step one: judge the certificate; store and hand out a challenge if it passes."""
        checker = self.checker()
        revocation = self._login_revocation(certificate, checker)
        with self._storage.write() as tx:
            now = self._clock.now()
            outcome = self.authenticator.begin(
                tx,
                checker,
                certificate,
                client_id=client_id,
                now=now,
                revocation=revocation.login_status if revocation.refused else None,
            )
            detail = _login_detail(outcome.certificate, outcome.card, outcome.status)
            if revocation.checked:
                detail["revocation"] = revocation.audit()
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
        with self._storage.write() as tx:
            now = self._clock.now()
            outcome = self.authenticator.complete(
                tx, checker, handle, signature, origin=service, now=now
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
        attestation: AttestationVerdict | None = None,
    ) -> PivCardInfo:
        """Enroll the certificate a card already holds (its 9A certificate, DER); with the
        verdict of ``judge_attestation`` on its key (needed under the require policy)."""
        self._check_attestation_given(attestation)
        parsed = load_certificate(certificate)
        now = self._clock.now()
        checker = self.checker()
        checker.check(parsed, now)
        summary = CertificateSummary.of(parsed)
        revocation = self.revocation_verdict(parsed, checker, now)
        if revocation.refused:
            with self._storage.write() as tx:
                tx.audit(
                    AuditEvent(
                        "piv_enroll_refused",
                        "failure",
                        username=username,
                        factor=PIV_FACTOR,
                        origin=origin,
                        detail={
                            **_login_detail(summary, None, revocation.login_status),
                            "revocation": revocation.audit(),
                            "by": by,
                        },
                    ),
                    at=now,
                )
            raise revocation.error()
        with self._storage.write() as tx:
            user = tx.require_user(username)
            _enroll(
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
                extra={"revocation": revocation.audit()} if revocation.checked else None,
            )
            _audit_verdict(
                tx,
                attestation,
                summary,
                user=user,
                by=by,
                origin=origin,
                card_guid=card_guid,
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
        attestation: AttestationVerdict | None = None,
    ) -> tuple[PivCardInfo, x509.Certificate]:
        """Certify a key generated on a card, from the issuing CA, and enroll it; with
        the verdict of ``judge_attestation`` on the key (needed under the require policy).

        The station that generated the key writes the certificate to the card; the
        service only ever accepts signatures that verify with this key, so a wrong key
        yields a certificate nobody can log in with.
        """
        self._check_attestation_given(attestation)
        ca = self.issuing_ca(by=by, origin=origin)
        now = self._clock.now()
        domain = self.settings.upn_domain
        with self._storage.write() as tx:
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
            _enroll(
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
            _audit_verdict(
                tx,
                attestation,
                summary,
                user=user,
                by=by,
                origin=origin,
                card_guid=card_guid,
                at=now,
            )
        return self.card(summary.fingerprint), certificate

    # -- key attestation and card set-up --------------------------------------------------------

    def judge_attestation(
        self,
        public_key: PivPublicKey,
        evidence: AttestationEvidence,
        *,
        username: str,
        by: str,
        origin: str | None = None,
        card_guid: str | None = None,
    ) -> AttestationVerdict:
        """Judge what a station handed in about ``public_key`` (the key it generated, or
        the one in the certificate it enrolls) by the deployment's attestation policy.

        A refusal (``PivAttestationError``: required and missing, a chain to no configured
        root, an attestation of another key, bytes that are not certificates) is audited
        as ``piv_attestation`` failure, then raised: the caller enrolls nothing. The
        verdict otherwise goes to ``register`` or ``issue``, which audit it.
        """
        with self._storage.read() as tx:
            tx.require_user(username)
        now = self._clock.now()
        try:
            return self._attestation().judge(
                evidence, public_key, now=dt.datetime.fromtimestamp(now, dt.UTC)
            )
        except PivAttestationError as exc:
            with self._storage.write() as tx:
                tx.audit(
                    AuditEvent(
                        "piv_attestation",
                        "failure",
                        username=username,
                        factor=PIV_FACTOR,
                        origin=origin,
                        detail={"card_guid": card_guid, "by": by, "reason": exc.message},
                    ),
                    at=now,
                )
            raise

    def _check_attestation_given(self, verdict: AttestationVerdict | None) -> None:
        if self._attestation().require and (verdict is None or not verdict.attested):
            raise PivAttestationError(
                "piv_require_attestation is on: a card's key is enrolled only once its "
                "attestation was judged."
            )

    def record_card_setup(
        self,
        username: str,
        steps: Sequence[str],
        *,
        by: str,
        origin: str | None = None,
        card_guid: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        """Audit (``piv_card_setup``) what a station did to set a card up (new PIN, PUK
        set or blocked, management key replaced and stored under the PIN): the step
        names of ``protocol.piv_setup`` only, never a secret. With ``fingerprint`` the
        card must be one of ``username``'s, not revoked."""
        unknown = [step for step in steps if step not in SETUP_STEPS]
        if not steps or unknown:
            raise PivError(
                "A card set-up names its steps, each one of: " + ", ".join(sorted(SETUP_STEPS))
            )
        if len(set(steps)) != len(steps):
            raise PivError("A card set-up names each step once.")
        now = self._clock.now()
        with self._storage.write() as tx:
            user = tx.require_user(username)
            detail: dict[str, Any] = {"card_guid": card_guid, "by": by}
            if fingerprint is not None:
                holder = tx.card_holder(fingerprint)
                if holder is None or holder.username != user.username:
                    raise NotFound(f"{username} has no card with the fingerprint {fingerprint}.")
                if holder.state == "revoked":
                    raise PivConflict("That card is revoked.")
                detail["fingerprint"] = fingerprint
            detail["steps"] = list(steps)
            tx.audit(
                AuditEvent(
                    "piv_card_setup",
                    "success",
                    username=user.username,
                    factor=PIV_FACTOR,
                    origin=origin,
                    detail=detail,
                ),
                at=now,
            )

    # -- listing and revocation -----------------------------------------------------------------

    def resolve(self, text: str) -> str:
        """The full fingerprint of the one card whose fingerprint is or starts with ``text``."""
        wanted = normalise_fingerprint(text)
        with self._storage.read() as tx:
            found = tx.card_fingerprints(wanted, limit=2)
        if not found:
            raise NotFound(f"No PIV card has a certificate fingerprint {text!r}.")
        if len(found) > 1:
            raise PivError(f"More than one card's fingerprint starts with {text!r}: give more.")
        return found[0]

    def card(self, fingerprint: str) -> PivCardInfo:
        with self._storage.read() as tx:
            info = tx.card_info(fingerprint)
        if info is None:
            raise NotFound(f"No PIV card has the certificate fingerprint {fingerprint}.")
        return info

    def cards(self, username: str | None = None) -> list[PivCardInfo]:
        with self._storage.read() as tx:
            if username is not None:
                tx.require_user(username)
            return tx.card_infos(username)

    def revoke(
        self, fingerprint: str, *, by: str, origin: str | None = None
    ) -> Revoked[PivCardInfo]:
        """Revoke a card for good: its next login step is refused, at every replica, and
        the sessions it opened end."""
        full = self.resolve(fingerprint)
        now = self._clock.now()
        with self._storage.write() as tx:
            holder = tx.card_holder(full)
            if holder is None:  # pragma: no cover - resolved just before; cards stay
                raise NotFound(f"No PIV card has the certificate fingerprint {full}.")
            if not tx.revoke_card(full, at=now, by=by):
                raise PivConflict(f"The card {full[:16]}... is already revoked.")
            tx.audit(
                AuditEvent(
                    "piv_revoked",
                    "info",
                    username=holder.username,
                    factor=PIV_FACTOR,
                    origin=origin,
                    detail={
                        "fingerprint": full,
                        "cert_serial": holder.cert_serial,
                        "card_guid": holder.card_guid,
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
        self._crl.forget()
        return Revoked(info=self.card(full), sessions_ended=ended)

    def ca_crl(self) -> x509.CertificateRevocationList:
        """The active issuing CA's CRL (``piv_crl``): its certificates whose cards are
        revoked."""
        return self._crl.crl()

    # -- the issuing CA -------------------------------------------------------------------------

    def _require_box(self) -> SecretBox:
        if self._box is None:
            raise StoreError("The issuing CA needs the key-encryption key.")
        return self._box

    def issuing_ca(self, *, create: bool = True, by: str, origin: str | None = None) -> IssuingCa:
        """The CA that issues (its key opened with the KEK); the built-in one is created
        the first time it is needed."""
        box = self._require_box()
        with self._storage.read() as tx:
            stored = tx.active_ca()
        if stored is not None:
            return IssuingCa.unseal(stored.certificate, stored.sealed_key, box, stored.source)
        if not create:
            raise NotFound("There is no issuing CA yet.")
        now = self._clock.now()
        ca = IssuingCa.generate(self.settings.ca_name, now=now, days=self.settings.ca_days)
        try:
            with self._storage.write() as tx:
                _store_ca(tx, ca, box, source="builtin", now=now, by=by)
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
            if not self._storage.is_duplicate(exc):
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
        with self._storage.write() as tx:
            if tx.ca_known(ca.fingerprint):
                raise PivConflict("This CA was imported before.")
            retired = tx.retire_active_ca(at=now)
            _store_ca(tx, ca, box, source="imported", now=now, by=by)
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
        with self._storage.read() as tx:
            stored = tx.issuing_cas()
        return [
            CaCertificateInfo.of(
                load_certificate(ca.certificate), source=ca.source, active=ca.active
            )
            for ca in stored
        ]

    # -- trust anchors --------------------------------------------------------------------------

    def trust_anchors(self) -> list[CaCertificateInfo]:
        with self._storage.read() as tx:
            stored = [load_certificate(der) for der in tx.trust_anchors()]
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
        with self._storage.write() as tx:
            for certificate in certificates:
                info = CaCertificateInfo.of(certificate, source="trust-anchor", active=True)
                if tx.trust_anchor_known(info.fingerprint):
                    present.append(info)
                    continue
                tx.add_trust_anchor(info, certificate.public_bytes(Encoding.DER), at=now, by=by)
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


def _enroll(
    tx: PivTx,
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
    """Store a card for ``user`` and audit it; a certificate enrolled before is refused."""
    existing = tx.card_holder(summary.fingerprint)
    if existing is not None:
        if existing.state == "revoked":
            raise PivConflict(
                "This certificate was revoked; it cannot be enrolled again. "
                "Issue the card a new certificate."
            )
        raise PivConflict(f"This certificate is already enrolled for {existing.username}.")
    tx.add_card(
        summary,
        der,
        user_id=user.id,
        source=source,
        at=at,
        by=by,
        card_guid=card_guid,
        label=label,
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


def _audit_verdict(
    tx: PivTx,
    verdict: AttestationVerdict | None,
    summary: CertificateSummary,
    *,
    user: User,
    by: str,
    origin: str | None,
    card_guid: str | None,
    at: float,
) -> None:
    """The ``piv_attestation`` row of an enrollment, in its transaction."""
    if verdict is None:
        return
    tx.audit(
        AuditEvent(
            "piv_attestation",
            "success" if verdict.attested else "info",
            username=user.username,
            factor=PIV_FACTOR,
            origin=origin,
            detail={
                "card_guid": card_guid,
                "by": by,
                "fingerprint": summary.fingerprint,
                **verdict.audit_detail(),
            },
        ),
        at=at,
    )


def _store_ca(
    tx: PivTx, ca: IssuingCa, box: SecretBox, *, source: CaSource, now: float, by: str
) -> None:
    """Store ``ca`` (its key sealed) as the active issuing CA."""
    tx.add_ca(
        ca.fingerprint,
        ca.certificate.public_bytes(Encoding.DER),
        ca.sealed_key(box),
        source=source,
        at=now,
        by=by,
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
