"""FIDO metadata (MDS3) from a URL, and what a new BLOB does to keys already enrolled
(issue 16). The BLOBs are signed by the test MDS root of ``test_fido2_metadata`` and served
by a real HTTP server on loopback (``BlobServer``); they are loaded with the real
``tokenstile manage fido2 metadata load URL`` and by a real ``tokenstile server`` process
that refreshes from its ``webauthn_mds_url``; logins go through the real HTTP route.

- a BLOB that marks an enrolled key's model REVOKED suspends it (audited, shown with the
  model's name and why in ``fido2 list`` and the admin API), its next login is refused, and
  an admin cannot unsuspend it while the loaded BLOB says so;
- attacks on the URL change nothing: a rogue BLOB (signed under another root), an older or
  replayed BLOB, a BLOB over the size limit, junk, an HTTP error, a server that is not
  there, a plain-http URL off loopback; the server logs and audits a failed refresh once
  and keeps the loaded BLOB.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.conftest import AttackedService
from tests.adversarial.test_fido2_hardware_trust import REFUSED, Run, enroll, login, vendor_key
from tests.adversarial.test_fido2_metadata import MdsStandIn, entry
from tests.adversarial.test_fido2_origin import tokenstile
from tests.cli_in_process import run_tokenstile
from tests.conftest import free_port
from tokenstile.deployment import DEFAULT_ADMIN_CLIENT_ID, DEFAULT_KIOSK_CLIENT_ID

MODEL = "Example Keys Security Key"
WAIT = 60.0  # the longest a test waits for the server to do what it must


class BlobServer:
    """An HTTP server on loopback that serves what the test sets, and counts requests."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.requests = 0
        self._changed = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._changed:
                    body, status = owner.body, owner.status
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                with owner._changed:
                    owner.requests += 1
                    owner._changed.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/blob.jwt"

    def serve(self, body: bytes, status: int = 200) -> int:
        """Serve ``body`` from now on; the number of requests answered before."""
        with self._changed:
            self.body, self.status = body, status
            return self.requests

    def wait_requests(self, count: int) -> None:
        """Until ``count`` requests have been answered (a refresh fetches once a cycle)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.requests >= count, WAIT):
                raise AssertionError(f"only {self.requests} of {count} fetches came")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def blobs() -> Iterator[BlobServer]:
    server = BlobServer()
    yield server
    server.close()


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def load(
    service: AttackedService, source: str, mds: MdsStandIn, run: Run = tokenstile, **env: str
) -> Any:
    return run(
        "manage", "--db", service.db, "fido2", "metadata", "load", source,
        TOKENSTILE_WEBAUTHN_MDS_ROOT=str(mds.root_pem), **env,
    )  # fmt: skip


def listed(service: AttackedService, mds: MdsStandIn, run: Run = tokenstile) -> str:
    done = run(
        "manage", "--db", service.db, "fido2", "list", "alice",
        TOKENSTILE_WEBAUTHN_MDS_ROOT=str(mds.root_pem),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def credential_id(service: AttackedService) -> str:
    [row] = [e for e in service.audit("fido2_enrolled") if e["outcome"] == "info"]
    return str(row["detail"]["credential_id"])


def unsuspend(service: AttackedService, mds: MdsStandIn, cid: str, run: Run = tokenstile) -> Any:
    return run(
        "manage", "--db", service.db, "fido2", "unsuspend", "--", cid,
        TOKENSTILE_WEBAUTHN_MDS_ROOT=str(mds.root_pem),
    )  # fmt: skip


def loaded_numbers(service: AttackedService) -> list[int]:
    return [e["detail"]["no"] for e in service.audit("fido2_metadata_loaded")]


def test_a_revoking_blob_from_a_url_suspends_an_enrolled_key(
    attacked: Any, blobs: BlobServer, tmp_path: Path
) -> None:
    mds = MdsStandIn(tmp_path)
    key, vendor_root, aaguid = vendor_key(tmp_path / "alice.key", "Example Keys")
    service: AttackedService = attacked(webauthn_mds_root=str(mds.root_pem))
    blobs.serve(mds.blob(1, [entry(aaguid, vendor_root, "FIDO_CERTIFIED_L1")]).read_bytes())
    first = load(service, blobs.url, mds)
    assert first.returncode == 0, first.stderr
    assert "BLOB number 1 (1 entries" in first.stdout
    assert "0 enrolled credentials suspended" in first.stdout
    enrolled = enroll(service, key, **REFUSED, TOKENSTILE_WEBAUTHN_MDS_ROOT=str(mds.root_pem))
    assert enrolled.returncode == 0, enrolled.stderr
    cid = credential_id(service)
    signed_in = login(service, key)
    assert signed_in.status_code == 200, signed_in.text
    assert MODEL in listed(service, mds)

    blobs.serve(mds.blob(2, [entry(aaguid, vendor_root, "REVOKED")]).read_bytes())
    revoking = load(service, blobs.url, mds)
    assert revoking.returncode == 0, revoking.stderr
    assert "1 enrolled credentials suspended" in revoking.stdout
    assert f"Suspended {cid} of alice: the metadata reports REVOKED" in revoking.stdout
    [alert] = service.audit("fido2_credential_suspended")
    assert alert["outcome"] == "alert"
    assert alert["username"] == "alice"
    assert alert["detail"]["reason"] == "metadata_status"
    assert (alert["detail"]["status"], alert["detail"]["model"]) == ("REVOKED", MODEL)
    assert alert["detail"]["credential_id"] == cid
    assert alert["detail"]["sessions_ended"] == 1

    # The session the key opened is over: its refresh token is refused.
    with service.http() as http:
        refreshed = http.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": signed_in.json()["refresh_token"],
                "client_id": DEFAULT_KIOSK_CLIENT_ID,
            },
        )
    assert refreshed.status_code == 400, refreshed.text
    assert refreshed.json()["error"] == "invalid_grant"

    refused = login(service, key)
    assert refused.status_code != 200
    assert "suspended" in refused.text
    # Each command ran as a process above; from here the repeats run in this process.
    shown = listed(service, mds, run_tokenstile)
    assert "suspended:metadata_status(REVOKED)" in shown
    assert MODEL in shown

    # The admin API says the same (the console reads it).
    admin = service.login("root", client_id=DEFAULT_ADMIN_CLIENT_ID)["access_token"]
    with service.http(headers={"Authorization": f"Bearer {admin}"}) as http:
        answer = http.get("/admin/fido2/credentials", params={"username": "alice"})
    assert answer.status_code == 200, answer.text
    [info] = answer.json()["credentials"]
    assert (info["state"], info["state_reason"]) == ("suspended", "metadata_status")
    assert (info["model"], info["metadata_status"]) == (MODEL, "REVOKED")
    with service.http(headers={"Authorization": f"Bearer {admin}"}) as http:
        kept_by_api = http.post("/admin/fido2/unsuspend", json={"credential_id": cid})
    assert kept_by_api.status_code == 409, kept_by_api.text
    assert "reports REVOKED for this model" in kept_by_api.text

    # An admin cannot lift what the metadata says, and nothing changed by trying.
    kept = unsuspend(service, mds, cid, run_tokenstile)
    assert kept.returncode != 0
    assert "reports REVOKED for this model (Example Keys Security Key)" in kept.stderr
    assert "stays suspended" in kept.stderr
    assert service.audit("fido2_unsuspended") == []
    assert login(service, key).status_code != 200

    # Once the metadata no longer refuses the model, the admin decides.
    blobs.serve(mds.blob(3, [entry(aaguid, vendor_root, "FIDO_CERTIFIED_L2")]).read_bytes())
    cleared = load(service, blobs.url, mds, run_tokenstile)
    assert cleared.returncode == 0, cleared.stderr
    assert "0 enrolled credentials suspended" in cleared.stdout
    assert "suspended:metadata_status" in listed(service, mds, run_tokenstile)  # not by itself
    lifted = unsuspend(service, mds, cid)
    assert lifted.returncode == 0, lifted.stderr
    assert login(service, key).status_code == 200


def test_what_a_url_gives_is_verified_and_bounded_like_a_file(
    attacked: Any, blobs: BlobServer, tmp_path: Path
) -> None:
    mds = MdsStandIn(tmp_path)
    (tmp_path / "impostor").mkdir()
    impostor = MdsStandIn(tmp_path / "impostor")
    _key, vendor_root, aaguid = vendor_key(tmp_path / "alice.key", "Example Keys")
    service: AttackedService = attacked(webauthn_mds_root=str(mds.root_pem))
    entries = [entry(aaguid, vendor_root, "FIDO_CERTIFIED_L1")]
    # ``metadata load URL`` runs in this process (the test above runs it as a process).
    blobs.serve(impostor.blob(7, entries).read_bytes())
    rogue = load(service, blobs.url, mds, run_tokenstile)
    assert rogue.returncode != 0
    assert "does not verify to the configured MDS root" in rogue.stderr, rogue.stderr

    blobs.serve(b"<html>Sign in to continue</html>")
    junk = load(service, blobs.url, mds, run_tokenstile)
    assert junk.returncode != 0
    assert "does not verify" in junk.stderr
    assert "or does not parse" in junk.stderr

    good = mds.blob(5, entries).read_bytes()
    assert len(good) > 2048
    blobs.serve(good)
    too_big = load(
        service, blobs.url, mds, run_tokenstile, TOKENSTILE_WEBAUTHN_MDS_MAX_BYTES="2048"
    )
    assert too_big.returncode != 0
    assert "Cannot fetch the FIDO metadata" in too_big.stderr
    assert "over 2048 bytes" in too_big.stderr, too_big.stderr

    blobs.serve(good, status=404)
    missing = load(service, blobs.url, mds, run_tokenstile)
    assert missing.returncode != 0
    assert "answered HTTP 404" in missing.stderr, missing.stderr

    nobody = load(service, f"http://127.0.0.1:{free_port()}/blob.jwt", mds, run_tokenstile)
    assert nobody.returncode != 0
    assert "Cannot fetch the FIDO metadata" in nobody.stderr, nobody.stderr

    plain = load(service, "http://mds.example/blob.jwt", mds, run_tokenstile)
    assert plain.returncode != 0
    assert "https:// only" in plain.stderr, plain.stderr
    for error in (rogue, junk, too_big, missing, nobody, plain):
        assert "Traceback" not in error.stderr
    assert loaded_numbers(service) == []

    blobs.serve(good)
    assert load(service, blobs.url, mds, run_tokenstile).returncode == 0
    for old in (5, 4):
        blobs.serve(mds.blob(old, entries).read_bytes())
        replayed = load(service, blobs.url, mds, run_tokenstile)
        assert replayed.returncode != 0
        assert "not newer than the loaded one (5)" in replayed.stderr, replayed.stderr
    assert loaded_numbers(service) == [5]


def test_the_server_refreshes_its_metadata_and_survives_attacks_on_the_url(
    attacked: Any, blobs: BlobServer, tmp_path: Path
) -> None:
    mds = MdsStandIn(tmp_path)
    (tmp_path / "impostor").mkdir()
    impostor = MdsStandIn(tmp_path / "impostor")
    key, vendor_root, aaguid = vendor_key(tmp_path / "alice.key", "Example Keys")
    certified = [entry(aaguid, vendor_root, "FIDO_CERTIFIED_L1")]
    revoked = [entry(aaguid, vendor_root, "REVOKED")]
    blobs.serve(mds.blob(1, certified).read_bytes())
    service: AttackedService = attacked(
        webauthn_mds_root=str(mds.root_pem),
        webauthn_mds_url=blobs.url,
        webauthn_mds_refresh_hours=0.0002,  # the interval, injected: 0.72 s
        webauthn_mds_max_bytes=16384,
    )
    wait_until(lambda: loaded_numbers(service) == [1], "the BLOB loaded at start-up")
    enrolled = enroll(service, key, **REFUSED, TOKENSTILE_WEBAUTHN_MDS_ROOT=str(mds.root_pem))
    assert enrolled.returncode == 0, enrolled.stderr
    assert login(service, key).status_code == 200

    def failures() -> list[dict[str, Any]]:
        return service.audit("fido2_metadata_refresh_failed")

    def after_fetches(body: bytes, status: int = 200) -> None:
        """Serve ``body``; return once the server has fetched it and acted on it: the
        first fetch counted after the swap may have read the old body, the second read the
        new one, and a third comes only once the server finished with the second."""
        before = blobs.serve(body, status)
        blobs.wait_requests(before + 3)

    # A rogue BLOB, signed under another root, with a higher number and the key REVOKED.
    after_fetches(impostor.blob(9, revoked).read_bytes())
    after_fetches(impostor.blob(9, revoked).read_bytes())  # still there: audited once
    [rogue] = failures()
    assert rogue["outcome"] == "failure"
    assert rogue["detail"]["code"] == "fido2_metadata_refused"
    assert rogue["detail"]["url"] == blobs.url
    assert loaded_numbers(service) == [1]
    assert service.audit("fido2_credential_suspended") == []
    assert login(service, key).status_code == 200

    # The loaded BLOB again (a replay), and an older one: quietly nothing.
    after_fetches(mds.blob(1, revoked).read_bytes())
    after_fetches(mds.blob(0, revoked).read_bytes())
    assert len(failures()) == 1
    assert loaded_numbers(service) == [1]
    assert login(service, key).status_code == 200

    # Over the size limit, and then an HTTP error: each a failure of its own, audited.
    after_fetches(mds.blob(4, revoked).read_bytes() + b" " * 16384)
    after_fetches(b"", status=503)
    codes = [(f["detail"]["code"], f["detail"]["reason"]) for f in failures()]
    assert [c for c, _ in codes] == [
        "fido2_metadata_refused",
        "fido2_metadata_unavailable",
        "fido2_metadata_unavailable",
    ]
    assert "over 16384 bytes" in codes[1][1]
    assert "answered HTTP 503" in codes[2][1]
    assert loaded_numbers(service) == [1]
    assert login(service, key).status_code == 200

    # The real thing: a newer BLOB that revokes the model suspends the key.
    blobs.serve(mds.blob(2, revoked).read_bytes())
    wait_until(lambda: loaded_numbers(service) == [1, 2], "the revoking BLOB loaded")
    [alert] = service.audit("fido2_credential_suspended")
    assert alert["detail"]["reason"] == "metadata_status"
    assert (alert["detail"]["status"], alert["detail"]["model"]) == ("REVOKED", MODEL)
    assert alert["origin"] == "metadata refresh"
    refused = login(service, key)
    assert refused.status_code != 200
    assert "suspended" in refused.text

    log = service.server.log_path.read_text(errors="replace")
    assert f"FIDO metadata refresh from {blobs.url} failed; the loaded BLOB stays" in log
    assert "Traceback" not in log
