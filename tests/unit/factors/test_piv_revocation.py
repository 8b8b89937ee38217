"""The revocation checks of ``factors.piv_revocation`` over an in-memory fetch port: every
answer a responder or a CRL server could give, good and bad, under each policy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from tests.unit.factors.piv_revocation_pki import (
    CRL_URL,
    OCSP_URL,
    FakeFetcher,
    make_card,
    make_crl,
    make_responder,
    ocsp_answer,
    request_nonce,
    revocation_ca,
)
from tests.unit.factors.piv_test_pki import NOW, Authority
from tokenstile.errors import TokenstileError
from tokenstile.factors.piv import fingerprint
from tokenstile.factors.piv_revocation import (
    BUILTIN,
    NOT_CHECKED,
    RevocationChecker,
    RevocationPolicy,
    RevocationSettings,
    judge_ocsp,
)

GOOD = ocsp.OCSPCertStatus.GOOD
REVOKED = ocsp.OCSPCertStatus.REVOKED
UNKNOWN = ocsp.OCSPCertStatus.UNKNOWN


@pytest.fixture(scope="module")
def ca() -> Authority:
    return revocation_ca(NOW)


@pytest.fixture(scope="module")
def card(ca: Authority) -> x509.Certificate:
    return make_card(ca, now=NOW)[0]


def echo(
    certificate: x509.Certificate,
    ca: Authority,
    status: ocsp.OCSPCertStatus = GOOD,
    *,
    signer: Authority | None = None,
    include_signer: bool = True,
    this_update: float | None = None,
    next_update: float | None = 3600.0,
) -> Callable[[bytes | None], bytes]:
    """A responder that echoes the request's nonce."""

    def answer(body: bytes | None) -> bytes:
        assert body is not None
        return ocsp_answer(
            certificate,
            ca,
            now=NOW,
            status=status,
            nonce=request_nonce(body),
            signer=signer,
            include_signer=include_signer,
            this_update=this_update,
            next_update=next_update,
        )

    return answer


def checker(
    fetcher: FakeFetcher, ca: Authority, policy: RevocationPolicy = "require", *, nonce: bool = True
) -> RevocationChecker:
    return RevocationChecker(
        fetcher,
        RevocationSettings(anchor_policies={fingerprint(ca.certificate): policy}, nonce=nonce),
    )


def test_good_ocsp_answer_with_our_nonce(ca: Authority, card: x509.Certificate) -> None:
    fetcher = FakeFetcher({OCSP_URL: echo(card, ca)})
    verdict = checker(fetcher, ca).check(card, ca.certificate, now=NOW)
    assert (verdict.status, verdict.refused, verdict.source) == ("good", False, f"OCSP {OCSP_URL}")
    [(url, body)] = fetcher.asked
    assert url == OCSP_URL
    assert body is not None
    assert len(request_nonce(body) or b"") == 16


def test_revoked_ocsp_answer_refuses_under_every_policy_but_off(
    ca: Authority, card: x509.Certificate
) -> None:
    for policy in ("require", "prefer"):
        fetcher = FakeFetcher({OCSP_URL: echo(card, ca, REVOKED)})
        verdict = checker(fetcher, ca, policy).check(card, ca.certificate, now=NOW)
        assert (verdict.status, verdict.refused) == ("revoked", True)
        assert "revoked" in verdict.error().message
    fetcher = FakeFetcher({OCSP_URL: echo(card, ca, REVOKED)})
    verdict = checker(fetcher, ca, "off").check(card, ca.certificate, now=NOW)
    assert (verdict.status, verdict.refused, fetcher.asked) == ("off", False, [])


@pytest.mark.parametrize(("policy", "refused"), [("require", True), ("prefer", False)])
def test_no_fresh_answer_follows_the_policy(
    ca: Authority, card: x509.Certificate, policy: RevocationPolicy, refused: bool
) -> None:
    verdict = checker(FakeFetcher(), ca, policy).check(card, ca.certificate, now=NOW)
    assert verdict.status == "unavailable"
    assert verdict.refused is refused
    assert "connection refused" in verdict.message
    assert verdict.audit()["policy"] == policy


def _unavailable_because(
    ca: Authority, card: x509.Certificate, responder: object, crl: object = None
) -> str:
    answers = {OCSP_URL: responder}
    if crl is not None:
        answers[CRL_URL] = crl
    verdict = checker(FakeFetcher(answers), ca).check(card, ca.certificate, now=NOW)
    assert verdict.status == "unavailable", verdict
    assert verdict.refused
    return verdict.message


def test_unknown_is_no_answer(ca: Authority, card: x509.Certificate) -> None:
    assert "does not know" in _unavailable_because(ca, card, echo(card, ca, UNKNOWN))


def test_stale_answer_is_no_answer(ca: Authority, card: x509.Certificate) -> None:
    stale = echo(card, ca, this_update=NOW - 7200, next_update=3600.0)
    assert "stale" in _unavailable_because(ca, card, stale)


def test_answer_from_the_future_is_no_answer(ca: Authority, card: x509.Certificate) -> None:
    future = echo(card, ca, this_update=NOW + 3600)
    assert "future" in _unavailable_because(ca, card, future)


def test_wrong_responder_signature(ca: Authority, card: x509.Certificate) -> None:
    other = revocation_ca(NOW, "Another CA")
    # signed by a key that is neither the CA's nor one the CA authorised
    forged = echo(card, ca, signer=make_responder(other, now=NOW))
    assert "neither the issuer nor a responder" in _unavailable_because(ca, card, forged)


def test_delegated_responder_needs_the_ocsp_signing_usage(
    ca: Authority, card: x509.Certificate
) -> None:
    delegated = make_responder(ca, now=NOW)
    fetcher = FakeFetcher({OCSP_URL: echo(card, ca, signer=delegated)})
    assert checker(fetcher, ca).check(card, ca.certificate, now=NOW).status == "good"
    not_allowed = make_responder(ca, now=NOW, ocsp_signing=False)
    message = _unavailable_because(ca, card, echo(card, ca, signer=not_allowed))
    assert "authorised for OCSP signing" in message
    # the responder's certificate left out: nothing proves its authority
    hidden = echo(card, ca, signer=delegated, include_signer=False)
    assert "neither the issuer" in _unavailable_because(ca, card, hidden)


def test_tampered_signature(ca: Authority, card: x509.Certificate) -> None:
    def tampered(body: bytes | None) -> bytes:
        assert body is not None
        der = bytearray(ocsp_answer(card, ca, now=NOW, nonce=request_nonce(body)))
        der[-3] ^= 0x01  # inside the signature
        return bytes(der)

    message = _unavailable_because(ca, card, tampered)
    assert "signature" in message or "not an OCSP response" in message


def test_nonce_mismatch_and_replayed_answer(ca: Authority, card: x509.Certificate) -> None:
    wrong = ocsp_answer(card, ca, now=NOW, nonce=b"\x00" * 16)
    assert "nonce" in _unavailable_because(ca, card, wrong)
    # an old good answer replayed (a valid signature, fresh dates, but no nonce of ours)
    replayed = ocsp_answer(card, ca, now=NOW)
    assert "replayed" in _unavailable_because(ca, card, replayed)


def test_nonce_can_be_switched_off_for_responders_that_ignore_it(
    ca: Authority, card: x509.Certificate
) -> None:
    fetcher = FakeFetcher({OCSP_URL: ocsp_answer(card, ca, now=NOW)})
    verdict = checker(fetcher, ca, nonce=False).check(card, ca.certificate, now=NOW)
    assert verdict.status == "good"


def test_answer_about_another_certificate(ca: Authority, card: x509.Certificate) -> None:
    other, _ = make_card(ca, now=NOW, name="Bob")

    def about_bob(body: bytes | None) -> bytes:
        assert body is not None
        return ocsp_answer(other, ca, now=NOW, nonce=request_nonce(body))

    assert "not about this certificate" in _unavailable_because(ca, card, about_bob)


@pytest.mark.parametrize("garbage", [b"", b"\x30\x03\x0a\x01\x00", b"not DER at all" * 10])
def test_malformed_ocsp_and_crl_answers(
    ca: Authority, card: x509.Certificate, garbage: bytes
) -> None:
    message = _unavailable_because(ca, card, garbage, crl=garbage)
    assert "OCSP" in message
    assert "not a CRL" in message


def test_unsuccessful_ocsp_status(ca: Authority, card: x509.Certificate) -> None:
    refused = ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    ).public_bytes(Encoding.DER)
    assert "unauthorized" in _unavailable_because(ca, card, refused)


def test_crl_when_ocsp_is_down(ca: Authority, card: x509.Certificate) -> None:
    good = checker(FakeFetcher({CRL_URL: make_crl(ca, now=NOW)}), ca)
    assert good.check(card, ca.certificate, now=NOW).status == "good"
    revoked = checker(FakeFetcher({CRL_URL: make_crl(ca, [card.serial_number], now=NOW)}), ca)
    verdict = revoked.check(card, ca.certificate, now=NOW)
    assert (verdict.status, verdict.source) == ("revoked", f"CRL {CRL_URL}")


def test_bad_crls_are_no_answer(ca: Authority, card: x509.Certificate) -> None:
    other = revocation_ca(NOW, "Another CA")
    stale = make_crl(ca, now=NOW - 7200, next_update=3600.0)
    assert "stale" in _unavailable_because(ca, card, None, crl=stale)
    forged = make_crl(ca, now=NOW, signer=other.key)
    assert "signature" in _unavailable_because(ca, card, None, crl=forged)
    foreign = make_crl(other, now=NOW)
    assert "someone else" in _unavailable_because(ca, card, None, crl=foreign)


def test_answers_are_cached_until_next_update(ca: Authority, card: x509.Certificate) -> None:
    fetcher = FakeFetcher({OCSP_URL: echo(card, ca), CRL_URL: make_crl(ca, now=NOW)})
    check = checker(fetcher, ca)
    for _ in range(3):
        assert check.check(card, ca.certificate, now=NOW + 10).status == "good"
    assert len(fetcher.asked) == 1
    # past nextUpdate (an hour), the cached answer is stale: asked again
    del fetcher.answers[OCSP_URL]
    verdict = check.check(card, ca.certificate, now=NOW + 3601)
    assert verdict.status == "unavailable"  # the CRL of NOW is stale by then too
    assert [url for url, _ in fetcher.asked] == [OCSP_URL, OCSP_URL, CRL_URL]


def test_configured_sources_win_over_the_certificate(ca: Authority, card: x509.Certificate) -> None:
    anchor = fingerprint(ca.certificate)
    fetcher = FakeFetcher(
        {
            "http://configured.test/": echo(card, ca, REVOKED),
            "file:/etc/ca.crl": make_crl(ca, [card.serial_number], now=NOW),
        }
    )
    check = RevocationChecker(
        fetcher, RevocationSettings(ocsp_responders={anchor: "http://configured.test/"})
    )
    assert check.check(card, ca.certificate, now=NOW).status == "revoked"
    by_file = RevocationChecker(
        FakeFetcher({"file:/etc/ca.crl": make_crl(ca, [card.serial_number], now=NOW)}),
        RevocationSettings(
            crl_sources={anchor.upper(): "/etc/ca.crl"},
            ocsp_responders={anchor: "http://down.test/"},
        ),
    )
    assert by_file.check(card, ca.certificate, now=NOW).status == "revoked"


def test_certificate_naming_no_source(ca: Authority) -> None:
    bare, _ = make_card(ca, now=NOW, ocsp_url=None, crl_url=None)
    fetcher = FakeFetcher()
    verdict = checker(fetcher, ca).check(bare, ca.certificate, now=NOW)
    assert (verdict.status, verdict.refused, verdict.checked) == ("no_source", False, False)
    # a file: or ldap: URL named by a certificate is never fetched
    local, _ = make_card(ca, now=NOW, ocsp_url="file:///etc/passwd", crl_url="ldap://x/")
    assert checker(fetcher, ca).check(local, ca.certificate, now=NOW).status == "no_source"
    assert fetcher.asked == []


def test_which_certificates_are_checked(ca: Authority, card: x509.Certificate) -> None:
    check = checker(FakeFetcher(), ca)
    assert check.verdict(card, anchors=[], now=NOW) is NOT_CHECKED
    assert check.verdict(card, anchors=[], issuers=[ca.certificate], now=NOW) is BUILTIN
    assert check.verdict(card, anchors=[ca.certificate], now=NOW).status == "unavailable"


def test_settings_name_anchors_by_whole_fingerprint() -> None:
    with pytest.raises(TokenstileError):
        RevocationSettings(anchor_policies={"abcd": "off"})


def test_judge_ocsp_directly_refuses_a_missing_nonce(ca: Authority, card: x509.Certificate) -> None:
    with pytest.raises(TokenstileError, match="nonce"):
        judge_ocsp(
            ocsp_answer(card, ca, now=NOW),
            card,
            ca.certificate,
            nonce=b"n" * 16,
            now=NOW,
            source="x",
        )


def test_prefer_logs_what_it_let_in(
    ca: Authority, card: x509.Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="tokenstile.factors.piv_revocation"):
        verdict = checker(FakeFetcher(), ca, "prefer").check(card, ca.certificate, now=NOW)
    assert not verdict.refused
    assert "No fresh revocation answer (policy prefer)" in caplog.text


def test_a_pem_crl_is_read_too(ca: Authority, card: x509.Certificate) -> None:
    der = make_crl(ca, [card.serial_number], now=NOW)
    pem = x509.load_der_x509_crl(der).public_bytes(Encoding.PEM)
    verdict = checker(FakeFetcher({CRL_URL: pem}), ca).check(card, ca.certificate, now=NOW)
    assert verdict.status == "revoked"


def test_the_builtin_ca_signs_a_crl_of_its_revoked_certificates() -> None:
    from tokenstile.factors.piv_ca import IssuingCa

    builtin = IssuingCa.generate("Tokenstile PIV Issuing CA", now=NOW, days=3650)
    other = revocation_ca(NOW, "Another CA")
    mine = builtin.issue(
        make_card(other, now=NOW)[1].public_key(),
        common_name="Alice",
        username="alice",
        upn=None,
        now=NOW,
        days=365,
    )
    assert builtin.issued(mine)
    assert not builtin.issued(make_card(other, now=NOW)[0])
    crl = builtin.crl([(mine.serial_number, NOW - 5)], now=NOW, hours=24)
    public_key = builtin.certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(public_key)
    assert crl.issuer == builtin.certificate.subject
    assert crl.next_update_utc is not None
    assert crl.next_update_utc.timestamp() - NOW == 24 * 3600
    entry = crl.get_revoked_certificate_by_serial_number(mine.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc.timestamp() == NOW - 5
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    later = builtin.crl([], now=NOW + 1, hours=24)
    assert later.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > number
    # a relying party with nothing but the CRL and the CA certificate sees the card revoked
    verdict = RevocationChecker(
        FakeFetcher({"file:/ca.crl": crl.public_bytes(Encoding.DER)}),
        RevocationSettings(crl_sources={fingerprint(builtin.certificate): "/ca.crl"}),
    ).check(mine, builtin.certificate, now=NOW)
    assert verdict.status == "revoked"


# -- sources that fail ---------------------------------------------------------------------------


def retrying(fetcher: FakeFetcher, ca: Authority, seconds: float) -> RevocationChecker:
    return RevocationChecker(
        fetcher,
        RevocationSettings(
            anchor_policies={fingerprint(ca.certificate): "prefer"}, retry_seconds=seconds
        ),
    )


def test_a_source_that_failed_rests_for_the_retry_window(
    ca: Authority, card: x509.Certificate
) -> None:
    fetcher = FakeFetcher()
    check = retrying(fetcher, ca, 60)
    first = check.check(card, ca.certificate, now=NOW)
    assert (first.status, first.refused) == ("unavailable", False)  # prefer lets it in
    assert [url for url, _ in fetcher.asked] == [OCSP_URL, CRL_URL]
    within = check.check(card, ca.certificate, now=NOW + 59)
    assert (within.status, within.refused) == ("unavailable", False)
    assert "not asked again within 60 s" in within.message
    assert "connection refused" in within.message  # and why it failed then
    assert len(fetcher.asked) == 2
    # the sources are back after the window: asked again, and the answer counts
    fetcher.answers[OCSP_URL] = echo(card, ca)
    assert check.check(card, ca.certificate, now=NOW + 60).status == "good"
    assert [url for url, _ in fetcher.asked] == [OCSP_URL, CRL_URL, OCSP_URL]


def test_the_retry_window_is_per_source(ca: Authority, card: x509.Certificate) -> None:
    other, _ = make_card(ca, now=NOW, ocsp_url="http://other-ocsp.test/", crl_url=None, name="B")
    fetcher = FakeFetcher({"http://other-ocsp.test/": echo(other, ca)})
    check = retrying(fetcher, ca, 60)
    assert check.check(card, ca.certificate, now=NOW).status == "unavailable"
    assert check.check(other, ca.certificate, now=NOW + 1).status == "good"
    assert check.check(card, ca.certificate, now=NOW + 2).status == "unavailable"
    assert [url for url, _ in fetcher.asked] == [OCSP_URL, CRL_URL, "http://other-ocsp.test/"]


def test_an_unusable_answer_is_not_a_failed_source(ca: Authority, card: x509.Certificate) -> None:
    """An answer that came is about the certificate as often as about the source (here:
    unknown to the responder): the next check asks again."""
    fetcher = FakeFetcher({OCSP_URL: echo(card, ca, UNKNOWN)})
    check = retrying(fetcher, ca, 60)
    for later in (0, 1):
        assert check.check(card, ca.certificate, now=NOW + later).status == "unavailable"
    assert [url for url, _ in fetcher.asked].count(OCSP_URL) == 2


def test_retry_zero_asks_every_time(ca: Authority, card: x509.Certificate) -> None:
    fetcher = FakeFetcher()
    check = retrying(fetcher, ca, 0)
    for _ in range(3):
        assert check.check(card, ca.certificate, now=NOW).status == "unavailable"
    assert len(fetcher.asked) == 6
    with pytest.raises(TokenstileError, match="retry_seconds"):
        RevocationSettings(retry_seconds=-1)


def test_concurrent_checks_of_two_cards_share_one_crl_fetch(ca: Authority) -> None:
    cards = [make_card(ca, now=NOW, ocsp_url=None, name=n)[0] for n in ("A", "B", "C")]
    crl = make_crl(ca, [cards[1].serial_number], now=NOW)
    asked = threading.Event()
    release = threading.Event()

    def slow_crl(_body: bytes | None) -> bytes:
        asked.set()
        assert release.wait(30)
        return crl

    fetcher = FakeFetcher({CRL_URL: slow_crl})
    check = checker(fetcher, ca)
    verdicts: dict[int, str] = {}

    def run(index: int) -> None:
        verdicts[index] = check.check(cards[index], ca.certificate, now=NOW).status

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    threads[0].start()
    assert asked.wait(30)
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 30
    while check.waiting() < 2:
        assert time.monotonic() < deadline, "the other checks did not join the first fetch"
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(30)
    assert verdicts == {0: "good", 1: "revoked", 2: "good"}
    assert fetcher.asked == [(CRL_URL, None)]
