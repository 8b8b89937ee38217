"""The revocation PKI of the PIV tests: a CA, its delegated OCSP responder, card
certificates that name an OCSP responder (AIA) and a CRL (distribution point), and OCSP
answers and CRLs made with ``cryptography`` (the unit tests) — the integration tests
have ``openssl ocsp`` answer instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from tests.unit.factors.piv_test_pki import DAY, Authority, PrivateKey, at, make_ca
from tokenstile.factors.piv import authentication_certificate_builder

OCSP_URL = "http://ocsp.test/"
CRL_URL = "http://crl.test/ca.crl"


def make_responder(
    ca: Authority, *, now: float, ocsp_signing: bool = True, name: str = "Test OCSP Responder"
) -> Authority:
    """A delegated responder certificate issued by ``ca`` (id-kp-OCSPSigning or not)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at(now - DAY))
        .not_valid_after(at(now + 30 * DAY))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    usage = ExtendedKeyUsageOID.OCSP_SIGNING if ocsp_signing else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return Authority(builder.sign(ca.key, hashes.SHA256()), key)


def make_card(
    ca: Authority,
    *,
    now: float,
    ocsp_url: str | None = OCSP_URL,
    crl_url: str | None = CRL_URL,
    name: str = "Alice Example",
) -> tuple[x509.Certificate, PrivateKey]:
    """A card's 9A certificate from ``ca`` (the profile the built-in CA issues) that names
    where its revocation is published."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = authentication_certificate_builder(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]),
        issuer_name=ca.name,
        public_key=key.public_key(),
        not_before=at(now - DAY),
        not_after=at(now + 365 * DAY),
    ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False)
    if ocsp_url is not None:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(ocsp_url),
                    )
                ]
            ),
            critical=False,
        )
    if crl_url is not None:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(crl_url)], None, None, None
                    )
                ]
            ),
            critical=False,
        )
    return builder.sign(ca.key, hashes.SHA256()), key


def ocsp_answer(
    certificate: x509.Certificate,
    ca: Authority,
    *,
    now: float,
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
    signer: Authority | None = None,
    include_signer: bool = True,
    nonce: bytes | None = None,
    this_update: float | None = None,
    next_update: float | None = 3600.0,
) -> bytes:
    """A DER OCSP response about ``certificate``, signed by ``signer`` (default the CA)."""
    signer = signer or ca
    this = now if this_update is None else this_update
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=certificate,
        issuer=ca.certificate,
        algorithm=hashes.SHA1(),  # noqa: S303 - the CertID hash responders use
        cert_status=status,
        this_update=at(this),
        next_update=at(this + next_update) if next_update is not None else None,
        revocation_time=at(now - 60) if status == ocsp.OCSPCertStatus.REVOKED else None,
        revocation_reason=None,
    )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signer.certificate)
    if signer is not ca and include_signer:
        builder = builder.certificates([signer.certificate])
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    response = builder.sign(signer.key, hashes.SHA256())
    return response.public_bytes(Encoding.DER)


def request_nonce(der: bytes) -> bytes | None:
    """The nonce of an OCSP request, as a responder reads it."""
    request = ocsp.load_der_ocsp_request(der)
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def make_crl(
    ca: Authority,
    revoked: Sequence[int] = (),
    *,
    now: float,
    next_update: float | None = 3600.0,
    signer: PrivateKey | None = None,
) -> bytes:
    builder = x509.CertificateRevocationListBuilder().issuer_name(ca.name).last_update(at(now))
    builder = builder.next_update(at(now + (next_update if next_update is not None else -1)))
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(at(now - 60))
            .build()
        )
    return builder.sign(signer or ca.key, hashes.SHA256()).public_bytes(Encoding.DER)


@dataclass
class FakeFetcher:
    """The fetch port in memory: what each URL answers, and what was asked."""

    answers: dict[str, object] = field(default_factory=dict)
    asked: list[tuple[str, bytes | None]] = field(default_factory=list)

    def _answer(self, url: str, body: bytes | None) -> bytes:
        from tokenstile.factors.piv_revocation import FetchFailed

        self.asked.append((url, body))
        answer = self.answers.get(url)
        if answer is None:
            raise FetchFailed(f"{url}: connection refused.")
        if callable(answer):
            result: bytes = answer(body)
            return result
        assert isinstance(answer, bytes)
        return answer

    def get(self, url: str) -> bytes:
        return self._answer(url, None)

    def post(self, url: str, body: bytes, *, content_type: str, accept: str) -> bytes:
        assert content_type == "application/ocsp-request"
        return self._answer(url, body)

    def read_file(self, path: str) -> bytes:
        return self._answer("file:" + path, None)


def revocation_ca(now: float, name: str = "Revocation Test CA") -> Authority:
    return make_ca(name, not_before=now - 30 * DAY, not_after=now + 3650 * DAY)
