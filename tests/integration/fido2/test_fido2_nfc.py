"""The software key tapped on the kiosk's reader through real pcscd: ``virtual-key create``
and ``virtual-key serve-nfc`` put it there, ``manage fido2 enroll --device nfc`` enrolls
it, and the kiosk's client signs in with it over HTTP."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import add_user, make_deployment
from tests.integration.pcsc.conftest import READERS, Pcscd, card_present, reader_lock, wait_until
from tokenstile.cli.main import main
from tokenstile.deployment import Deployment
from tokenstile.devices.fido2_client import SecurityKeyClient
from tokenstile.devices.fido2_errors import KeyWrongPin
from tokenstile.devices.security_keys import KeyFinder, NfcKeys
from tokenstile.server.app import create_app
from tokenstile.virtual.vpcd import serve_virtual_key_nfc

pytestmark = pytest.mark.pcsc

READER = 1
ISSUER = "https://auth.example"


@pytest.fixture
def key_on_reader(
    pcscd: Pcscd, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Path]:
    path = tmp_path / "key.json"
    assert main(["virtual-key", "create", str(path), "--pin", "4711"]) == 0
    assert "Created the software security key" in capsys.readouterr().out
    stop = threading.Event()
    with reader_lock(READER):
        assert wait_until(lambda: not card_present(READERS[READER]), 10)
        server = threading.Thread(
            target=serve_virtual_key_nfc, args=(path,), kwargs={"reader": READER, "stop": stop}
        )
        server.start()
        try:
            assert wait_until(lambda: card_present(READERS[READER]), 10)
            yield path
        finally:
            # python-fido2 leaves the connections it tried on the empty reader in reference
            # cycles; collect them while pcscd still runs (their __del__ talks to it).
            gc.collect()
            stop.set()
            server.join(10)
            wait_until(lambda: not card_present(READERS[READER]), 10)


@pytest.fixture
def deployment_db(tmp_path: Path) -> Iterator[tuple[Deployment, str]]:
    db = f"sqlite:///{tmp_path / 'kiosk.db'}"
    dep = make_deployment(db)
    yield dep, db
    dep.close()


def test_enroll_over_nfc_then_sign_in(
    key_on_reader: Path,
    deployment_db: tuple[Deployment, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployment, db = deployment_db
    add_user(deployment, "alice")
    monkeypatch.setenv("TOKENSTILE_ISSUER", ISSUER)
    code = main(
        ["manage", "--db", db, "fido2", "enroll", "alice", "--device", "nfc", "--pin", "4711"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Enrolled" in out
    assert "verification: pin" in out
    assert "Put the key on the NFC reader" in err  # the tap itself is the touch
    main(["manage", "--db", db, "fido2", "list", "alice"])
    assert "NFC security key" in capsys.readouterr().out

    finder = KeyFinder([NfcKeys(READERS[READER])])
    deadline = time.monotonic() + 10
    with TestClient(create_app(deployment), base_url=ISSUER) as http:
        begun = http.post("/login/webauthn/options").json()
        with (
            SecurityKeyClient.find(
                finder, origin=ISSUER, on_pin=lambda _: "0000", wait=10
            ) as client,
            pytest.raises(KeyWrongPin) as wrong,
        ):
            client.authenticate(begun["publicKey"])
        assert wrong.value.retries_left == 7
        with SecurityKeyClient.find(
            finder, origin=ISSUER, on_pin=lambda _: "4711", wait=10
        ) as client:
            credential = client.authenticate(begun["publicKey"])
        done = http.post(
            "/login/webauthn", json={"handle": begun["handle"], "credential": credential}
        )
    assert time.monotonic() < deadline + 30
    assert done.status_code == 200, done.text
    claims = jwt.decode(done.json()["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["amr"], claims["acr"]) == ("alice", ["swk", "pin", "mfa"], "phr")
