"""What the PIV use cases take from the deployment: ``PivSettings`` (from
``config.Settings``), the trust anchor files of the settings, the attestation policy
(its root files), and the ``CheckerCache``.

The certificate checks (trust anchors + issuing CAs) are read from storage and kept in a
``CheckerCache`` for ``CHECKER_CACHE_SECONDS``: a ``trust add`` made by another process
is seen within that time. The cache belongs to whoever builds ``PivService``: the
composition root builds one service (so one cache) per app or command, and may hand one
``CheckerCache`` to several services; a change made through a service forgets it at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from tokenstile.errors import ConfigError
from tokenstile.factors.piv import CertificateChecker, PivError
from tokenstile.factors.piv_attestation import AttestationPolicy, load_attestation_roots
from tokenstile.factors.piv_ca import load_trust_anchors
from tokenstile.factors.piv_login import MAX_PENDING_CHALLENGES
from tokenstile.factors.piv_revocation import RevocationSettings
from tokenstile.protocol.piv_message import service_origin

if TYPE_CHECKING:
    from tokenstile.config import Settings

CHECKER_CACHE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class PivSettings:
    """What the PIV use cases need from the settings (see ``config.Settings``)."""

    challenge_lifetime: float = 120.0
    max_pending_challenges: int = MAX_PENDING_CHALLENGES
    # The origin the card's signature must name: ``service_origin(issuer URL)``.
    service_origin: str | None = None
    map_upn: bool = False
    upn_domain: str | None = None
    certificate_days: int = 1095
    ca_days: int = 3650
    ca_name: str = "Tokenstile PIV Issuing CA"
    ca_crl_hours: int = 24

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
            ca_crl_hours=settings.piv_ca_crl_hours,
        )


def revocation_settings(settings: Settings) -> RevocationSettings:
    """The revocation policy and sources of ``settings`` (``piv_revocation_*``)."""
    try:
        return RevocationSettings(
            policy=settings.piv_revocation_policy,
            anchor_policies=settings.piv_revocation_anchor_policies,
            crl_sources=settings.piv_revocation_crl,
            ocsp_responders=settings.piv_revocation_ocsp,
            nonce=settings.piv_revocation_ocsp_nonce,
            retry_seconds=settings.piv_revocation_retry_seconds,
        )
    except PivError as exc:
        raise ConfigError(
            f"piv_revocation_*: an anchor is named by its SHA-256 fingerprint: {exc.message}"
        ) from exc


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


def attestation_policy(settings: Settings) -> AttestationPolicy:
    """The judge of card attestations: the roots of ``piv_attestation_roots`` (PEM files)
    and ``piv_require_attestation``; an unreadable root file is a ``ConfigError``."""
    roots: list[x509.Certificate] = []
    for path in settings.piv_attestation_roots:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"Cannot read the attestation root file {path}: {exc.strerror}."
            ) from exc
        try:
            roots.extend(load_attestation_roots(pem))
        except PivError as exc:
            raise ConfigError(f"The attestation root file {path}: {exc.message}") from exc
    return AttestationPolicy(roots=tuple(roots), require=settings.piv_require_attestation)


class CheckerCache:
    """The latest ``CertificateChecker`` and when it was built (monotonic time, not the
    injected clock); ``get`` rebuilds it after ``seconds``."""

    def __init__(self, seconds: float = CHECKER_CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._checker: tuple[CertificateChecker, float] | None = None
        self._lock = threading.Lock()

    def get(self, build: Callable[[], CertificateChecker]) -> CertificateChecker:
        cached = self._checker
        if cached is not None and 0 <= time.monotonic() - cached[1] < self.seconds:
            return cached[0]
        with self._lock:
            checker = build()
            self._checker = (checker, time.monotonic())
        return checker

    def forget(self) -> None:
        self._checker = None
