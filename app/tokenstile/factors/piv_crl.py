"""The issuing CA publishes revocation: ``CrlPublisher`` signs its CRL on demand.

The CRL lists the serials of the certificates the active issuing CA signed whose cards
are revoked in Tokenstile (read from the cards themselves: no table of its own), with
their revocation times; ``IssuingCa.crl`` signs it. A signed CRL is kept in memory for
``CRL_CACHE_SECONDS`` (per process), so a revocation made in another process shows
within that time; ``forget`` drops it at once (``PivService`` does on revoke).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cryptography import x509

from tokenstile.clock import Clock
from tokenstile.errors import NotFound
from tokenstile.factors.piv import load_certificate
from tokenstile.factors.piv_ca import IssuingCa, SecretBox
from tokenstile.factors.piv_port import PivStorage

CRL_CACHE_SECONDS = 60.0


class CrlPublisher:
    """The active issuing CA's current CRL, valid ``hours`` from when it is signed."""

    def __init__(
        self,
        storage: PivStorage,
        *,
        box: Callable[[], SecretBox],
        clock: Clock,
        hours: int,
        cache_seconds: float = CRL_CACHE_SECONDS,
    ) -> None:
        self._storage = storage
        self._box = box
        self._clock = clock
        self.hours = hours
        self.cache_seconds = cache_seconds
        self._crl: tuple[x509.CertificateRevocationList, float] | None = None
        self._lock = threading.Lock()

    def forget(self) -> None:
        self._crl = None

    def crl(self) -> x509.CertificateRevocationList:
        cached = self._crl
        if cached is not None and 0 <= time.monotonic() - cached[1] < self.cache_seconds:
            return cached[0]
        with self._lock:
            box = self._box()
            with self._storage.read() as tx:
                stored = tx.active_ca()
                revoked = tx.revoked_certificates()
            if stored is None:
                raise NotFound("There is no issuing CA yet.")
            ca = IssuingCa.unseal(stored.certificate, stored.sealed_key, box, stored.source)
            entries = []
            for der, revoked_at in revoked:
                certificate = load_certificate(der)
                if ca.issued(certificate):
                    entries.append((certificate.serial_number, revoked_at))
            crl = ca.crl(entries, now=self._clock.now(), hours=self.hours)
            self._crl = (crl, time.monotonic())
        return crl
