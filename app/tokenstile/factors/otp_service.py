"""The OTP use cases, each one transaction over ``OtpTx`` with its audit row in it.

``OtpService`` holds the operations: the login attempt, enrollment of an app or a fob,
confirmation of a pending app, PSKC import (all or nothing), assignment, listing,
revocation, unlock and resync. Seeds are sealed under the KEK before they reach the
store, and neither a seed nor a code ever goes into the audit log.

A login's first read (``otp_credentials``) locks the person's credential rows until it
commits, and the failure count is read after it, so the lockout's read-judge-check-count
runs for one person at a time across every server process (see ``otp_login``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenstile.clock import Clock
from tokenstile.errors import NotFound
from tokenstile.factors.otp import (
    MAX_STORED_COUNTER,
    NEVER_USED,
    CredentialState,
    InvalidOtpParameters,
    OtpCredential,
    OtpParameters,
    OtpResyncFailed,
    ResyncResult,
    SecretBox,
    VerificationPolicy,
    seal_seed,
)
from tokenstile.factors.otp_enrollment import (
    AppEnrollment,
    generate_serial,
    new_app_enrollment,
)
from tokenstile.factors.otp_import import PskcImporter
from tokenstile.factors.otp_lockout import LockoutPolicy
from tokenstile.factors.otp_login import LoginStatus, OtpAuthenticator, OtpLoginOutcome
from tokenstile.factors.otp_tx import (
    LOGIN_STATEMENTS,
    MAX_SERIAL_CHARS,
    OTP_FACTOR,
    DecoyOtpStore,
    NewOtpCredential,
    OtpCodeRefused,
    OtpConflict,
    OtpCredentialInfo,
    OtpLoginResult,
    OtpSerialTaken,
    OtpTx,
    OtpTxStore,
    decoy_credential,
)
from tokenstile.tokens.model import (
    CREDENTIAL_REVOKED,
    AuditEvent,
    Revoked,
    User,
    credential_ref,
)

_USERNAME_CHARS = 128
# The id the decoy's checks name: no row has it.
_NOBODY = 0


def _audit_text(value: str) -> str:
    """The name as typed, cut to what the audit column holds; a NUL or a lone surrogate
    (text no database takes) replaced."""
    clipped = value[:_USERNAME_CHARS]
    return clipped.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


class OtpService:
    """Every OTP operation as one transaction, audited in that transaction.

    ``by`` names who did an admin action (``tokenstile manage``, ``admin:alice``); it goes
    in the audit detail and the credential's ``enrolled_by``. ``origin`` is where from.
    """

    def __init__(
        self,
        store: OtpTxStore,
        *,
        box: SecretBox,
        clock: Clock,
        policy: VerificationPolicy | None = None,
        lockout: LockoutPolicy | None = None,
        issuer_name: str = "Tokenstile",
    ) -> None:
        self._store = store
        self._box = box
        self._clock = clock
        self.issuer_name = issuer_name
        self.authenticator = OtpAuthenticator(box=box, clock=clock, policy=policy, lockout=lockout)
        self._decoy = decoy_credential(box)
        # ``import_pskc(data, *, by, origin, psk, assignments_csv)``: every key of a PSKC
        # file or none, assigned from a ``serial,username`` CSV; written once, in
        # ``otp_import.PskcImporter.run``.
        self.import_pskc = PskcImporter(store, box=box, clock=clock, infos=self._infos).run

    # -- login ------------------------------------------------------------------------------

    def login(
        self, username: str, code: str, *, client_id: str | None = None, origin: str | None = None
    ) -> OtpLoginResult:
        """One login attempt: find the person, check the code, count or record, audit.

        An unknown or disabled person is checked against a decoy credential
        (``DecoyOtpStore``): the same statements, the same seed opening and HMAC work, the
        same failure counting as a wrong code for a real person, with nothing written.
        Refusals that stop early (delay, lock, no credential, malformed code) run
        statements of the same shapes until they have run ``LOGIN_STATEMENTS``.
        """
        with self._store.write() as tx:
            user = tx.find_user(username)
            known = user if user is not None and user.enabled else None
            if known is None:
                decoy = DecoyOtpStore(tx.nobody(), self._decoy)
                checked = self.authenticator.authenticate(decoy, user_id=_NOBODY, code=code)
                status: LoginStatus = (
                    "malformed" if checked.status == "malformed" else "unknown_user"
                )
                outcome = OtpLoginOutcome(status)
            else:
                outcome = self.authenticator.authenticate(tx, user_id=known.id, code=code)
            now = self._clock.now()
            if not outcome.accepted:
                tx.pad_to(LOGIN_STATEMENTS, at=now)
            self._audit_login(
                tx, username, user, outcome, client_id=client_id, origin=origin, at=now
            )
        return OtpLoginResult(known if outcome.accepted else None, outcome)

    def _audit_login(
        self,
        tx: OtpTx,
        username: str,
        user: User | None,
        outcome: OtpLoginOutcome,
        *,
        client_id: str | None,
        origin: str | None,
        at: float,
    ) -> None:
        name = _audit_text(username)
        # ``checked``: the code was checked against a real credential and counted; False
        # for a refusal that looked at no code (delay, lock, unknown person, malformed).
        detail: dict[str, Any] = {"reason": outcome.status, "checked": outcome.checked}
        if user is not None and not user.enabled:
            detail["reason"] = "user_disabled"
        if outcome.credential is not None:
            detail["serial"] = outcome.credential.serial
        if outcome.retry_at is not None:
            detail["retry_at"] = outcome.retry_at
        if outcome.accepted:
            assert outcome.credential is not None  # noqa: S101
            detail = {
                "serial": outcome.credential.serial,
                "kind": outcome.credential.params.kind,
            }
        tx.audit(
            AuditEvent(
                "otp_login",
                "success" if outcome.accepted else "failure",
                username=name,
                client_id=client_id,
                factor=OTP_FACTOR,
                origin=origin,
                detail=detail,
            ),
            at=at,
        )
        for serial in outcome.locked_serials:
            tx.audit(
                AuditEvent(
                    "otp_credential_locked",
                    "alert",
                    username=name,
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"serial": serial, "failures": self.authenticator.lockout.lock_after},
                ),
                at=at,
            )
        if outcome.user_locked and outcome.status in ("wrong_code", "replayed"):
            tx.audit(
                AuditEvent(
                    "otp_user_locked",
                    "alert",
                    username=name,
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"failures": self.authenticator.lockout.lock_after},
                ),
                at=at,
            )

    # -- enrollment ---------------------------------------------------------------------------

    def prepare_app(
        self,
        username: str,
        *,
        params: OtpParameters | None = None,
        seed: bytes | None = None,
        label: str = "Authenticator app",
        serial: str | None = None,
    ) -> AppEnrollment:
        """A new credential's seed, serial and ``otpauth://`` URI, not stored yet."""
        params = params or OtpParameters.totp()
        if serial is not None:
            serial = self._check_serial(serial)
        elif params.kind == "hotp":
            serial = generate_serial("HOTP")
        return new_app_enrollment(
            issuer=self.issuer_name,
            account=username,
            params=params,
            seed=seed,
            label=label,
            serial=serial,
        )

    @staticmethod
    def _check_serial(serial: str) -> str:
        serial = serial.strip()
        if not serial or len(serial) > MAX_SERIAL_CHARS or not serial.isprintable():
            raise InvalidOtpParameters(
                f"A serial must be 1 to {MAX_SERIAL_CHARS} printable characters."
            )
        return serial

    def store_enrollment(
        self,
        username: str,
        enrollment: AppEnrollment,
        *,
        active: bool,
        by: str,
        origin: str | None = None,
        last_used: int = NEVER_USED,
    ) -> OtpCredentialInfo:
        """Store a prepared credential: pending until its first code, or active at once
        (an admin supplied the seed). ``last_used``: an HOTP fob's counter minus one."""
        now = self._clock.now()
        params = enrollment.params
        state: CredentialState = "active" if active else "pending"
        try:
            with self._store.write() as tx:
                user = tx.require_user(username)
                tx.add_otp_credentials(
                    [
                        NewOtpCredential(
                            serial=enrollment.serial,
                            user_id=user.id,
                            label=enrollment.label,
                            params=params,
                            state=state,
                            sealed_seed=seal_seed(self._box, enrollment.serial, enrollment.seed),
                            last_used=last_used,
                            created_at=now,
                            enrolled_by=by,
                        )
                    ]
                )
                tx.audit(
                    AuditEvent(
                        "otp_enrolled",
                        "info",
                        username=user.username,
                        factor=OTP_FACTOR,
                        origin=origin,
                        detail={
                            "serial": enrollment.serial,
                            "kind": params.kind,
                            "algorithm": params.algorithm,
                            "digits": params.digits,
                            "period": params.period,
                            "state": state,
                            "source": "admin secret" if active else "generated",
                            "by": by,
                        },
                    ),
                    at=now,
                )
        except OtpSerialTaken as exc:
            raise OtpConflict(
                f"A credential with serial {enrollment.serial} is already enrolled."
            ) from exc
        return self.credential(enrollment.serial)

    def enroll_app(
        self,
        username: str,
        *,
        by: str,
        origin: str | None = None,
        params: OtpParameters | None = None,
        seed: bytes | None = None,
        label: str = "Authenticator app",
        serial: str | None = None,
    ) -> tuple[OtpCredentialInfo, AppEnrollment]:
        """TOTP (or HOTP) for an app: a generated seed stays pending until confirmed; an
        admin-supplied seed is active at once."""
        enrollment = self.prepare_app(
            username, params=params, seed=seed, label=label, serial=serial
        )
        info = self.store_enrollment(
            username, enrollment, active=seed is not None, by=by, origin=origin
        )
        return info, enrollment

    def enroll_hotp(
        self,
        username: str,
        seed: bytes,
        *,
        by: str,
        origin: str | None = None,
        counter: int = 0,
        params: OtpParameters | None = None,
        label: str = "HOTP fob",
        serial: str | None = None,
    ) -> OtpCredentialInfo:
        """An HOTP fob whose seed the admin has; ``counter`` is the next one it shows."""
        params = params or OtpParameters.hotp()
        if params.kind != "hotp":
            raise InvalidOtpParameters("enroll_hotp enrolls HOTP credentials only.")
        if not 0 <= counter < MAX_STORED_COUNTER:
            raise InvalidOtpParameters("The HOTP counter must be between 0 and 2**63 - 2.")
        enrollment = self.prepare_app(
            username, params=params, seed=seed, label=label, serial=serial
        )
        return self.store_enrollment(
            username, enrollment, active=True, by=by, origin=origin, last_used=counter - 1
        )

    def confirm(
        self, serial: str, code: str, *, by: str, origin: str | None = None
    ) -> OtpCredentialInfo:
        """The first code of a pending app credential makes it active."""
        with self._store.write() as tx:
            credential = self._credential(tx, serial)
            if credential.state != "pending":
                raise OtpConflict(
                    f"Credential {serial} is {credential.state}; only a pending one is confirmed."
                )
            outcome = self.authenticator.confirm_enrollment(tx, credential, code)
            tx.audit(
                AuditEvent(
                    "otp_confirm",
                    "success" if outcome.accepted else "failure",
                    username=self._username_of(tx, credential),
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"serial": serial, "by": by}
                    | ({} if outcome.accepted else {"reason": outcome.status}),
                ),
                at=self._clock.now(),
            )
        # Leaving the block committed the audit row of a refusal too.
        if not outcome.accepted:
            if outcome.status == "replayed":
                raise OtpCodeRefused("That code was already used: type the next one.")
            if outcome.status == "malformed":
                raise OtpCodeRefused("A code is 6 or 8 digits.")
            raise OtpCodeRefused(
                "The code does not match: check the phone's clock and type the code shown now."
            )
        return self.credential(serial)

    # -- administration -------------------------------------------------------------------------

    def credential(self, serial: str) -> OtpCredentialInfo:
        infos = self._infos([serial])
        if not infos:
            raise NotFound(f"No OTP credential has the serial {serial!r}.")
        return infos[0]

    def _infos(self, serials: Sequence[str]) -> list[OtpCredentialInfo]:
        with self._store.read() as tx:
            return tx.credential_infos(serials)

    def credentials(self, username: str | None = None) -> list[OtpCredentialInfo]:
        """Every credential (oldest first), or one person's."""
        with self._store.read() as tx:
            user_id = None if username is None else tx.require_user(username).id
            return tx.all_credential_infos(user_id)

    def assign(
        self, serial: str, username: str, *, by: str, origin: str | None = None
    ) -> OtpCredentialInfo:
        """Hand a fob to a person (an imported fob, or one moving to someone else)."""
        now = self._clock.now()
        with self._store.write() as tx:
            credential = self._credential(tx, serial)
            user = tx.require_user(username)
            if credential.state == "revoked":
                raise OtpConflict(f"Credential {serial} is revoked.")
            previous = self._username_of(tx, credential)
            tx.assign_otp_credential(credential.id, user.id)
            tx.audit(
                AuditEvent(
                    "otp_assigned",
                    "info",
                    username=user.username,
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"serial": serial, "previous": previous, "by": by},
                ),
                at=now,
            )
        return self.credential(serial)

    def revoke(
        self, serial: str, *, by: str, origin: str | None = None
    ) -> Revoked[OtpCredentialInfo]:
        """Revoke a credential for good, and end the sessions it opened."""
        now = self._clock.now()
        with self._store.write() as tx:
            credential = self._credential(tx, serial)
            if not tx.revoke_otp_credential(credential.id, at=now):
                raise OtpConflict(f"Credential {serial} is already revoked.")
            tx.audit(
                AuditEvent(
                    "otp_revoked",
                    "info",
                    username=self._username_of(tx, credential),
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"serial": serial, "was": credential.state, "by": by},
                ),
                at=now,
            )
            ended = tx.end_sessions_of(
                credential_ref("otp", credential.serial),
                reason=CREDENTIAL_REVOKED,
                by=by,
                origin=origin,
                at=now,
            )
        return Revoked(info=self.credential(serial), sessions_ended=ended)

    def unlock(self, username: str, *, by: str, origin: str | None = None) -> list[str]:
        """Clear a person's failure count and unlock (and un-delay) their credentials;
        the serials that were locked."""
        now = self._clock.now()
        with self._store.write() as tx:
            user = tx.require_user(username)
            # Locked in the order a login locks them, so the two never deadlock.
            rows = tx.lock_user_credentials(user.id)
            locked = [serial for serial, state in rows if state == "locked"]
            before = tx.user_otp_failures(user.id)
            tx.unlock_user(user.id, at=now)
            tx.audit(
                AuditEvent(
                    "otp_unlocked",
                    "info",
                    username=user.username,
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={"serials": locked, "user_failures": before.count, "by": by},
                ),
                at=now,
            )
        return locked

    def resync(
        self, serial: str, first_code: str, second_code: str, *, by: str, origin: str | None = None
    ) -> ResyncResult:
        """Find two consecutive codes in the wide window and record the second."""
        failure: OtpResyncFailed | None = None
        found: ResyncResult | None = None
        with self._store.write() as tx:
            credential = self._credential(tx, serial)
            try:
                found = self.authenticator.resync(tx, credential, first_code, second_code)
            except OtpResyncFailed as exc:
                failure = exc
            detail: dict[str, Any] = {"serial": serial, "by": by}
            if found is not None:
                detail["drift"] = found.drift
            tx.audit(
                AuditEvent(
                    "otp_resync",
                    "success" if failure is None else "failure",
                    username=self._username_of(tx, credential),
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail=detail,
                ),
                at=self._clock.now(),
            )
        if failure is not None:
            raise failure
        assert found is not None  # noqa: S101
        return found

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _credential(tx: OtpTx, serial: str) -> OtpCredential:
        credential = tx.credential_by_serial(serial)
        if credential is None:
            raise NotFound(f"No OTP credential has the serial {serial!r}.")
        return credential

    @staticmethod
    def _username_of(tx: OtpTx, credential: OtpCredential) -> str | None:
        if credential.user_id is None:
            return None
        user = tx.get_user(credential.user_id)
        return user.username if user is not None else None
