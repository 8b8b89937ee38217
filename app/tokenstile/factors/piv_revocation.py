"""Is a card certificate revoked? OCSP and CRL checks for certificates from trust anchors.

The logic only: building OCSP requests, judging OCSP answers and CRLs, the cache rules
and the per-anchor policy. The bytes come through a ``RevocationFetcher`` port (the
composition root wires ``tokenstile.fetch.http.HttpFetcher``; tests may hand in their
own), so this module stays pure: no HTTP client, no database.

For a certificate whose direct issuer is a trust anchor, in this order:

1. OCSP, from the anchor's configured responder or else the certificate's AIA
   (``id-ad-ocsp``, http/https only). The request carries a fresh 16-byte nonce (unless
   switched off); the answer must be ``successful``, signed by the issuer itself or by a
   delegated responder that the issuer certified for ``id-kp-OCSPSigning`` (RFC 6960
   section 4.2.2.2), echo the nonce, name this very certificate (serial and issuer
   hashes), and be fresh: ``thisUpdate`` not in the future, ``nextUpdate`` (when given)
   not passed. ``good`` and ``revoked`` are answers; ``unknown`` is not.
2. CRL, from the anchor's configured URL or file or else the certificate's CRL
   distribution points (http/https only): issued by the issuer, its signature valid,
   ``nextUpdate`` present and not passed. The certificate's serial on it means revoked.

Fresh answers are kept in memory (per process) until their ``nextUpdate``: a CRL per
source, an OCSP answer per certificate. A revoked answer is kept as well.

A source that could not be fetched (down, silent until the time limit, not 200, ...) is
not asked again for ``retry_seconds`` (``piv_revocation_retry_seconds``, 60 by default;
0 asks every time): within that time it gives no answer at once, and the policy decides as
for any missing answer. Otherwise anyone holding a public certificate that chains to an
anchor could make every login wait for a dead responder's time limit. Only failed fetches
are remembered: an answer that came but was unusable is about one certificate (unknown,
another certificate's, a wrong nonce) as often as about the source. Concurrent checks
share one fetch: of a CRL, per source; of an OCSP answer, per source and certificate (the
request names the certificate and carries the first check's nonce).

The decision, by the anchor's policy (``piv_revocation_policy``, overridden per anchor):

- ``require``: no fresh answer (source down, unusable answer, ``unknown``) refuses;
- ``prefer``: no fresh answer lets the certificate in (the verdict says so, for the log
  and the audit row);
- ``off``: nothing is fetched.

A revoked certificate is refused under ``require`` and ``prefer``. A certificate that
names no source, under an anchor with none configured, has nothing to check
(``no_source``): it is let in, since the CA publishes no revocation at all. Certificates
of the service's own issuing CAs are not checked here: their revocation is the card's
state in the database, which the login reads anyway (``builtin``).

The errors (under ``piv.PivError``): ``RevocationUnavailable`` (one source gave no usable
answer; ``FetchFailed`` when the bytes could not be fetched) stays inside the checker
and becomes part of the verdict's message; ``CertificateRevoked`` is what enrollment
raises for a refused verdict.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from tokenstile.factors.piv import FINGERPRINT_HEX, PivError, fingerprint, normalise_fingerprint
from tokenstile.factors.single_flight import SingleFlight

log = logging.getLogger(__name__)

RevocationPolicy = Literal["require", "prefer", "off"]
RevocationStatus = Literal[
    "good",  # a fresh answer says so
    "revoked",  # a fresh answer says so
    "unavailable",  # no fresh answer (down, unusable, unknown)
    "no_source",  # neither the certificate nor the settings name a source
    "off",  # the anchor's policy is off
    "not_checked",  # pinned or self-signed: no anchor, or no checker wired
    "builtin",  # issued by the service's own CA: the card's state decides
]

NONCE_BYTES = 16
RETRY_SECONDS = 60.0  # a source that failed is not asked again for this long
CLOCK_SKEW = 300.0  # seconds a thisUpdate may lie ahead of our clock
OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
_SCHEMES = ("http://", "https://")
_MAX_CACHED = 10_000
_ISSUER_KEYS = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)


class RevocationUnavailable(PivError):
    """No usable answer from one source (down, malformed, badly signed, stale, ...)."""

    code = "piv_revocation_unavailable"


class FetchFailed(RevocationUnavailable):
    """The fetch port could not get the bytes (refused, timed out, too big, not 200)."""

    code = "piv_revocation_fetch_failed"


class CertificateRevoked(PivError):
    """The certificate is refused by its revocation check (revoked, or no fresh answer
    under ``require``)."""

    code = "piv_certificate_revoked"


class RevocationFetcher(Protocol):
    """Bounded outbound fetches; every failure is a ``FetchFailed``."""

    def get(self, url: str) -> bytes:
        """The body of ``GET url`` (http/https only, status 200)."""
        ...

    def post(self, url: str, body: bytes, *, content_type: str, accept: str) -> bytes:
        """The body of ``POST url`` (http/https only, status 200)."""
        ...

    def read_file(self, path: str) -> bytes:
        """A local file named in the settings (never one named by a certificate)."""
        ...


def _anchor_key(text: str) -> str:
    key = normalise_fingerprint(text)
    if len(key) != FINGERPRINT_HEX:
        raise PivError(f"{text!r} is not a whole SHA-256 fingerprint (64 hex digits).")
    return key


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationSettings:
    """The policy and the configured sources; anchors are named by SHA-256 fingerprint."""

    policy: RevocationPolicy = "require"
    anchor_policies: Mapping[str, RevocationPolicy] = field(default_factory=dict)
    crl_sources: Mapping[str, str] = field(default_factory=dict)  # URL or file path
    ocsp_responders: Mapping[str, str] = field(default_factory=dict)  # URL
    nonce: bool = True
    retry_seconds: float = RETRY_SECONDS

    def __post_init__(self) -> None:
        if not self.retry_seconds >= 0:
            raise PivError(f"retry_seconds must be 0 or more, not {self.retry_seconds!r}.")
        for name in ("anchor_policies", "crl_sources", "ocsp_responders"):
            table: Mapping[str, Any] = getattr(self, name)
            normal = {_anchor_key(key): value for key, value in table.items()}
            object.__setattr__(self, name, normal)

    def policy_for(self, anchor_fingerprint: str) -> RevocationPolicy:
        return self.anchor_policies.get(anchor_fingerprint, self.policy)


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationVerdict:
    """What the check found, and whether the certificate may be used."""

    status: RevocationStatus
    policy: RevocationPolicy | None = None
    source: str | None = None
    message: str = ""

    @property
    def refused(self) -> bool:
        if self.status == "revoked":
            return True
        return self.status == "unavailable" and self.policy == "require"

    @property
    def checked(self) -> bool:
        """A fetch was due (what the audit row records)."""
        return self.status in ("good", "revoked", "unavailable")

    @property
    def login_status(self) -> Literal["revoked", "revocation_unavailable"]:
        return "revoked" if self.status == "revoked" else "revocation_unavailable"

    def audit(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"status": self.status, "policy": self.policy}
        if self.source is not None:
            detail["source"] = self.source
        if self.message:
            detail["message"] = self.message
        return detail

    def error(self) -> CertificateRevoked:
        if self.status == "revoked":
            return CertificateRevoked(f"The certificate is revoked ({self.source}).")
        return CertificateRevoked(
            "The certificate's revocation status could not be checked and the policy "
            f"requires it: {self.message}"
        )


NOT_CHECKED = RevocationVerdict(status="not_checked")
BUILTIN = RevocationVerdict(status="builtin", source="builtin")


@dataclass(frozen=True, slots=True)
class _Answer:
    revoked: bool
    until: float  # nextUpdate
    source: str


@dataclass(frozen=True, slots=True)
class _Failure:
    at: float  # the checker's clock when the fetch failed
    message: str


_Fetched = tuple[bytes | None, bytes]  # the nonce sent (OCSP), the body that came back


def _epoch(when: dt.datetime) -> float:
    return when.timestamp()


def _urls(certificate: x509.Certificate) -> tuple[list[str], list[str]]:
    """The http/https OCSP responders (AIA) and CRL distribution points it names."""
    ocsp_urls: list[str] = []
    crl_urls: list[str] = []
    extensions = certificate.extensions
    try:
        aia = extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        aia = None
    for description in aia or ():
        location = description.access_location
        if description.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            location, x509.UniformResourceIdentifier
        ):
            ocsp_urls.append(location.value)
    try:
        points = extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        points = None
    for point in points or ():
        crl_urls.extend(
            name.value
            for name in point.full_name or ()
            if isinstance(name, x509.UniformResourceIdentifier)
        )
    web = [u for u in ocsp_urls if u.lower().startswith(_SCHEMES)]
    return web, [u for u in crl_urls if u.lower().startswith(_SCHEMES)]


def verify_signature(
    key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> bool:
    """Whether ``key`` signed ``data`` (RSA PKCS#1 v1.5, ECDSA, EdDSA)."""
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def _key_hash(certificate: x509.Certificate) -> bytes:
    """SHA-1 of the subject public key bits (RFC 6960's KeyHash, RFC 5280's key id)."""
    return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def _valid_at(certificate: x509.Certificate, now: float) -> bool:
    start = _epoch(certificate.not_valid_before_utc)
    return start <= now <= _epoch(certificate.not_valid_after_utc)


def _directly_issued(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _responder_key(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, now: float
) -> object | None:
    """The key allowed to sign this answer: the issuer's own, or a delegated responder's
    (certified by the issuer for OCSP signing, valid now); None when neither."""
    name, key_hash = response.responder_name, response.responder_key_hash
    if name == issuer.subject or key_hash == _key_hash(issuer):
        return issuer.public_key()
    for candidate in response.certificates:
        if not (name == candidate.subject or key_hash == _key_hash(candidate)):
            continue
        if candidate.issuer != issuer.subject or not _directly_issued(candidate, issuer):
            continue
        try:
            usages = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in usages and _valid_at(candidate, now):
            return candidate.public_key()
    return None


def _same_certificate(
    single: ocsp.OCSPSingleResponse, certificate: x509.Certificate, issuer: x509.Certificate
) -> bool:
    """Whether an answer's CertID names ``certificate`` of ``issuer`` (the hashes made by
    ``OCSPRequestBuilder`` with the answer's own hash algorithm)."""
    if single.serial_number != certificate.serial_number:
        return False
    try:
        mine = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(certificate, issuer, single.hash_algorithm)
            .build()
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return (
        mine.issuer_name_hash == single.issuer_name_hash
        and mine.issuer_key_hash == single.issuer_key_hash
    )


def judge_ocsp(
    der: bytes,
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    *,
    nonce: bytes | None,
    now: float,
    source: str,
) -> _Answer:
    """The fresh answer in an OCSP response, else ``RevocationUnavailable`` saying why."""
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise RevocationUnavailable(f"{source}: not an OCSP response.") from exc
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise RevocationUnavailable(
            f"{source}: the responder answered {response.response_status.name.lower()}."
        )
    key = _responder_key(response, issuer, now)
    if key is None:
        raise RevocationUnavailable(
            f"{source}: the answer is signed by neither the issuer nor a responder it "
            "authorised for OCSP signing."
        )
    try:
        algorithm = response.signature_hash_algorithm
    except UnsupportedAlgorithm as exc:
        raise RevocationUnavailable(f"{source}: unsupported signature algorithm.") from exc
    if not verify_signature(key, response.signature, response.tbs_response_bytes, algorithm):
        raise RevocationUnavailable(f"{source}: the answer's signature does not verify.")
    if nonce is not None:
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if echoed != nonce:
            raise RevocationUnavailable(
                f"{source}: the answer does not carry our nonce (a replayed or cached answer)."
            )
    singles = [s for s in response.responses if _same_certificate(s, certificate, issuer)]
    if len(singles) != 1:
        raise RevocationUnavailable(f"{source}: the answer is not about this certificate.")
    [single] = singles
    this_update = _epoch(single.this_update_utc)
    if this_update > now + CLOCK_SKEW:
        raise RevocationUnavailable(f"{source}: the answer is dated in the future.")
    next_update = single.next_update_utc
    until = _epoch(next_update) if next_update is not None else now
    if next_update is not None and until <= now:
        raise RevocationUnavailable(f"{source}: the answer is stale (nextUpdate has passed).")
    if single.certificate_status == ocsp.OCSPCertStatus.UNKNOWN:
        raise RevocationUnavailable(f"{source}: the responder does not know the certificate.")
    return _Answer(single.certificate_status == ocsp.OCSPCertStatus.REVOKED, until, source)


def judge_crl(
    data: bytes, certificate: x509.Certificate, issuer: x509.Certificate, *, now: float, source: str
) -> tuple[x509.CertificateRevocationList, _Answer]:
    """The CRL's answer for ``certificate``, else ``RevocationUnavailable`` saying why."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            crl = x509.load_pem_x509_crl(data)
        else:
            crl = x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise RevocationUnavailable(f"{source}: not a CRL.") from exc
    _check_crl(crl, issuer, now=now, source=source)
    revoked = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    next_update = crl.next_update_utc
    assert next_update is not None  # noqa: S101 - _check_crl refuses a CRL without one
    return crl, _Answer(revoked is not None, _epoch(next_update), source)


def _check_crl(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, *, now: float, source: str
) -> None:
    if crl.issuer != issuer.subject:
        raise RevocationUnavailable(f"{source}: the CRL is issued by someone else.")
    key = issuer.public_key()
    valid = False
    if isinstance(key, _ISSUER_KEYS):
        try:
            valid = crl.is_signature_valid(key)
        except (TypeError, ValueError, UnsupportedAlgorithm):
            valid = False
    if not valid:
        raise RevocationUnavailable(f"{source}: the CRL's signature does not verify.")
    if _epoch(crl.last_update_utc) > now + CLOCK_SKEW:
        raise RevocationUnavailable(f"{source}: the CRL is dated in the future.")
    next_update = crl.next_update_utc
    if next_update is None or _epoch(next_update) <= now:
        raise RevocationUnavailable(f"{source}: the CRL is stale (nextUpdate has passed).")


def direct_issuer(
    certificate: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    """The candidate that signed ``certificate`` (never itself), or None."""
    for candidate in candidates:
        if candidate == certificate or candidate.subject != certificate.issuer:
            continue
        if _directly_issued(certificate, candidate):
            return candidate
    return None


class RevocationChecker:
    """Checks certificates against their anchors' OCSP responders and CRLs; keeps fresh
    answers until their ``nextUpdate`` (thread-safe, per process)."""

    def __init__(
        self, fetcher: RevocationFetcher, settings: RevocationSettings | None = None
    ) -> None:
        self._fetcher = fetcher
        self.settings = settings or RevocationSettings()
        self._lock = threading.Lock()
        self._ocsp: dict[str, _Answer] = {}  # certificate fingerprint -> answer
        self._crls: dict[tuple[str, str], x509.CertificateRevocationList] = {}
        self._failed: dict[str, _Failure] = {}  # source (URL or file) -> its last failure
        self._flights: SingleFlight[_Fetched] = SingleFlight()

    def verdict(
        self,
        certificate: x509.Certificate,
        *,
        anchors: Sequence[x509.Certificate],
        issuers: Sequence[x509.Certificate] = (),
        now: float,
    ) -> RevocationVerdict:
        """The verdict for ``certificate``, whose chain the caller has already checked."""
        if direct_issuer(certificate, issuers) is not None:
            return BUILTIN
        anchor = direct_issuer(certificate, anchors)
        if anchor is None:
            return NOT_CHECKED
        return self.check(certificate, anchor, now=now)

    def check(
        self, certificate: x509.Certificate, issuer: x509.Certificate, *, now: float
    ) -> RevocationVerdict:
        """The verdict for ``certificate`` issued by the trust anchor ``issuer``."""
        anchor = fingerprint(issuer)
        policy = self.settings.policy_for(anchor)
        if policy == "off":
            return RevocationVerdict(status="off", policy=policy)
        ocsp_urls, crl_urls = _urls(certificate)
        configured_ocsp = self.settings.ocsp_responders.get(anchor)
        configured_crl = self.settings.crl_sources.get(anchor)
        ocsp_sources = [configured_ocsp] if configured_ocsp else ocsp_urls
        crl_sources = [configured_crl] if configured_crl else crl_urls
        if not ocsp_sources and not crl_sources:
            return RevocationVerdict(status="no_source", policy=policy)
        problems: list[str] = []
        answer = self._cached_ocsp(certificate, now=now)
        if answer is None:
            answer = self._first_answer(
                ocsp_sources,
                problems,
                lambda url: self._ask_ocsp(certificate, issuer, url, now=now),
            )
        if answer is None:
            answer = self._first_answer(
                crl_sources,
                problems,
                lambda location: self._ask_crl(certificate, issuer, location, now=now),
            )
        if answer is None:
            message = " ".join(problems)
            log.warning("No fresh revocation answer (policy %s): %s", policy, message)
            return RevocationVerdict(status="unavailable", policy=policy, message=message)
        return RevocationVerdict(
            status="revoked" if answer.revoked else "good", policy=policy, source=answer.source
        )

    def _cached_ocsp(self, certificate: x509.Certificate, *, now: float) -> _Answer | None:
        with self._lock:
            cached = self._ocsp.get(fingerprint(certificate))
        return cached if cached is not None and cached.until > now else None

    @staticmethod
    def _first_answer(
        sources: Sequence[str], problems: list[str], ask: Callable[[str], _Answer]
    ) -> _Answer | None:
        """The answer of the first source that gives a usable one; why each source before
        it gave none goes into ``problems``."""
        for location in sources:
            try:
                return ask(location)
            except RevocationUnavailable as exc:
                problems.append(exc.message)
        return None

    def _ask_ocsp(
        self, certificate: x509.Certificate, issuer: x509.Certificate, url: str, *, now: float
    ) -> _Answer:
        key = fingerprint(certificate)

        def post() -> _Fetched:
            nonce = secrets.token_bytes(NONCE_BYTES) if self.settings.nonce else None
            builder = ocsp.OCSPRequestBuilder().add_certificate(
                certificate,
                issuer,
                hashes.SHA1(),  # noqa: S303 - the CertID's usual hash
            )
            if nonce is not None:
                builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
            request = builder.build().public_bytes(Encoding.DER)
            body = self._fetcher.post(url, request, content_type=OCSP_REQUEST, accept=OCSP_RESPONSE)
            return nonce, body

        # The same certificate's concurrent checks share one request (and its nonce).
        nonce, body = self._fetch(url, ("OCSP", url, key), post, now=now)
        answer = judge_ocsp(body, certificate, issuer, nonce=nonce, now=now, source=f"OCSP {url}")
        if answer.until > now:
            self._remember(self._ocsp, key, answer)
        return answer

    def _ask_crl(
        self, certificate: x509.Certificate, issuer: x509.Certificate, location: str, *, now: float
    ) -> _Answer:
        source = f"CRL {location}"
        cache_key = (location, fingerprint(issuer))
        with self._lock:
            crl = self._crls.get(cache_key)
        if crl is not None:
            try:
                _check_crl(crl, issuer, now=now, source=source)
            except RevocationUnavailable:
                pass  # expired: fetch it again
            else:
                revoked = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
                return _Answer(revoked is not None, now, source)

        def get() -> _Fetched:
            if location.lower().startswith(_SCHEMES):
                return None, self._fetcher.get(location)
            return None, self._fetcher.read_file(location)

        _, data = self._fetch(location, ("CRL", location), get, now=now)
        crl, answer = judge_crl(data, certificate, issuer, now=now, source=source)
        self._remember(self._crls, cache_key, crl)
        return answer

    def _fetch(
        self, source: str, flight: Hashable, fetch: Callable[[], _Fetched], *, now: float
    ) -> _Fetched:
        """``fetch`` from ``source``, unless the source failed less than ``retry_seconds``
        ago (then no answer at once); concurrent callers of one ``flight`` share one fetch;
        a failed fetch is remembered for the source."""
        with self._lock:
            failure = self._failed.get(source)
        retry = self.settings.retry_seconds
        if failure is not None and failure.at <= now < failure.at + retry:
            raise RevocationUnavailable(
                f"{failure.message} (not asked again within {retry:g} s of that failure)"
            )

        def attempt() -> _Fetched:
            try:
                fetched = fetch()
            except FetchFailed as exc:
                self._remember(self._failed, source, _Failure(now, exc.message))
                raise
            with self._lock:
                self._failed.pop(source, None)
            return fetched

        return self._flights.run(flight, attempt)

    def waiting(self) -> int:
        """How many checks are waiting on a fetch another check is making (for tests and
        diagnostics)."""
        return self._flights.waiting

    def _remember(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        with self._lock:
            if len(table) >= _MAX_CACHED:
                table.clear()
            table[key] = value

    def forget(self) -> None:
        """Drop every cached answer."""
        with self._lock:
            self._ocsp.clear()
            self._crls.clear()
            self._failed.clear()
