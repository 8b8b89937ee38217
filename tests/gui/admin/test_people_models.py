"""A person's security keys in the console show their model from the server's FIDO metadata
(or the AAGUID of a model it does not list), and a key the metadata got suspended says why
(issue 16). One real token service with an MDS root for this module; the keys and the BLOB
are seeded in its database, the console reads them over the admin API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pytestqt.qtbot import QtBot

from tests.adversarial.test_fido2_metadata import MdsStandIn, entry
from tests.conftest import free_port, start_server
from tests.gui.admin.conftest import Service
from tests.gui.admin.test_people import search, select
from tests.integration.fido2.test_webauthn_store import enroll
from tests.unit.factors.webauthn_keys import RP, SOFTWARE_KEYS_ALLOWED, Kiosk
from tokenstile.config import load_settings
from tokenstile.deployment import Deployment
from tokenstile.factors.webauthn_service import WebAuthnService
from tokenstile.kiosk.admin.console import AdminWindow
from tokenstile.kiosk.admin.people import Credential
from tokenstile.store.webauthn_repository import SqlWebAuthnStore

MODEL = "Example Keys Security Key"


@pytest.fixture(scope="module")
def mds(tmp_path_factory: pytest.TempPathFactory) -> MdsStandIn:
    return MdsStandIn(tmp_path_factory.mktemp("mds"))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, mds: MdsStandIn) -> Iterator[Service]:
    """The console's service (this module's), with the test MDS root configured."""
    folder: Path = tmp_path_factory.mktemp("admin-service-mds")
    port = free_port()
    settings = load_settings(
        db=f"sqlite:///{folder / 'ts.db'}",
        kek_file=folder / "kek.key",
        port=port,
        issuer=f"http://127.0.0.1:{port}",
        webauthn_mds_root=mds.root_pem,
    )
    deployment = Deployment(settings)
    deployment.init()
    server = start_server(
        settings, folder / "server.log", {"TOKENSTILE_WEBAUTHN_MDS_ROOT": str(mds.root_pem)}
    )
    try:
        yield Service(server=server, settings=settings, deployment=deployment)
    finally:
        server.stop()
        deployment.close()


def test_keys_show_their_model_and_why_the_metadata_suspended_one(
    qtbot: QtBot, service: Service, mds: MdsStandIn, admin_window: AdminWindow
) -> None:
    name, _seed = service.add_person("keyholder")
    seeding = WebAuthnService(
        SqlWebAuthnStore(service.deployment.store),
        rp=RP,
        clock=service.deployment.clock,
        policy=SOFTWARE_KEYS_ALLOWED,
        mds_root=mds.root.public_bytes(serialization.Encoding.DER),
    )
    listed, unlisted = Kiosk(), Kiosk()
    enroll(seeding, listed, name)
    enroll(seeding, unlisted, name)
    listed_aaguid = str(uuid.UUID(bytes=listed.device.authenticator.aaguid))
    unlisted_aaguid = str(uuid.UUID(bytes=unlisted.device.authenticator.aaguid))
    pem = mds.root.public_bytes(serialization.Encoding.PEM)
    loaded = seeding.load_metadata(
        mds.blob(1, [entry(listed_aaguid, pem, "USER_VERIFICATION_BYPASS")]).read_bytes(),
        by="test",
    )
    assert len(loaded.suspended) == 1

    search(qtbot, admin_window, name)
    select(qtbot, admin_window, name)
    page = admin_window.people
    keys = [c for c in page.credentials.records() if isinstance(c, Credential)]
    assert [(k.kind, k.model, k.state) for k in keys if k.kind == "fido2"] == [
        ("fido2", MODEL, "suspended"),
        ("fido2", unlisted_aaguid, "active"),
    ]
    texts = [
        [page.credentials.item(row, column).text() for column in range(3)]
        for row in range(page.credentials.rowCount())
    ]
    assert [f"Security key: {MODEL}", "Blue key"] == texts[0][:2]
    assert texts[0][2] == (
        "suspended: the FIDO metadata reports USER_VERIFICATION_BYPASS for this model"
    )
    assert texts[1] == [f"Security key: {unlisted_aaguid}", "Blue key", "active"]
    # Still revocable for good: the button works for a suspended key too.
    page.credentials.selectRow(0)
    assert page.revoke_button.isEnabled()
