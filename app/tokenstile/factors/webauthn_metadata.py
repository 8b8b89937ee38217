"""FIDO Metadata Service (MDS3) BLOBs: verified with python-fido2's ``fido2.mds3``.

A BLOB is a JWT whose ``x5c`` chain must lead to the configured MDS root
(``webauthn_mds_root``) and whose signature the chain's leaf made (``parse_blob``). Its
``no`` only ever grows: a BLOB that is not newer than the one loaded is refused. At
enrollment the entry for the key's AAGUID gives

- its status reports: a model whose latest status is one of :data:`REFUSED_STATUSES` is
  not enrolled;
- its attestation roots, which count like configured roots: an attestation chaining to
  one makes the credential ``attested``.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fido2.mds3 import AuthenticatorStatus, MetadataBlobPayload, MetadataBlobPayloadEntry
from fido2.mds3 import parse_blob as _parse_blob
from fido2.webauthn import Aaguid

from tokenstile.errors import ConfigError
from tokenstile.factors.webauthn import WebAuthnError

MAX_BLOB_BYTES = 64 * 1024 * 1024
REFUSED_STATUSES: frozenset[str] = frozenset(
    {
        AuthenticatorStatus.REVOKED.value,
        AuthenticatorStatus.USER_VERIFICATION_BYPASS.value,
        AuthenticatorStatus.ATTESTATION_KEY_COMPROMISE.value,
        AuthenticatorStatus.USER_KEY_REMOTE_COMPROMISE.value,
        AuthenticatorStatus.USER_KEY_PHYSICAL_COMPROMISE.value,
    }
)


class MetadataRefused(WebAuthnError):
    """A BLOB that does not verify, does not parse, or is not newer than the loaded one."""

    code = "fido2_metadata_refused"


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What the metadata says about one model (one AAGUID)."""

    description: str
    status: str | None  # the latest status report's
    roots: tuple[bytes, ...]  # its attestation root certificates (DER)

    @property
    def refused(self) -> bool:
        return self.status in REFUSED_STATUSES


def read_root(path: Path) -> bytes:
    """The MDS root (DER) from a PEM file, or ``ConfigError``."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER)
    except OSError as exc:
        raise ConfigError(f"Cannot read the MDS root {path}: {exc.strerror}.") from exc
    except ValueError as exc:
        raise ConfigError(f"{path} holds no PEM certificate (webauthn_mds_root).") from exc


def parse_metadata(blob: bytes, root: bytes) -> MetadataBlobPayload:
    """The BLOB's payload, verified to ``root`` (DER); ``MetadataRefused`` otherwise."""
    if len(blob) > MAX_BLOB_BYTES:
        raise MetadataRefused("The metadata BLOB is too large.")
    try:
        return _parse_blob(blob.strip(), root)
    except Exception as exc:
        raise MetadataRefused(
            "The metadata BLOB does not verify to the configured MDS root "
            f"(webauthn_mds_root), or does not parse: {type(exc).__name__}."
        ) from exc


def check_newer(payload: MetadataBlobPayload, loaded_no: int | None) -> None:
    if loaded_no is not None and payload.no <= loaded_no:
        raise MetadataRefused(
            f"The metadata BLOB is number {payload.no}, not newer than the loaded one "
            f"({loaded_no}): nothing was changed."
        )


def model_metadata(payload: MetadataBlobPayload, aaguid: str) -> ModelMetadata | None:
    """The entry for ``aaguid``, whatever its status."""
    wanted = Aaguid(uuid.UUID(aaguid).bytes)
    entry = next((e for e in payload.entries if e.aaguid == wanted), None)
    return _model(entry) if entry is not None else None


def _model(entry: MetadataBlobPayloadEntry) -> ModelMetadata:
    statement = entry.metadata_statement
    reports = sorted(entry.status_reports, key=lambda r: r.effective_date or datetime.date.min)
    latest = reports[-1].status.value if reports else None
    return ModelMetadata(
        description=statement.description if statement is not None else "",
        status=latest,
        roots=tuple(statement.attestation_root_certificates) if statement is not None else (),
    )
