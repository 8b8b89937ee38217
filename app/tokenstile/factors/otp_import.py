"""PSKC import as an OTP use case: every key of a file stored, or none.

The file is read against the database's serials and people in a read transaction (a large
file does not hold the write lock), then written in one write transaction that checks
both again, with its audit rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from tokenstile.clock import Clock
from tokenstile.factors.otp import SecretBox, seal_seed
from tokenstile.factors.otp_tx import (
    MAX_SERIAL_CHARS,
    OTP_FACTOR,
    NewOtpCredential,
    OtpCredentialInfo,
    OtpSerialTaken,
    OtpTx,
    OtpTxStore,
    PskcImportResult,
)
from tokenstile.factors.pskc_import import ImportProblem, PskcImport, import_pskc
from tokenstile.tokens.model import AuditEvent


class _Membership:
    """``text in this`` asks ``contains`` (a store query inside the caller's transaction)."""

    def __init__(self, contains: Callable[[str], bool]) -> None:
        self._contains = contains

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and self._contains(text)


class PskcImporter:
    """``infos``: the stored credentials with these serials, as ``OtpService`` reads them."""

    def __init__(
        self,
        store: OtpTxStore,
        *,
        box: SecretBox,
        clock: Clock,
        infos: Callable[[Sequence[str]], list[OtpCredentialInfo]],
    ) -> None:
        self._store = store
        self._box = box
        self._clock = clock
        self._infos = infos

    def run(
        self,
        data: bytes,
        *,
        by: str,
        origin: str | None = None,
        psk: bytes | None = None,
        assignments_csv: str | None = None,
    ) -> PskcImportResult:
        """Import every key of a PSKC file or none; assign from a ``serial,username`` CSV.

        The file is read against the database's serials and people (a read transaction,
        so a large file does not hold the write lock), then written in one transaction
        that checks both again: nothing is stored unless everything can be.
        """
        now = self._clock.now()
        with self._store.read() as tx:
            report = import_pskc(
                data,
                now=now,
                psk=psk,
                assignments_csv=assignments_csv,
                known_usernames=_Membership(tx.username_taken),
                existing_serials=_Membership(tx.serial_taken),
            )
        if report.ok:
            long_serials = [
                ImportProblem(
                    f"the serial is longer than {MAX_SERIAL_CHARS} characters",
                    package=key.package,
                    serial=key.serial[:MAX_SERIAL_CHARS] + "...",
                )
                for key in report.keys
                if len(key.serial) > MAX_SERIAL_CHARS
            ]
            if long_serials:
                report = dataclasses.replace(report, keys=(), problems=tuple(long_serials))
        if not report.ok:
            with self._store.write() as tx:
                self._audit_import_failure(tx, report, by=by, origin=origin, at=now)
            return PskcImportResult(report, ())
        try:
            with self._store.write() as tx:
                report = self._store_import(tx, report, by=by, origin=origin, at=now)
        except OtpSerialTaken:
            # A concurrent import or enrollment took a serial between check and insert.
            report = dataclasses.replace(
                report,
                keys=(),
                problems=(ImportProblem("a serial was enrolled meanwhile; nothing imported"),),
            )
            with self._store.write() as tx:
                self._audit_import_failure(tx, report, by=by, origin=origin, at=now)
            return PskcImportResult(report, ())
        if not report.ok:
            return PskcImportResult(report, ())
        serials = [key.serial for key in report.keys]
        return PskcImportResult(report, tuple(self._infos(serials)))

    def _store_import(
        self, tx: OtpTx, report: PskcImport, *, by: str, origin: str | None, at: float
    ) -> PskcImport:
        serials = [key.serial for key in report.keys]
        taken = tx.serials_taken(serials)
        wanted = sorted({key.username for key in report.keys if key.username is not None})
        user_ids = tx.user_ids(wanted)
        problems = [
            ImportProblem(
                "a credential with this serial is already enrolled",
                package=key.package,
                serial=key.serial,
            )
            for key in report.keys
            if key.serial in taken
        ] + [
            ImportProblem(
                f"there is no user {key.username!r}", package=key.package, serial=key.serial
            )
            for key in report.keys
            if key.username is not None and key.username not in user_ids
        ]
        if problems:
            failed = dataclasses.replace(report, keys=(), problems=tuple(problems))
            self._audit_import_failure(tx, failed, by=by, origin=origin, at=at)
            return failed
        tx.add_otp_credentials(
            [
                NewOtpCredential(
                    serial=key.serial,
                    user_id=user_ids[key.username] if key.username is not None else None,
                    label=key.label or key.serial,
                    params=key.params,
                    state="active",
                    sealed_seed=seal_seed(self._box, key.serial, key.seed),
                    last_used=key.last_used,
                    drift=key.drift,
                    not_before=key.not_before,
                    not_after=key.not_after,
                    manufacturer=key.manufacturer,
                    model=key.model,
                    issuer=key.issuer,
                    key_id=key.key_id,
                    created_at=at,
                    enrolled_by=by,
                )
                for key in report.keys
            ]
        )
        tx.audit(
            AuditEvent(
                "otp_import",
                "success",
                factor=OTP_FACTOR,
                origin=origin,
                detail={"packages": report.packages, "serials": serials, "by": by},
            ),
            at=at,
        )
        for key in report.keys:
            tx.audit(
                AuditEvent(
                    "otp_enrolled",
                    "info",
                    username=key.username,
                    factor=OTP_FACTOR,
                    origin=origin,
                    detail={
                        "serial": key.serial,
                        "kind": key.params.kind,
                        "algorithm": key.params.algorithm,
                        "digits": key.params.digits,
                        "period": key.params.period,
                        "state": "active",
                        "source": "pskc",
                        "manufacturer": key.manufacturer,
                        "by": by,
                    },
                ),
                at=at,
            )
        return report

    @staticmethod
    def _audit_import_failure(
        tx: OtpTx, report: PskcImport, *, by: str, origin: str | None, at: float
    ) -> None:
        tx.audit(
            AuditEvent(
                "otp_import",
                "failure",
                factor=OTP_FACTOR,
                origin=origin,
                detail={
                    "packages": report.packages,
                    "problems": [problem.describe() for problem in report.problems[:100]],
                    "by": by,
                },
            ),
            at=at,
        )
