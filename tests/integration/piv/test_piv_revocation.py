"""PIV revocation against real sources: ``openssl ocsp`` as its own process, CRLs over
HTTP, the composition root's own HTTP adapter, a real database, and a real
``tokenstile server`` process for the login and for ``GET /pki/ca.crl`` (checked with
``openssl crl``).

Each bad answer is a clear refusal under ``require``: nothing enrolled, an audit row.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from tests.conftest import ServerProcess, add_user, make_deployment
from tests.integration.piv.revocation_servers import (
    HttpFiles,
    OpenSslResponder,
    SilentServer,
    http_files,
    index_line,
    openssl_responder,
    relay_to,
    silent_server,
    write_pem,
)
from tests.unit.factors.piv_revocation_pki import (
    make_card,
    make_crl,
    make_responder,
    request_nonce,
    revocation_ca,
)
from tests.unit.factors.piv_test_pki import Authority, PrivateKey, login_signature
from tokenstile.cli.main import main
from tokenstile.clock import FrozenClock
from tokenstile.composition import Services
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.factors.piv import fingerprint
from tokenstile.factors.piv_config import PivSettings
from tokenstile.factors.piv_revocation import CertificateRevoked, RevocationVerdict
from tokenstile.factors.piv_service import PivService
from tokenstile.protocol.jose import b64url_decode, b64url_encode
from tokenstile.protocol.piv_message import service_origin
from tokenstile.store.piv_repository import SqlPivStorage


@dataclass
class Pki:
    """A CA on disk, its delegated responder, and three cards: good, revoked, unknown."""

    dir: Path
    ca: Authority
    ca_pem: Path
    responder: tuple[Path, Path]
    alice: tuple[x509.Certificate, PrivateKey]  # good in the index
    bob: tuple[x509.Certificate, PrivateKey]  # revoked in the index
    carol: tuple[x509.Certificate, PrivateKey]  # not in the index: unknown

    @property
    def anchor(self) -> str:
        return fingerprint(self.ca.certificate)

    def index(self) -> str:
        return index_line(self.alice[0]) + index_line(self.bob[0], revoked_at=time.time() - 60)

    def der(self, who: str) -> bytes:
        certificate: x509.Certificate = getattr(self, who)[0]
        return certificate.public_bytes(Encoding.DER)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    now = time.time()
    ca = revocation_ca(now)
    ca_pem, _ = write_pem(tmp_path / "ca", ca)
    responder = write_pem(tmp_path / "responder", make_responder(ca, now=now))
    # The cards name no source of their own: the settings name the responder per anchor.
    cards = [make_card(ca, now=now, ocsp_url=None, crl_url=None, name=n) for n in "ABC"]
    return Pki(tmp_path, ca, ca_pem, responder, *cards)


@pytest.fixture
def responder(pki: Pki) -> Iterator[OpenSslResponder]:
    with openssl_responder(
        pki.dir / "ocsp", ca=pki.ca_pem, index=pki.index(), signer=pki.responder
    ) as running:
        yield running


@pytest.fixture
def files() -> Iterator[HttpFiles]:
    with http_files() as served:
        yield served


def deployment(
    tmp_path: Path, pki: Pki, *, ocsp_url: str | None = None, **overrides: Any
) -> Deployment:
    if ocsp_url is not None:
        overrides["piv_revocation_ocsp"] = {pki.anchor: ocsp_url}
    dep = make_deployment(
        f"sqlite:///{tmp_path / 'ts.db'}",
        FrozenClock(time.time()),
        piv_trust_anchors=[pki.ca_pem],
        **overrides,
    )
    for name in ("alice", "bob", "carol"):
        add_user(dep, name)
    return dep


def audit(dep: Deployment, event: str) -> list[dict[str, Any]]:
    return [e for e in dep.store.audit_entries() if e["event"] == event]


def refused_enrollment(dep: Deployment, who: str, der: bytes, match: str) -> dict[str, Any]:
    """Enrolling ``der`` is refused with ``match`` in the message: nothing enrolled, one
    audit row that says why."""
    piv = Services(dep).piv_service()
    with pytest.raises(CertificateRevoked, match=match):
        piv.register(who, der, by="test")
    assert piv.cards(who) == []
    [row] = audit(dep, "piv_enroll_refused")
    assert row["username"] == who
    assert [e for e in audit(dep, "piv_enrolled") if e["username"] == who] == []
    detail: dict[str, Any] = row["detail"]
    return detail


# -- openssl ocsp ----------------------------------------------------------------------------


def test_good_card_enrolls_and_signs_in_revoked_is_refused(
    tmp_path: Path, pki: Pki, responder: OpenSslResponder
) -> None:
    dep = deployment(tmp_path, pki, ocsp_url=responder.url)
    piv = Services(dep).piv_service()
    piv.register("alice", pki.der("alice"), by="test")
    [enrolled] = audit(dep, "piv_enrolled")
    assert enrolled["detail"]["revocation"]["status"] == "good"
    begun = piv.begin_login(pki.der("alice"), client_id="tokenstile-kiosk")
    assert begun.status == "accepted"

    detail = refused_enrollment(dep, "bob", pki.der("bob"), "revoked")
    assert detail["reason"] == "revoked"
    assert detail["revocation"]["source"] == f"OCSP {responder.url}"


def test_unknown_to_the_responder(tmp_path: Path, pki: Pki, responder: OpenSslResponder) -> None:
    dep = deployment(tmp_path, pki, ocsp_url=responder.url)
    detail = refused_enrollment(dep, "carol", pki.der("carol"), "could not be checked")
    assert "does not know" in detail["revocation"]["message"]
    # under prefer, the same card gets in, and the audit row says what was not checked
    lenient = deployment(
        tmp_path / "prefer", pki, ocsp_url=responder.url, piv_revocation_policy="prefer"
    )
    Services(lenient).piv_service().register("carol", pki.der("carol"), by="test")
    [row] = audit(lenient, "piv_enrolled")
    assert row["detail"]["revocation"]["status"] == "unavailable"
    assert row["detail"]["revocation"]["policy"] == "prefer"


def test_stale_answer(tmp_path: Path, pki: Pki) -> None:
    with openssl_responder(
        pki.dir / "ocsp1", ca=pki.ca_pem, index=pki.index(), signer=pki.responder, minutes=1
    ) as short:
        dep = deployment(tmp_path, pki, ocsp_url=short.url)
        assert isinstance(dep.clock, FrozenClock)
        dep.clock.advance(180)  # past the answer's nextUpdate (one minute)
        detail = refused_enrollment(dep, "alice", pki.der("alice"), "could not be checked")
    assert "stale" in detail["revocation"]["message"]


@pytest.mark.parametrize(
    ("policy", "enrolled"), [("require", False), ("prefer", True), ("off", True)]
)
def test_responder_down_under_each_policy(
    tmp_path: Path, pki: Pki, responder: OpenSslResponder, policy: str, enrolled: bool
) -> None:
    url = responder.url
    responder.stop()
    dep = deployment(
        tmp_path, pki, ocsp_url=url, piv_revocation_anchor_policies={pki.anchor: policy}
    )
    piv = Services(dep).piv_service()
    if not enrolled:
        detail = refused_enrollment(dep, "alice", pki.der("alice"), "could not be checked")
        assert detail["reason"] == "revocation_unavailable"
        return
    piv.register("alice", pki.der("alice"), by="test")
    [row] = audit(dep, "piv_enrolled")
    revocation = row["detail"].get("revocation")
    if policy == "off":
        assert revocation is None  # nothing was fetched
    else:
        assert (revocation["status"], revocation["policy"]) == ("unavailable", "prefer")


def test_wrong_responder_signature(tmp_path: Path, pki: Pki) -> None:
    now = time.time()
    stranger = write_pem(
        pki.dir / "stranger", make_responder(revocation_ca(now, "Other CA"), now=now)
    )
    unauthorised = write_pem(
        pki.dir / "unauthorised", make_responder(pki.ca, now=now, ocsp_signing=False)
    )
    for name, signer in (("stranger", stranger), ("unauthorised", unauthorised)):
        with openssl_responder(
            pki.dir / name, ca=pki.ca_pem, index=pki.index(), signer=signer
        ) as wrong:
            dep = deployment(tmp_path / name, pki, ocsp_url=wrong.url)
            detail = refused_enrollment(dep, "alice", pki.der("alice"), "could not be checked")
        assert "neither the issuer nor a responder" in detail["revocation"]["message"]


def test_replayed_answer_and_nonce_mismatch(
    tmp_path: Path, pki: Pki, responder: OpenSslResponder, files: HttpFiles
) -> None:
    forward = relay_to(responder.url)
    first: list[bytes] = []

    def replay(body: bytes) -> bytes:  # the first real answer, for every later request
        if not first:
            first.append(forward(body))
        return first[0]

    files.routes["/ocsp"] = replay
    dep = deployment(tmp_path, pki, ocsp_url=files.url("/ocsp"))
    Services(dep).piv_service().register("alice", pki.der("alice"), by="test")
    # a second process (no cache) gets the old answer back: its nonce is not ours
    again = Services(dep).piv_service()
    assert again.revocation is not None
    verdict = again.revocation.check(pki.alice[0], pki.ca.certificate, now=time.time())
    assert verdict.status == "unavailable"
    assert verdict.refused
    assert "nonce" in verdict.message


def test_answer_for_another_certificate(
    tmp_path: Path, pki: Pki, responder: OpenSslResponder, files: HttpFiles
) -> None:
    forward = relay_to(responder.url)

    def about_alice(body: bytes) -> bytes:  # asks about alice, with the caller's nonce
        builder = ocsp.OCSPRequestBuilder().add_certificate(
            pki.alice[0],
            pki.ca.certificate,
            hashes.SHA1(),  # noqa: S303
        )
        nonce = request_nonce(body)
        assert nonce is not None
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return forward(builder.build().public_bytes(Encoding.DER))

    files.routes["/ocsp"] = about_alice
    dep = deployment(tmp_path, pki, ocsp_url=files.url("/ocsp"))
    detail = refused_enrollment(dep, "bob", pki.der("bob"), "could not be checked")
    assert "not about this certificate" in detail["revocation"]["message"]


def test_malformed_answers(tmp_path: Path, pki: Pki, files: HttpFiles) -> None:
    files.routes["/ocsp"] = lambda _body: b"\x30\x82\xff\xff garbage"
    files.routes["/ca.crl"] = b"-----BEGIN X509 CRL-----\nbroken\n-----END X509 CRL-----\n"
    dep = deployment(
        tmp_path,
        pki,
        ocsp_url=files.url("/ocsp"),
        piv_revocation_crl={pki.anchor: files.url("/ca.crl")},
    )
    detail = refused_enrollment(dep, "alice", pki.der("alice"), "could not be checked")
    message = detail["revocation"]["message"]
    assert "not an OCSP response" in message
    assert "not a CRL" in message


# -- a dead responder -----------------------------------------------------------------------


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with silent_server() as server:
        yield server


def enrolled_without_a_check(dep: Deployment, pki: Pki, who: str) -> None:
    """``who``'s card, enrolled before its CA's sources went down (no revocation check)."""
    PivService(
        SqlPivStorage(dep.store),
        box=dep.kek,
        clock=dep.clock,
        settings=PivSettings(),
        file_anchors=[pki.ca.certificate],
    ).register(who, pki.der(who), by="test")


@pytest.mark.parametrize(
    ("policy", "status"), [("require", "revocation_unavailable"), ("prefer", "accepted")]
)
def test_a_dead_source_is_asked_once_per_retry_window(
    tmp_path: Path, pki: Pki, silent: SilentServer, policy: str, status: str
) -> None:
    """A stranger's challenges do not each wait for a dead responder's time limit: after
    one failed fetch of each source, the next challenges get no answer at once (and the
    policy decides, audited as always) until the retry window has passed."""
    dep = deployment(
        tmp_path,
        pki,
        ocsp_url=silent.url("/ocsp"),
        piv_revocation_crl={pki.anchor: silent.url("/ca.crl")},
        piv_revocation_policy=policy,
        piv_revocation_timeout=0.5,
        piv_revocation_retry_seconds=60,
    )
    assert isinstance(dep.clock, FrozenClock)
    enrolled_without_a_check(dep, pki, "alice")
    piv = Services(dep).piv_service()

    assert piv.begin_login(pki.der("alice"), client_id="tokenstile-kiosk").status == status
    assert silent.accepted == 2  # the responder, then the CRL: each waited its time limit
    for _ in range(5):
        dep.clock.advance(10)
        begun = piv.begin_login(pki.der("alice"), client_id="tokenstile-kiosk")
        assert begun.status == status
    assert silent.accepted == 2  # neither was asked again within 60 s
    rows = audit(dep, "piv_challenge")
    assert len(rows) == 6
    for row in rows:
        assert row["detail"]["revocation"]["status"] == "unavailable"
        assert row["detail"]["revocation"]["policy"] == policy
        assert "no answer within 0.5 s" in row["detail"]["revocation"]["message"]
    assert "not asked again within 60 s" in rows[-1]["detail"]["revocation"]["message"]
    assert "not asked again" not in rows[0]["detail"]["revocation"]["message"]

    dep.clock.advance(11)  # 61 s after the failure: both are asked again
    assert piv.begin_login(pki.der("alice"), client_id="tokenstile-kiosk").status == status
    assert silent.accepted == 4


def test_concurrent_checks_share_one_fetch_of_a_dead_responder(
    tmp_path: Path, pki: Pki, silent: SilentServer
) -> None:
    """Five checks of one certificate at once open one connection to the responder, not
    five (the retry window is off here: only the sharing keeps the count at one)."""
    dep = deployment(
        tmp_path,
        pki,
        ocsp_url=silent.url("/ocsp"),
        piv_revocation_timeout=60,
        piv_revocation_retry_seconds=0,
    )
    checker = Services(dep).piv_service().revocation
    assert checker is not None
    verdicts: list[RevocationVerdict] = []

    def check() -> None:
        verdicts.append(checker.check(pki.alice[0], pki.ca.certificate, now=time.time()))

    threads = [threading.Thread(target=check) for _ in range(5)]
    threads[0].start()
    silent.wait_for(1)  # the first check's request is on the wire, unanswered
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 30
    while checker.waiting() < 4:  # the other four wait on it
        assert time.monotonic() < deadline, "the other checks did not join the first fetch"
        time.sleep(0.01)
    silent.hang_up()  # the responder drops the connection without a word
    for thread in threads:
        thread.join(30)
    assert silent.accepted == 1
    assert [v.status for v in verdicts] == ["unavailable"] * 5
    assert all(v.refused for v in verdicts)
    # one failure, shared: the same words for each (ReadError or RemoteProtocolError)
    assert len({v.message for v in verdicts}) == 1
    assert silent.url("/ocsp") in verdicts[0].message
    # nothing in flight and no retry window: the next check asks again (hung up once it
    # has asked: a held connection would wait out the 60 s time limit)
    again = threading.Thread(target=check)
    again.start()
    silent.wait_for(2)
    silent.hang_up()
    again.join(30)
    assert not again.is_alive()
    assert silent.accepted == 2
    assert verdicts[-1].status == "unavailable"


# -- CRLs over HTTP --------------------------------------------------------------------------


def test_crl_from_the_distribution_point(tmp_path: Path, pki: Pki, files: HttpFiles) -> None:
    now = time.time()
    card, _ = make_card(pki.ca, now=now, ocsp_url=None, crl_url=files.url("/ca.crl"), name="D")
    revoked, _ = make_card(pki.ca, now=now, ocsp_url=None, crl_url=files.url("/ca.crl"), name="E")
    files.routes["/ca.crl"] = make_crl(pki.ca, [revoked.serial_number], now=now)
    dep = deployment(tmp_path, pki)
    piv = Services(dep).piv_service()
    piv.register("alice", card.public_bytes(Encoding.DER), by="test")
    with pytest.raises(CertificateRevoked, match="revoked"):
        piv.register("bob", revoked.public_bytes(Encoding.DER), by="test")
    assert files.hits == ["/ca.crl"]  # fetched once, kept until its nextUpdate
    assert piv.cards("bob") == []


# -- a real tokenstile server --------------------------------------------------------------------


def _login(server: ServerProcess, der: bytes, key: PrivateKey) -> httpx.Response:
    origin = service_origin(server.base_url)
    with server.client() as http:
        begun = http.post("/login/piv/challenge", json={"certificate": b64url_encode(der)})
        assert begun.status_code == 200, begun.text
        body = begun.json()
        signature = login_signature(key, b64url_decode(body["challenge"]), origin)
        return http.post(
            "/login/piv", json={"handle": body["handle"], "signature": b64url_encode(signature)}
        )


def test_login_through_a_server_process(
    pki: Pki, responder: OpenSslResponder, server_factory: Any, tmp_path: Path
) -> None:
    server: ServerProcess = server_factory(
        piv_trust_anchors=[str(pki.ca_pem)],
        piv_revocation_ocsp={pki.anchor: responder.url},
    )
    dep = Deployment(server.settings)
    try:
        for name in ("alice", "bob"):
            add_user(dep, name)
        # Both were enrolled before bob's card was revoked by its CA (no check then).
        enrolled_earlier = PivService(
            SqlPivStorage(dep.store),
            box=dep.kek,
            clock=dep.clock,
            settings=PivSettings(service_origin=service_origin(server.base_url)),
            file_anchors=[pki.ca.certificate],
        )
        enrolled_earlier.register("alice", pki.der("alice"), by="test")
        enrolled_earlier.register("bob", pki.der("bob"), by="test")

        good = _login(server, pki.der("alice"), pki.alice[1])
        assert good.status_code == 200, good.text
        assert good.json()["access_token"]
        refused = _login(server, pki.der("bob"), pki.bob[1])
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"

        challenges = {e["username"]: e for e in audit(dep, "piv_challenge")}
        assert challenges["alice"]["detail"]["revocation"]["status"] == "good"
        assert challenges["bob"]["outcome"] == "failure"
        assert challenges["bob"]["detail"]["reason"] == "revoked"
        assert challenges["bob"]["detail"]["revocation"]["status"] == "revoked"
        logins = {e["username"]: e["outcome"] for e in audit(dep, "piv_login")}
        assert logins == {"alice": "success", "bob": "failure"}
    finally:
        dep.close()


def test_a_dead_responder_does_not_hold_up_a_server_process(
    pki: Pki, silent: SilentServer, server_factory: Any
) -> None:
    """A stranger posts a public certificate that chains to an anchor, again and again: only
    the first challenge waits for the dead responder; it is not asked again meanwhile."""
    server: ServerProcess = server_factory(
        piv_trust_anchors=[str(pki.ca_pem)],
        piv_revocation_ocsp={pki.anchor: silent.url("/ocsp")},
        piv_revocation_timeout=1,
    )
    body = {"certificate": b64url_encode(pki.der("carol"))}
    with server.client() as http:
        for _ in range(8):
            begun = http.post("/login/piv/challenge", json=body)
            assert begun.status_code == 200, begun.text  # the refusal comes at /login/piv
    assert silent.accepted == 1
    dep = Deployment(server.settings)
    try:
        rows = audit(dep, "piv_challenge")
    finally:
        dep.close()
    assert len(rows) == 8
    assert {row["detail"]["reason"] for row in rows} == {"revocation_unavailable"}
    assert sum("not asked again" in row["detail"]["revocation"]["message"] for row in rows) == 7


def test_the_builtin_ca_publishes_its_crl(server_factory: Any, tmp_path: Path) -> None:
    server: ServerProcess = server_factory()
    with server.client() as http:
        assert http.get("/pki/ca.crl").status_code == 404  # no CA yet
    dep = Deployment(server.settings)
    try:
        add_user(dep, "alice")
        piv = Services(dep).piv_service()
        keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]
        issued = [piv.issue("alice", key.public_key(), by="test")[1] for key in keys]
        piv.revoke(fingerprint(issued[1]), by="test")
        ca_pem = tmp_path / "builtin-ca.pem"
        ca_pem.write_bytes(piv.issuing_ca(by="test").certificate.public_bytes(Encoding.PEM))
    finally:
        dep.close()

    with server.client() as http:
        answer = http.get("/pki/ca.crl")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pkix-crl"
    assert "max-age=" in answer.headers["cache-control"]
    assert "expires" in answer.headers
    crl_file = tmp_path / "ca.crl"
    crl_file.write_bytes(answer.content)
    # openssl checks the signature and lists the revoked serial (and only that one)
    checked = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(crl_file), "-CAfile", str(ca_pem),
         "-noout", "-text"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert "verify OK" in checked.stdout + checked.stderr
    listed = checked.stdout.replace(":", "").upper()
    assert f"{issued[1].serial_number:X}" in listed
    assert f"{issued[0].serial_number:X}" not in listed


def test_manage_ca_crl_writes_the_crl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    out = tmp_path / "out.crl"
    assert main(["manage", "--db", db, "init"]) == 0
    assert main(["manage", "--db", db, "ca", "crl", "--out", str(out)]) != 0
    assert "no issuing CA" in capsys.readouterr().err
    assert not out.exists()
    dep = Deployment(load_settings(db=db))
    try:
        add_user(dep, "alice")
        piv = Services(dep).piv_service()
        key = ec.generate_private_key(ec.SECP256R1())
        _, certificate = piv.issue("alice", key.public_key(), by="test")
        piv.revoke(fingerprint(certificate), by="test")
    finally:
        dep.close()
    assert main(["manage", "--db", db, "ca", "crl", "--out", str(out)]) == 0
    assert "(1 revoked)" in capsys.readouterr().out
    crl = x509.load_der_x509_crl(out.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None
    assert main(["manage", "--db", db, "ca", "crl"]) == 0
    pem = capsys.readouterr().out
    again = x509.load_pem_x509_crl(pem.encode())  # signed anew: same issuer, same list
    assert again.issuer == crl.issuer
    assert [r.serial_number for r in again] == [certificate.serial_number]
