"""Attack (issue 16): a software key passing as a hardware security key.

``amr hwk`` and ``acr phrh`` say "a phishing-resistant hardware key". Before issue 16 a
software key file enrolled with ``manage fido2 enroll --device virtual:PATH`` signed in
with that stamp, and an AAGUID allow-list let any key claim an allowed model. Here the
project's software key and a key whose attestation chains to a test manufacturer's root
(the stand-in for a hardware vendor) are enrolled with the real ``tokenstile manage`` and
sign in at a real ``tokenstile server`` process:

- without ``webauthn_allow_software_keys`` the software key is refused at enrollment;
- with it, its logins carry ``swk`` and ``acr phr``, and an audience that asks for
  ``phrh`` refuses them;
- the key attested to a configured root signs in with ``hwk``/``phrh``;
- an allow-listed AAGUID claimed by a key whose attestation does not chain to a configured
  root is refused, and an allow-list without roots stops the server at start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.adversarial.conftest import AttackedService, unverified_claims
from tests.adversarial.test_fido2_origin import PIN, tokenstile
from tests.conftest import free_port
from tokenstile.devices.fido2_client import SecurityKeyClient
from tokenstile.virtual import KeyFile, VirtualAuthenticator
from tokenstile.virtual.attestation import AttestationIdentity

ORIGIN = "https://localhost"  # a loopback issuer: the RP ID is localhost
STRICT_AUDIENCE = "https://payroll.example"
ALLOWED = {"TOKENSTILE_WEBAUTHN_ALLOW_SOFTWARE_KEYS": "true"}
REFUSED = {"TOKENSTILE_WEBAUTHN_ALLOW_SOFTWARE_KEYS": "false"}


def software_key(path: Path) -> Path:
    created = tokenstile("virtual-key", "create", str(path), "--pin", PIN)
    assert created.returncode == 0, created.stderr
    return path


def vendor_key(path: Path, vendor: str) -> tuple[Path, bytes, str]:
    """A key whose attestation certificate a (test) manufacturer's root issued, as a
    hardware key's is: the key file, the root (PEM) and the key's AAGUID."""
    software_key(path)
    keys = KeyFile(path)
    state = keys.load()
    assert state is not None
    state.attestation = AttestationIdentity.create(
        state.aaguid,
        time.time(),
        maker=vendor,
        root_name=f"{vendor} Attestation Root",
        key_name=f"{vendor} Security Key",
    )
    keys.save(state)
    return path, state.attestation.root_certificate_pem.encode(), str(uuid.UUID(bytes=state.aaguid))


# ``run``: a real ``tokenstile`` process unless a test passes ``run_tokenstile`` (the same
# ``main`` in the test's process, for steps whose process is not the point).
Run = Callable[..., subprocess.CompletedProcess[str]]


def enroll(
    service: AttackedService, key: Path, *extra: str, run: Run = tokenstile, **env: str
) -> subprocess.CompletedProcess[str]:
    return run(
        "manage", "--db", service.db, "fido2", "enroll", "alice",
        "--device", f"virtual:{key}", "--pin", PIN, *extra, **env,
    )  # fmt: skip


def manage(service: AttackedService, *args: str, run: Run = tokenstile) -> str:
    done = run("manage", "--db", service.db, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def login(service: AttackedService, key: Path, client_id: str | None = None) -> Any:
    """A usernameless login at the real server, the key driven by python-fido2's client."""
    client = SecurityKeyClient(
        VirtualAuthenticator.from_file(key), origin=ORIGIN, on_pin=lambda _prompt: PIN
    )
    with service.http() as http:
        begun = http.post("/login/webauthn/options").json()
        body: dict[str, Any] = {
            "handle": begun["handle"],
            "credential": client.authenticate(begun["publicKey"]),
        }
        if client_id is not None:
            body["client_id"] = client_id
        return http.post("/login/webauthn", json=body)


def strict_client(service: AttackedService) -> str:
    """A kiosk client whose audience asks for a phishing-resistant hardware key (set up
    before the server's first login: it caches the audience policies)."""
    manage(service, "audience", "set", STRICT_AUDIENCE, "--min-acr", "phrh")
    added = manage(service, "client", "add", "payroll-kiosk", "--kind", "kiosk",
                   "--audience", STRICT_AUDIENCE)  # fmt: skip
    return added.split("client_id:")[1].split()[0]


def enrollments(service: AttackedService) -> list[dict[str, Any]]:
    return service.audit("fido2_enrolled")


def test_a_software_key_is_refused_unless_the_deployment_allows_it(
    attacked: Any, tmp_path: Path
) -> None:
    service: AttackedService = attacked(webauthn_allow_software_keys=False)
    key = software_key(tmp_path / "alice.key")

    refused = enroll(service, key, **REFUSED)
    assert refused.returncode != 0
    assert "software key" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    # Not even an admin's word makes a key that says it is software into hardware.
    vouched = enroll(service, key, "--vouch", **REFUSED)
    assert vouched.returncode != 0
    assert "software key" in vouched.stderr, vouched.stderr
    assert "No security keys" in manage(service, "fido2", "list")
    failures = [e for e in enrollments(service) if e["outcome"] == "failure"]
    assert [e["detail"]["reason"] for e in failures] == ["software_key", "software_key"]
    answer = login(service, key)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_grant"


def test_an_allowed_software_key_signs_in_as_swk_and_strict_audiences_refuse_it(
    attacked: Any, tmp_path: Path
) -> None:
    service: AttackedService = attacked(webauthn_allow_software_keys=True)
    strict = strict_client(service)  # before the server first reads the audience policies
    key = software_key(tmp_path / "alice.key")
    enrolled = enroll(service, key, **ALLOWED)
    assert enrolled.returncode == 0, enrolled.stderr
    [row] = [e for e in enrollments(service) if e["outcome"] == "info"]
    assert row["detail"]["assurance"] == "software"

    answer = login(service, key)
    assert answer.status_code == 200, answer.text
    claims = unverified_claims(answer.json()["access_token"])
    assert claims["amr"] == ["swk", "pin", "mfa"]
    assert claims["acr"] == "phr"
    assert "hwk" not in claims["amr"]

    refused = login(service, key, strict)
    assert refused.status_code in (400, 403), refused.text
    assert "not verified as hardware" in refused.text
    assert "phrh" in refused.text
    assert "access_token" not in refused.json()


def test_a_key_attested_to_a_configured_root_signs_in_as_hwk_phrh(
    attacked: Any, tmp_path: Path
) -> None:
    key, root_pem, _aaguid = vendor_key(tmp_path / "alice.key", "Example Keys")
    roots = tmp_path / "roots.pem"
    roots.write_bytes(root_pem)
    # No software keys allowed: this key's attestation says it is not one.
    service: AttackedService = attacked(
        webauthn_allow_software_keys=False, webauthn_attestation_roots=[str(roots)]
    )
    enrolled = enroll(service, key, **REFUSED, TOKENSTILE_WEBAUTHN_ATTESTATION_ROOTS=f'["{roots}"]')
    assert enrolled.returncode == 0, enrolled.stderr
    [row] = [e for e in enrollments(service) if e["outcome"] == "info"]
    assert row["detail"]["assurance"] == "attested"
    assert row["detail"]["attestation_trusted"] is True

    client_id = strict_client(service)
    answer = login(service, key, client_id)
    assert answer.status_code == 200, answer.text
    claims = unverified_claims(answer.json()["access_token"])
    assert claims["amr"] == ["hwk", "pin", "mfa"]
    assert claims["acr"] == "phrh"


def test_an_unverified_key_an_admin_vouched_for_signs_in_as_hwk(
    attacked: Any, tmp_path: Path
) -> None:
    # A vendor nobody configured: its attestation verifies but chains to no root here.
    key, _root, _aaguid = vendor_key(tmp_path / "alice.key", "Unknown Vendor")
    service: AttackedService = attacked(webauthn_allow_software_keys=False)
    enrolled = enroll(service, key, "--vouch", **REFUSED)
    assert enrolled.returncode == 0, enrolled.stderr
    [row] = [e for e in enrollments(service) if e["outcome"] == "info"]
    assert (row["detail"]["assurance"], row["detail"]["vouched_by"]) == (
        "vouched",
        "tokenstile manage",
    )
    answer = login(service, key, strict_client(service))
    assert answer.status_code == 200, answer.text
    assert unverified_claims(answer.json()["access_token"])["amr"][0] == "hwk"


def test_an_unverified_hardware_key_without_a_vouch_gets_swk(attacked: Any, tmp_path: Path) -> None:
    key, _root, _aaguid = vendor_key(tmp_path / "alice.key", "Unknown Vendor")
    service: AttackedService = attacked(webauthn_allow_software_keys=False)
    enrolled = enroll(service, key, **REFUSED)
    assert enrolled.returncode == 0, enrolled.stderr
    answer = login(service, key)
    assert answer.status_code == 200, answer.text
    claims = unverified_claims(answer.json()["access_token"])
    assert (claims["amr"][0], claims["acr"]) == ("swk", "phr")


def test_an_allow_listed_aaguid_needs_an_attestation_that_chains(
    attacked: Any, tmp_path: Path
) -> None:
    # The impostor claims the AAGUID of the allowed model; its attestation chains to its
    # own maker's root, not to the configured one.
    _genuine, genuine_root, _ = vendor_key(tmp_path / "genuine.key", "Example Keys")
    impostor, _other_root, aaguid = vendor_key(tmp_path / "impostor.key", "Impostor Inc")
    roots = tmp_path / "roots.pem"
    roots.write_bytes(genuine_root)
    settings = {
        "TOKENSTILE_WEBAUTHN_AAGUIDS": f'["{aaguid}"]',
        "TOKENSTILE_WEBAUTHN_ATTESTATION_ROOTS": f'["{roots}"]',
    }
    service: AttackedService = attacked(
        webauthn_aaguids=[aaguid], webauthn_attestation_roots=[str(roots)]
    )
    refused = enroll(service, impostor, **REFUSED, **settings)
    assert refused.returncode != 0
    assert "trusted manufacturer" in refused.stderr, refused.stderr
    assert "No security keys" in manage(service, "fido2", "list")
    [failure] = enrollments(service)[-1:]
    assert failure["detail"]["reason"] == "attestation_refused"


def test_an_aaguid_allow_list_without_roots_stops_the_server_at_start(tmp_path: Path) -> None:
    port = free_port()
    started = subprocess.run(
        [sys.executable, "-m", "tokenstile.cli", "server", "--db",
         f"sqlite:///{tmp_path / 'ts.db'}", "--port", str(port)],
        check=False, capture_output=True, text=True, timeout=60,
        env={**os.environ,
             "TOKENSTILE_WEBAUTHN_AAGUIDS": f'["{uuid.uuid4()}"]'},
    )  # fmt: skip
    assert started.returncode != 0
    assert "webauthn_attestation_roots" in started.stderr, started.stderr
    assert "Traceback" not in started.stderr
