"""FIDO metadata (MDS3) BLOBs in-process: verification to the MDS root, the ``no`` rule,
the latest status report by date, and the settings that depend on the MDS root."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.adversarial.test_fido2_metadata import MdsStandIn, entry
from tests.unit.factors.test_webauthn_service import MemoryTransactions, MemoryTx
from tests.unit.factors.webauthn_keys import RP
from tokenstile.clock import FrozenClock
from tokenstile.config import load_settings
from tokenstile.errors import ConfigError
from tokenstile.factors.webauthn_metadata import (
    MetadataRefused,
    MetadataUnavailable,
    check_newer,
    model_metadata,
    parse_metadata,
    read_root,
)
from tokenstile.factors.webauthn_service import WebAuthnService
from tokenstile.fetch.mds import check_url, shown


def _root_der(mds: MdsStandIn) -> bytes:
    return mds.root.public_bytes(serialization.Encoding.DER)


def test_a_blob_verifies_to_its_root_only(tmp_path: Path) -> None:
    mds = MdsStandIn(tmp_path)
    aaguid = str(uuid.uuid4())
    vendor_pem = mds.root.public_bytes(serialization.Encoding.PEM)  # any certificate will do
    blob = mds.blob(3, [entry(aaguid, vendor_pem, "REVOKED")]).read_bytes()
    payload = parse_metadata(blob, _root_der(mds))
    assert payload.no == 3
    model = model_metadata(payload, aaguid)
    assert model is not None
    assert (model.status, model.refused, model.description) == (
        "REVOKED",
        True,
        "Example Keys Security Key",
    )
    assert model.roots == (
        x509.load_pem_x509_certificate(vendor_pem).public_bytes(serialization.Encoding.DER),
    )
    assert model_metadata(payload, str(uuid.uuid4())) is None
    (tmp_path / "other").mkdir()
    with pytest.raises(MetadataRefused, match="does not verify"):
        parse_metadata(blob, _root_der(MdsStandIn(tmp_path / "other")))
    with pytest.raises(MetadataRefused):
        parse_metadata(b"not a jwt", _root_der(mds))


def test_the_latest_status_is_the_one_that_counts(tmp_path: Path) -> None:
    mds = MdsStandIn(tmp_path)
    aaguid = str(uuid.uuid4())
    listed = entry(aaguid, mds.root.public_bytes(serialization.Encoding.PEM), "REVOKED")
    listed["statusReports"].reverse()  # REVOKED (2025) listed before FIDO_CERTIFIED (2024)
    payload = parse_metadata(mds.blob(1, [listed]).read_bytes(), _root_der(mds))
    model = model_metadata(payload, aaguid)
    assert model is not None
    assert model.status == "REVOKED"


def test_only_a_newer_blob_replaces_the_loaded_one(tmp_path: Path) -> None:
    mds = MdsStandIn(tmp_path)
    payload = parse_metadata(mds.blob(7, []).read_bytes(), _root_der(mds))
    check_newer(payload, None)
    check_newer(payload, 6)
    for loaded in (7, 8):
        with pytest.raises(MetadataRefused, match="not newer"):
            check_newer(payload, loaded)


def test_the_mds_root_setting(tmp_path: Path) -> None:
    mds = MdsStandIn(tmp_path)
    assert read_root(mds.root_pem) == _root_der(mds)
    with pytest.raises(ConfigError, match="Cannot read"):
        read_root(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(ConfigError, match="no PEM certificate"):
        read_root(tmp_path / "junk.pem")
    # An AAGUID allow-list may rest on the metadata instead of attestation roots.
    settings = load_settings(
        db=f"sqlite:///{tmp_path / 'ts.db'}",
        webauthn_aaguids=[str(uuid.uuid4())],
        webauthn_mds_root=mds.root_pem,
    )
    assert settings.webauthn_mds_root == mds.root_pem


def test_with_an_mds_root_keys_are_asked_for_their_attestation() -> None:
    def conveyance(mds_root: bytes | None) -> str:
        service = WebAuthnService(
            MemoryTransactions(MemoryTx()), rp=RP, clock=FrozenClock(0.0), mds_root=mds_root
        )
        options = service.begin_registration("alice", label="key", by="test")
        return str(options.public_key["attestation"])

    assert conveyance(None) == "none"
    assert conveyance(b"an MDS root") == "direct"


def test_the_mds_url_settings(tmp_path: Path) -> None:
    mds = MdsStandIn(tmp_path)
    db = f"sqlite:///{tmp_path / 'ts.db'}"
    settings = load_settings(
        db=db, webauthn_mds_root=mds.root_pem, webauthn_mds_url="https://mds3.example/?v=3"
    )
    assert (settings.webauthn_mds_url, settings.webauthn_mds_refresh_hours) == (
        "https://mds3.example/?v=3",
        24.0,
    )
    assert load_settings(db=db).webauthn_mds_url is None  # no refresh unless asked for
    with pytest.raises(ConfigError, match="webauthn_mds_root is not"):
        load_settings(db=db, webauthn_mds_url="https://mds3.example/")
    for url in ("http://mds3.example/", "ftp://mds3.example/", "mds3.example"):
        with pytest.raises(ConfigError, match="https"):
            load_settings(db=db, webauthn_mds_root=mds.root_pem, webauthn_mds_url=url)
    with pytest.raises(ConfigError, match="webauthn_mds_refresh_hours"):
        load_settings(db=db, webauthn_mds_refresh_hours=0)


def test_a_metadata_url_is_https_or_loopback() -> None:
    assert check_url("https://mds3.example/") == "https://mds3.example/"
    assert check_url("http://127.0.0.1:8080/blob") == "http://127.0.0.1:8080/blob"
    assert check_url("http://[::1]/blob") == "http://[::1]/blob"
    for url in ("http://mds3.example/", "file:///etc/passwd", "https://u:p@mds3.example/"):
        with pytest.raises(MetadataUnavailable):
            check_url(url)
    assert shown("https://mds3.example/blob?token=secret") == "https://mds3.example/blob"
