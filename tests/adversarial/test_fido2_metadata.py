"""FIDO Metadata Service (MDS3, issue 16): a metadata BLOB signed by a test MDS root the
tests create, loaded with the real ``tokenstile manage fido2 metadata load`` and parsed by
python-fido2's ``fido2.mds3``; enrollment with the real ``manage fido2 enroll``, logins at
a real ``tokenstile server`` process.

- a model the metadata vouches for (its attestation root in the BLOB) signs in as
  ``hwk``/``phrh`` with no configured attestation roots;
- a model whose latest status is REVOKED, USER_VERIFICATION_BYPASS,
  ATTESTATION_KEY_COMPROMISE, USER_KEY_REMOTE_COMPROMISE or USER_KEY_PHYSICAL_COMPROMISE is
  not enrolled;
- a BLOB signed under another root, or not newer than the loaded one, is refused and
  nothing changes.
"""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from tests.adversarial.conftest import AttackedService, unverified_claims
from tests.adversarial.test_fido2_hardware_trust import (
    REFUSED,
    Run,
    enroll,
    login,
    manage,
    strict_client,
    vendor_key,
)
from tests.adversarial.test_fido2_origin import tokenstile
from tests.cli_in_process import run_tokenstile

REFUSED_STATUSES = (
    "REVOKED",
    "USER_VERIFICATION_BYPASS",
    "ATTESTATION_KEY_COMPROMISE",
    "USER_KEY_REMOTE_COMPROMISE",
    "USER_KEY_PHYSICAL_COMPROMISE",
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class MdsStandIn:
    """A stand-in for the FIDO Alliance's MDS: a root, and a signer it certified."""

    def __init__(self, path: Path) -> None:
        start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
        end = start + datetime.timedelta(days=3650)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test MDS Root")])
        self.root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .sign(self.root_key, hashes.SHA256())
        )
        self.signer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signer = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test MDS BLOB")]))
            .issuer_name(root_name)
            .public_key(self.signer_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .sign(self.root_key, hashes.SHA256())
        )
        self.root_pem = path / "mds-root.pem"
        self.root_pem.write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        self.folder = path

    def blob(self, no: int, entries: list[dict[str, Any]]) -> Path:
        """A BLOB (RS256 JWT, x5c the signer) with ``entries``, written to a file."""
        der = self.signer.public_bytes(serialization.Encoding.DER)
        header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
        payload = {
            "legalHeader": "Test metadata, not for use.",
            "no": no,
            "nextUpdate": (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30))
            .date()
            .isoformat(),
            "entries": entries,
        }
        message = ".".join(
            _b64url(json.dumps(part).encode()) for part in (header, payload)
        ).encode()
        signature = self.signer_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        path = self.folder / f"blob-{no}.jwt"
        path.write_bytes(message + b"." + _b64url(signature).encode())
        return path


def entry(aaguid: str, root_pem: bytes, status: str) -> dict[str, Any]:
    root = x509.load_pem_x509_certificate(root_pem).public_bytes(serialization.Encoding.DER)
    return {
        "aaguid": aaguid,
        "statusReports": [
            {"status": "FIDO_CERTIFIED_L1", "effectiveDate": "2024-01-01"},
            {"status": status, "effectiveDate": "2025-06-01"},
        ],
        "timeOfLastStatusChange": "2025-06-01",
        "metadataStatement": {
            "description": "Example Keys Security Key",
            "aaguid": aaguid,
            "authenticatorVersion": 1,
            "schema": 3,
            "upv": [{"major": 1, "minor": 1}],
            "attestationTypes": ["basic_full"],
            "userVerificationDetails": [[{"userVerificationMethod": "passcode_external"}]],
            "keyProtection": ["hardware", "secure_element"],
            "matcherProtection": ["on_chip"],
            "attachmentHint": ["external", "wired"],
            "tcDisplay": [],
            "attestationRootCertificates": [base64.b64encode(root).decode()],
        },
    }


def load(service: AttackedService, blob: Path, mds: MdsStandIn, run: Run = tokenstile) -> Any:
    return run(
        "manage", "--db", service.db, "fido2", "metadata", "load", str(blob),
        TOKENSTILE_WEBAUTHN_MDS_ROOT=str(mds.root_pem),
    )  # fmt: skip


def test_a_model_the_metadata_vouches_for_signs_in_as_hardware(
    attacked: Any, tmp_path: Path
) -> None:
    mds = MdsStandIn(tmp_path)
    key, vendor_root, aaguid = vendor_key(tmp_path / "alice.key", "Example Keys")
    service: AttackedService = attacked(
        webauthn_allow_software_keys=False, webauthn_mds_root=str(mds.root_pem)
    )
    client_id = strict_client(service)
    loaded = load(service, mds.blob(1, [entry(aaguid, vendor_root, "FIDO_CERTIFIED_L1")]), mds)
    assert loaded.returncode == 0, loaded.stderr
    assert "BLOB number 1 (1 entries" in loaded.stdout
    enrolled = enroll(service, key, **REFUSED, TOKENSTILE_WEBAUTHN_MDS_ROOT=str(mds.root_pem))
    assert enrolled.returncode == 0, enrolled.stderr
    [row] = [e for e in service.audit("fido2_enrolled") if e["outcome"] == "info"]
    assert row["detail"]["assurance"] == "attested"
    answer = login(service, key, client_id)
    assert answer.status_code == 200, answer.text
    claims = unverified_claims(answer.json()["access_token"])
    assert (claims["amr"][0], claims["acr"]) == ("hwk", "phrh")


def test_revoked_and_compromised_models_are_not_enrolled(attacked: Any, tmp_path: Path) -> None:
    mds = MdsStandIn(tmp_path)
    key, vendor_root, aaguid = vendor_key(tmp_path / "alice.key", "Example Keys")
    service: AttackedService = attacked(webauthn_mds_root=str(mds.root_pem))
    env = {**REFUSED, "TOKENSTILE_WEBAUTHN_MDS_ROOT": str(mds.root_pem)}
    # The commands run in this process (the test above runs them as processes).
    for no, status in enumerate(REFUSED_STATUSES, start=1):
        blob = mds.blob(no, [entry(aaguid, vendor_root, status)])
        loaded = load(service, blob, mds, run_tokenstile)
        assert loaded.returncode == 0, loaded.stderr
        refused = enroll(service, key, run=run_tokenstile, **env)
        assert refused.returncode != 0, status
        assert status in refused.stderr, refused.stderr
        assert "Example Keys Security Key" in refused.stderr
    assert "No security keys" in manage(service, "fido2", "list", run=run_tokenstile)
    reasons = [e["detail"]["reason"] for e in service.audit("fido2_enrolled")]
    assert reasons == ["authenticator_status"] * len(REFUSED_STATUSES)


def test_a_blob_from_another_root_or_an_old_number_is_refused(
    attacked: Any, tmp_path: Path
) -> None:
    mds = MdsStandIn(tmp_path)
    (tmp_path / "impostor").mkdir()
    impostor = MdsStandIn(tmp_path / "impostor")
    _key, vendor_root, aaguid = vendor_key(tmp_path / "alice.key", "Example Keys")
    service: AttackedService = attacked(webauthn_mds_root=str(mds.root_pem))
    entries = [entry(aaguid, vendor_root, "FIDO_CERTIFIED_L1")]
    # ``metadata load`` runs in this process (the first test runs it as a process).
    forged = load(service, impostor.blob(5, entries), mds, run_tokenstile)
    assert forged.returncode != 0
    assert "does not verify to the configured MDS root" in forged.stderr, forged.stderr
    assert service.audit("fido2_metadata_loaded") == []

    assert load(service, mds.blob(5, entries), mds, run_tokenstile).returncode == 0
    for old in (5, 4):
        again = load(service, mds.blob(old, entries), mds, run_tokenstile)
        assert again.returncode != 0
        assert "not newer than the loaded one (5)" in again.stderr, again.stderr
    assert [e["detail"]["no"] for e in service.audit("fido2_metadata_loaded")] == [5]

    # A BLOB whose payload was changed after signing.
    good = mds.blob(6, entries).read_bytes()
    head, payload, signature = good.split(b".")
    changed = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
    changed["no"] = 99
    tampered = tmp_path / "tampered.jwt"
    tampered.write_bytes(
        b".".join([head, _b64url(json.dumps(changed).encode()).encode(), signature])
    )
    refused = load(service, tampered, mds, run_tokenstile)
    assert refused.returncode != 0
    assert "does not verify" in refused.stderr
    assert [e["detail"]["no"] for e in service.audit("fido2_metadata_loaded")] == [5]
