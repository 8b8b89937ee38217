"""FIDO Metadata Service (MDS3) BLOBs: verified with python-fido2's ``fido2.mds3``.

A BLOB is a JWT whose ``x5c`` chain must lead to the configured MDS root
(``webauthn_mds_root``) and whose signature the chain's leaf made (``parse_blob``). Its
``no`` only ever grows: a BLOB that is not newer than the one loaded is refused. At
enrollment the entry for the key's AAGUID gives

- its status reports: a model whose latest status is one of :data:`REFUSED_STATUSES` is
  not enrolled;
- its attestation roots, which count like configured roots: an attestation chaining to
  one makes the credential ``attested``.

A newly loaded BLOB is also held against the credentials already enrolled: every active
one whose model's latest status is refused is suspended with the load (``refused_models``
names them), and stays suspended while the loaded BLOB says so. The BLOB comes from a file
or a URL (``fetch.mds``); a URL that cannot be fetched is ``MetadataUnavailable``.
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


# Why a credential was suspended when a BLOB refused its model (``state_reason``, audit).
METADATA_SUSPENSION = "metadata_status"


class MetadataRefused(WebAuthnError):
    """A BLOB that does not verify, does not parse, or is not newer than the loaded one."""

    code = "fido2_metadata_refused"


class MetadataNotNewer(MetadataRefused):
    """The BLOB verifies, but its ``no`` is not above the loaded one's (a replay, an old
    copy, or the same BLOB another replica loaded first)."""

    code = "fido2_metadata_not_newer"


class MetadataUnavailable(WebAuthnError):
    """The BLOB could not be fetched: a URL that is not https (or http on loopback), no
    answer, an HTTP error, or an answer over the size limit."""

    code = "fido2_metadata_unavailable"


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
        raise MetadataNotNewer(
            f"The metadata BLOB is number {payload.no}, not newer than the loaded one "
            f"({loaded_no}): nothing was changed."
        )


def model_metadata(payload: MetadataBlobPayload, aaguid: str) -> ModelMetadata | None:
    """The entry for ``aaguid``, whatever its status."""
    wanted = Aaguid(uuid.UUID(aaguid).bytes)
    entry = next((e for e in payload.entries if e.aaguid == wanted), None)
    return _model(entry) if entry is not None else None


def models(payload: MetadataBlobPayload) -> dict[str, ModelMetadata]:
    """Every entry with an AAGUID, by the AAGUID as the credential table spells it (a
    lower-case UUID); U2F entries (key identifiers, no AAGUID) name no credential here."""
    return {
        str(uuid.UUID(bytes=bytes(e.aaguid))): _model(e)
        for e in payload.entries
        if e.aaguid is not None
    }


def refused_models(payload: MetadataBlobPayload) -> dict[str, ModelMetadata]:
    """The models whose latest status is one of :data:`REFUSED_STATUSES`."""
    return {aaguid: model for aaguid, model in models(payload).items() if model.refused}


def _model(entry: MetadataBlobPayloadEntry) -> ModelMetadata:
    statement = entry.metadata_statement
    reports = sorted(entry.status_reports, key=lambda r: r.effective_date or datetime.date.min)
    latest = reports[-1].status.value if reports else None
    return ModelMetadata(
        description=statement.description if statement is not None else "",
        status=latest,
        roots=tuple(statement.attestation_root_certificates) if statement is not None else (),
    )
