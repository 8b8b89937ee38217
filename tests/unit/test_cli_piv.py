"""The PIV command contract, run in-process: ``virtual-card``, ``manage piv|ca|trust``.

``piv enroll`` talks to a card through ``tokenstile.devices.pcsc.open_piv_card``; here
that hands out the virtual card in-process (the real pcscd path is in
``tests/integration/piv``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.unit.factors.piv_test_pki import make_ca
from tokenstile.cli.main import main
from tokenstile.devices import DirectConnection, PivCard
from tokenstile.factors.piv import fingerprint
from tokenstile.virtual.piv_card import PivCardApplet
from tokenstile.virtual.piv_provision import create_piv_card


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def manage(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "manage", "--db", db, *argv)


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert manage(capsys, url, "init")[0] == 0
    for name in ("alice", "bob"):
        assert manage(capsys, url, "user", "add", name)[0] == 0
    return url


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The card ``piv enroll`` finds: put a ``PivCardApplet`` under ``"card"``."""
    slot: dict[str, Any] = {"opened": 0}

    def open_piv_card(reader: str | None = None, *, exclusive: bool = False) -> PivCard:
        slot["opened"] += 1
        slot["reader"] = reader
        return PivCard(DirectConnection(slot["card"]))

    monkeypatch.setattr("tokenstile.devices.pcsc.open_piv_card", open_piv_card)
    return slot


def audit(capsys: pytest.CaptureFixture[str], db: str) -> list[dict[str, Any]]:
    out = manage(capsys, db, "audit", "--json")[1]
    return [json.loads(line) for line in out.splitlines()]


def card_fingerprint(applet: PivCardApplet) -> str:
    return fingerprint(PivCard(DirectConnection(applet)).read_certificate())


# -- virtual-card ------------------------------------------------------------------------------


def test_virtual_card_create_ec_and_rsa(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    code, out, err = run(capsys, "virtual-card", "create", str(path))
    assert (code, err) == (0, "")
    assert f"Created a virtual PIV card in {path}." in out
    assert "ECCP256 key" in out
    assert "the defaults, 123456 and 12345678" in out
    applet = PivCardApplet.from_file(path)
    assert card_fingerprint(applet) in out
    rsa = tmp_path / "rsa.json"
    code, out, _ = run(
        capsys, "virtual-card", "create", str(rsa), "--algorithm", "RSA2048", "--pin", "24681357"
    )
    assert code == 0
    assert "RSA2048 key" in out
    assert "as given" in out
    card = PivCard(DirectConnection(PivCardApplet.from_file(rsa)))
    card.verify_pin("24681357")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pin", "12ab56"], "6 to 8 digits"),
        (["--pin", "123"], "6 to 8 digits"),
        (["--puk", "1234"], "PUK is 6 to 8"),
    ],
)
def test_virtual_card_create_refuses_bad_pins(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    path = tmp_path / "card.json"
    code, _, err = run(capsys, "virtual-card", "create", str(path), *args)
    assert code == 1
    assert message in err
    assert err.startswith("tokenstile: ")
    assert not path.exists()


def test_virtual_card_create_never_overwrites_and_serve_needs_a_card(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "card.json"
    assert run(capsys, "virtual-card", "create", str(path))[0] == 0
    before = path.read_bytes()
    code, _, err = run(capsys, "virtual-card", "create", str(path))
    assert code == 1
    assert "exists already" in err
    assert path.read_bytes() == before
    code, _, err = run(capsys, "virtual-card", "serve", str(tmp_path / "none.json"))
    assert code == 1
    assert "create one first" in err
    with pytest.raises(SystemExit) as usage:
        main(["virtual-card", "serve", str(path), "--reader", "2"])
    assert usage.value.code == 2


# -- piv enroll / list / revoke ------------------------------------------------------------------


def test_enroll_the_cards_certificate_with_proof_of_the_key(
    capsys: pytest.CaptureFixture[str], db: str, reader: dict[str, Any]
) -> None:
    applet = create_piv_card(holder="Alice Example")
    reader["card"] = applet
    code, out, err = manage(
        capsys, db, "piv", "enroll", "alice", "--reader", "Virtual PCD 00 00", "--pin", "123456"
    )
    assert (code, err) == (0, "")
    assert reader["reader"] == "Virtual PCD 00 00"
    assert (
        "Enrolled a card for alice: the certificate on the card; it proved it holds the key." in out
    )
    fp = card_fingerprint(applet)
    assert f"fingerprint: {fp}" in out
    code, out, _ = manage(capsys, db, "piv", "list")
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["FINGERPRINT", "USER", "STATE", "KEY", "SOURCE"]
    assert lines[1].split()[:5] == [fp, "alice", "active", "ECCP256", "registered"]
    [enrolled] = [e for e in audit(capsys, db) if e["event"] == "piv_enrolled"]
    chuid = PivCard(DirectConnection(applet)).read_chuid().card_id
    assert enrolled["detail"]["card_guid"] == chuid
    assert enrolled["detail"]["by"] == "tokenstile manage"
    # Once more: already enrolled.
    code, _, err = manage(capsys, db, "piv", "enroll", "bob")
    assert code == 1
    assert "already enrolled for alice" in err


def test_a_wrong_pin_enrolls_nothing_and_says_how_many_tries_are_left(
    capsys: pytest.CaptureFixture[str], db: str, reader: dict[str, Any]
) -> None:
    reader["card"] = create_piv_card()
    code, _, err = manage(capsys, db, "piv", "enroll", "alice", "--pin", "000000")
    assert code == 1
    assert "Wrong PIN: 2 tries left before the card locks." in err
    assert manage(capsys, db, "piv", "list")[1].strip() == "No PIV cards."


def test_an_unknown_person_is_refused_before_the_card_is_touched(
    capsys: pytest.CaptureFixture[str], db: str, reader: dict[str, Any]
) -> None:
    reader["card"] = create_piv_card()
    code, _, err = manage(capsys, db, "piv", "enroll", "nobody", "--generate")
    assert code == 1
    assert "No user named 'nobody'" in err
    assert reader["opened"] == 0


def test_enroll_generate_issues_from_the_builtin_ca_and_writes_the_card(
    capsys: pytest.CaptureFixture[str], db: str, reader: dict[str, Any]
) -> None:
    applet = create_piv_card()
    old = card_fingerprint(applet)
    reader["card"] = applet
    code, out, err = manage(
        capsys, db, "piv", "enroll", "alice", "--generate", "--pin", "123456", "--new-pin", "246824"
    )
    assert (code, err) == (0, "")
    assert "new ECCP256 key, certificate from the issuing CA; it proved it holds the key" in out
    new = card_fingerprint(applet)
    assert new != old
    assert f"fingerprint: {new}" in out
    certificate = PivCard(DirectConnection(applet)).read_certificate()
    assert "Tokenstile PIV Issuing CA" in certificate.issuer.rfc4514_string()
    events = [e["event"] for e in audit(capsys, db)]
    assert events.count("piv_ca_created") == 1
    assert events.count("piv_enrolled") == 1
    listed = manage(capsys, db, "piv", "list", "alice")[1].splitlines()[1].split()
    assert listed[:5] == [new, "alice", "active", "ECCP256", "issued"]
    # ca show prints that CA (not a new one).
    code, out, err = manage(capsys, db, "ca", "show")
    assert (code, err) == (0, "")
    assert "Issuing CA: " in out
    assert "(builtin)" in out
    assert "-----BEGIN CERTIFICATE-----" in out
    assert "Trust anchors: none" in out


def test_enroll_generate_with_a_wrong_management_key_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    reader: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"sqlite:///{tmp_path / 'mk.db'}"
    manage(capsys, url, "init")
    manage(capsys, url, "user", "add", "alice")
    applet = create_piv_card()
    old = card_fingerprint(applet)
    reader["card"] = applet
    monkeypatch.setenv("TOKENSTILE_PIV_MANAGEMENT_KEY", "00" * 24)
    code, _, err = manage(capsys, url, "piv", "enroll", "alice", "--generate")
    assert code == 1
    assert "management key" in err.lower()
    assert card_fingerprint(applet) == old
    monkeypatch.setenv("TOKENSTILE_PIV_MANAGEMENT_KEY", "not hex")
    code, _, err = manage(capsys, url, "piv", "enroll", "alice", "--generate")
    assert code == 1
    assert "not hex" in err


def test_revoke_by_fingerprint_or_its_start(
    capsys: pytest.CaptureFixture[str], db: str, reader: dict[str, Any]
) -> None:
    applet = create_piv_card()
    reader["card"] = applet
    assert manage(capsys, db, "piv", "enroll", "alice")[0] == 0
    fp = card_fingerprint(applet)
    colons = ":".join(fp[i : i + 2] for i in range(0, 16, 2)).upper()
    code, out, _ = manage(capsys, db, "piv", "revoke", colons)
    assert (code, out.strip()) == (0, f"Revoked the card {fp} of alice; 0 sessions ended.")
    code, _, err = manage(capsys, db, "piv", "revoke", fp)
    assert code == 1
    assert "already revoked" in err
    code, _, err = manage(capsys, db, "piv", "revoke", "ffff" * 16)
    assert code == 1
    assert "No PIV card" in err
    code, _, err = manage(capsys, db, "piv", "revoke", "not-hex")
    assert code == 1
    assert "not a SHA-256 fingerprint" in err
    assert manage(capsys, db, "piv", "list")[1].splitlines()[1].split()[2] == "revoked"
    code, _, err = manage(capsys, db, "piv", "list", "nobody")
    assert code == 1
    assert "No user named" in err


# -- ca / trust ----------------------------------------------------------------------------------


def test_ca_show_creates_the_builtin_ca_once(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, first, err = manage(capsys, db, "ca", "show")
    assert code == 0
    assert "Created the built-in issuing CA." in err
    code, second, err = manage(capsys, db, "ca", "show")
    assert (code, err) == (0, "")
    assert first == second
    assert [e["event"] for e in audit(capsys, db)].count("piv_ca_created") == 1


def test_ca_import_and_trust_add(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, reader: dict[str, Any]
) -> None:
    corp = make_ca("Corp Issuing CA")
    cert = tmp_path / "ca.pem"
    key = tmp_path / "ca.key"
    cert.write_bytes(corp.pem())
    key.write_bytes(
        corp.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    manage(capsys, db, "ca", "show")  # a built-in CA first, which then retires
    code, out, err = manage(capsys, db, "ca", "import", str(cert), str(key))
    assert (code, err) == (0, "")
    assert "CN=Corp Issuing CA" in out
    assert "it issues from now on" in out
    code, _, err = manage(capsys, db, "ca", "import", str(cert), str(key))
    assert code == 1
    assert "imported before" in err
    out = manage(capsys, db, "ca", "show")[1]
    assert "Issuing CA: CN=Corp Issuing CA (imported)" in out
    assert "Retired CA (its cards still work)" in out
    # Cards issued now come from the imported CA.
    reader["card"] = create_piv_card()
    generate = ("--generate", "--pin", "123456", "--new-pin", "246824")
    assert manage(capsys, db, "piv", "enroll", "alice", *generate)[0] == 0
    issued = PivCard(DirectConnection(reader["card"])).read_certificate()
    assert issued.issuer == corp.certificate.subject

    root = make_ca("Partner Root")
    anchor = tmp_path / "partner.pem"
    anchor.write_bytes(root.pem())
    code, out, _ = manage(capsys, db, "trust", "add", str(anchor))
    assert code == 0
    assert out.startswith("Trusted CN=Partner Root")
    code, out, _ = manage(capsys, db, "trust", "add", str(anchor))
    assert code == 0
    assert out.startswith("Already trusted: CN=Partner Root")
    assert "Trust anchor (trust-anchor): CN=Partner Root" in manage(capsys, db, "ca", "show")[1]
    events = [e["event"] for e in audit(capsys, db)]
    assert events.count("piv_trust_anchor_added") == 1
    assert "piv_ca_imported" in events


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("leaf", "not a CA"),
        ("garbage", "no readable PEM certificate"),
        ("missing", "Cannot read the CA file"),
    ],
)
def test_trust_add_refuses_what_is_not_a_ca(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, what: str, message: str
) -> None:
    path = tmp_path / "x.pem"
    if what == "leaf":
        path.write_bytes(make_ca("Leaf", is_ca=False).pem())
    elif what == "garbage":
        path.write_bytes(b"hello")
    code, _, err = manage(capsys, db, "trust", "add", str(path))
    assert code == 1
    assert message in err


def test_ca_import_with_a_key_that_does_not_match(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    corp, other = make_ca("Corp"), make_ca("Other")
    cert, key = tmp_path / "ca.pem", tmp_path / "other.key"
    cert.write_bytes(corp.pem())
    key.write_bytes(
        other.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    code, _, err = manage(capsys, db, "ca", "import", str(cert), str(key))
    assert code == 1
    assert "does not belong" in err
    assert "piv_ca_imported" not in [e["event"] for e in audit(capsys, db)]
