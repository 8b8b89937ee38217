"""One frozen settings object: ``TOKENSTILE_*`` environment variables plus an optional TOML file.

Precedence, highest first: explicit command-line values (passed as keyword arguments),
the environment, the TOML file named by ``TOKENSTILE_CONFIG`` (or ``--config``), defaults.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tokenstile import paths
from tokenstile.errors import ConfigError

_CONFIG_FILE_ENV = "TOKENSTILE_CONFIG"

# FIDO2 trust (issue 16): the start-up refusal of an AAGUID allow-list nothing verifies.
AAGUIDS_WITHOUT_ROOTS = (
    "webauthn_aaguids is set but webauthn_attestation_roots is not: an AAGUID is only "
    "the key's own claim, which counts only when its attestation chains to a trusted "
    "root. Add the manufacturers' attestation roots (PEM files) to "
    "webauthn_attestation_roots (or the FIDO MDS root to webauthn_mds_root), or remove "
    "webauthn_aaguids."
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOKENSTILE_", frozen=True, extra="forbid")

    db: str = Field(default_factory=paths.default_database_url)
    issuer: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8600, ge=0, le=65535)
    tls_cert: Path | None = None
    tls_key: Path | None = None

    kek: SecretStr | None = None
    kek_file: Path = Field(default_factory=paths.default_kek_file)

    signing_alg: Literal["ES256", "EdDSA"] = "ES256"
    access_token_lifetime: int = Field(default=600, gt=0, le=86_400)
    session_lifetime: int = Field(default=12 * 3600, gt=0)
    session_idle: int = Field(default=3600, gt=0)
    refresh_grace: float = Field(default=10.0, ge=0, le=300)
    refresh_retry_after: float = Field(default=1.0, ge=0, le=60)
    jwks_max_age: int = Field(default=300, ge=0)
    key_publish_lead: int | None = Field(default=None, ge=0)
    key_reload_interval: float = Field(default=10.0, gt=0)
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # "Confirm with your key" (issue 17): how long a confirm token lives, in seconds. It
    # is for one action right now, so two minutes at most.
    confirm_token_lifetime: int = Field(default=60, gt=0, le=120)

    # Fleet mode (issue 8). The PostgreSQL pool of each worker process (SQLite ignores
    # it); the worker processes one ``tokenstile server`` forks; the proxies whose
    # X-Forwarded-For names the client (none: the peer address is the client); and the
    # shared rate limits of the unauthenticated login endpoints, counted per client
    # address in the database (0 turns one off).
    db_pool_size: int = Field(default=10, ge=1, le=1000)
    db_max_overflow: int = Field(default=0, ge=0, le=1000)
    db_pool_timeout: float = Field(default=10.0, gt=0, le=300)
    db_pool_recycle: int = Field(default=1800, ge=-1)
    db_pool_pre_ping: bool = True
    db_connect_timeout: int = Field(default=5, ge=1, le=300)
    workers: int = Field(default=1, ge=1, le=64)
    forwarded_allow_ips: list[str] = Field(default_factory=list)
    # More public URLs of this service besides the issuer (another name behind a proxy):
    # a DPoP proof's htu must name an endpoint under the issuer or one of these (plus,
    # for a loopback issuer, its other loopback spellings at the same port), never the
    # Host or forwarded headers of the request. https://, or http:// on loopback.
    public_urls: list[str] = Field(default_factory=list)
    rate_limit_challenges: int = Field(default=120, ge=0)
    rate_limit_challenges_window: float = Field(default=60.0, gt=0, le=86_400)
    rate_limit_login_failures: int = Field(default=100, ge=0)
    rate_limit_login_failures_window: float = Field(default=300.0, gt=0, le=86_400)

    # Purging rows that can never matter again (store/purge.py): an ended session stays
    # ``purge_retention`` seconds (reuse detection, the admin's session list); each
    # server process purges every ``purge_interval`` seconds (0: never).
    purge_retention: float = Field(default=7 * 86_400.0, ge=0)
    purge_interval: float = Field(default=3600.0, ge=0)

    # Back-channel logout (issue 15; server/backchannel.py): each replica looks for due
    # deliveries every ``backchannel_poll_interval`` seconds (0: never deliver); each POST
    # within ``backchannel_timeout`` seconds, never following a redirect; a failed one is
    # tried again after ``backchannel_backoff`` seconds, doubling up to
    # ``backchannel_max_backoff``, at most ``backchannel_attempts`` times in all.
    backchannel_poll_interval: float = Field(default=1.0, ge=0, le=3600)
    backchannel_timeout: float = Field(default=5.0, gt=0, le=60)
    backchannel_attempts: int = Field(default=6, ge=1, le=20)
    backchannel_backoff: float = Field(default=2.0, gt=0, le=3600)
    backchannel_max_backoff: float = Field(default=300.0, gt=0, le=86_400)

    # Prometheus metrics (issue 18; server/metrics.py, docs/operations.md): /metrics on the
    # service's own port is served only to a request with ``Authorization: Bearer
    # <metrics_token>`` (no token set: not served there at all). ``metrics_port`` (0: none)
    # serves /metrics alone on its own listener at ``metrics_host``, loopback by default;
    # off loopback it needs ``metrics_token`` too. One worker per process only.
    metrics_token: SecretStr | None = Field(default=None, min_length=16)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    # Audit streaming (issue 18; server/audit_stream.py): every audit row this process
    # commits also goes to syslog (RFC 5424; udp://, tcp:// or tls://host:port, with
    # ``audit_syslog_ca_file`` to verify a tls:// receiver) and/or is POSTed to a webhook
    # (https://, http:// on loopback) signed with HMAC-SHA256 under
    # ``audit_webhook_secret``. Each sink has a queue of ``audit_stream_queue`` rows: a row
    # that finds it full is dropped and counted, a login never waits. A webhook POST
    # that fails is tried again after ``audit_webhook_backoff`` seconds, doubling up to
    # 60, at most ``audit_webhook_attempts`` times, then counted as a dead letter.
    audit_syslog: str | None = Field(default=None, min_length=1, max_length=512)
    audit_syslog_ca_file: Path | None = None
    audit_webhook_url: str | None = Field(default=None, min_length=1, max_length=2048)
    audit_webhook_secret: SecretStr | None = Field(default=None, min_length=16)
    audit_webhook_attempts: int = Field(default=5, ge=1, le=20)
    audit_webhook_backoff: float = Field(default=1.0, gt=0, le=600)
    audit_webhook_timeout: float = Field(default=5.0, gt=0, le=60)
    audit_stream_queue: int = Field(default=10_000, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _operations(self) -> Settings:
        if (
            self.metrics_port
            and self.metrics_token is None
            and not _is_loopback(self.metrics_host.strip("[]"))
        ):
            raise ValueError(
                "metrics_host is not a loopback address: set metrics_token too, or anyone "
                "who reaches that port reads the metrics."
            )
        if self.audit_webhook_url is not None:
            if self.audit_webhook_secret is None:
                raise ValueError("audit_webhook_url needs audit_webhook_secret to sign with.")
            _public_url(self.audit_webhook_url.split("?", 1)[0])
        if self.audit_syslog is not None:
            syslog_target(self.audit_syslog)
        return self

    # LDAP / Active Directory sync (issue 18; server/directory_sync.py): every
    # ``directory_sync_interval`` seconds the server syncs each configured directory
    # (0: never; ``tokenstile manage directory sync`` still works). With several replicas,
    # a lease in the database lets one at a time sync a directory.
    directory_sync_interval: float = Field(default=0.0, ge=0, le=86_400)

    # private_key_jwt (issue 15; tokens/client_assertion.py): a client assertion's exp may
    # be at most this many seconds ahead (its jti is kept that long). Some libraries sign
    # for an hour by default (Authlib): shorten theirs rather than raise this.
    client_assertion_max_lifetime: float = Field(default=300.0, gt=0, le=3600)

    # One-time codes (issue 3): the check windows and the lockout schedule.
    otp_window: int = Field(default=1, ge=0, le=10)
    otp_hotp_look_ahead: int = Field(default=10, ge=0, le=100)
    otp_delay_after: int = Field(default=5, ge=1)
    otp_lock_after: int = Field(default=20, ge=1)
    otp_first_delay: float = Field(default=30.0, ge=0)
    otp_max_delay: float = Field(default=900.0, ge=0)
    # The fob tap of tap-and-go (issue 17, docs/token-service.md "Tap-and-go"): a TOTP
    # code alone at a kiosk of a group, checked against the fobs of at most
    # tap_fob_max_holders people on shift there (more: no fob taps at that group); at
    # most tap_fob_max_failures wrong codes per group in tap_fob_window seconds, then no
    # fob taps there until the window ends. 0 failures: fob taps off.
    tap_fob_max_failures: int = Field(default=3, ge=0, le=100)
    tap_fob_window: float = Field(default=3600.0, gt=0, le=86_400)
    tap_fob_max_holders: int = Field(default=10, ge=1, le=200)

    # PIV smart cards (issue 5): trust anchors for certificates issued elsewhere (PEM
    # files; `manage trust add` stores more in the database), mapping a certificate to a
    # person by its UPN, the login challenge, the issuing CA, and what `piv enroll
    # --generate` uses on the card.
    piv_trust_anchors: list[Path] = Field(default_factory=list)
    piv_map_upn: bool = False
    piv_upn_domain: str | None = Field(default=None, min_length=1, max_length=253)
    piv_challenge_lifetime: int = Field(default=120, ge=10, le=600)
    piv_max_open_challenges: int = Field(default=16, ge=1, le=1000)
    piv_certificate_days: int = Field(default=1095, ge=1, le=3650)
    piv_ca_days: int = Field(default=3650, ge=30, le=36500)
    piv_ca_name: str = Field(default="Tokenstile PIV Issuing CA", min_length=1, max_length=64)
    piv_key_algorithm: Literal["ECCP256", "RSA2048"] = "ECCP256"
    piv_management_key: SecretStr | None = None
    piv_management_key_algorithm: Literal["TDES", "AES128", "AES192", "AES256"] = "TDES"

    # PIV revocation (issue 16, piv-revocation): the policy for certificates from trust
    # anchors (require: no fresh OCSP/CRL answer refuses; prefer: it lets in, logged and
    # audited; off), overridden per anchor (its SHA-256 fingerprint -> policy); a CRL
    # (URL or file) and an OCSP responder per anchor, used instead of what the
    # certificate names; the fetch bounds; how long a source whose fetch failed is not
    # asked again (its checks meanwhile get no answer at once and the policy decides; 0
    # asks every time); and how long the built-in CA's CRL is valid.
    piv_revocation_policy: Literal["require", "prefer", "off"] = "require"
    piv_revocation_anchor_policies: dict[str, Literal["require", "prefer", "off"]] = Field(
        default_factory=dict
    )
    piv_revocation_crl: dict[str, str] = Field(default_factory=dict)
    piv_revocation_ocsp: dict[str, str] = Field(default_factory=dict)
    piv_revocation_ocsp_nonce: bool = True
    piv_revocation_timeout: float = Field(default=5.0, gt=0, le=60)
    piv_revocation_max_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    piv_revocation_retry_seconds: float = Field(default=60.0, ge=0, le=3600)
    piv_ca_crl_hours: int = Field(default=24, ge=1, le=24 * 31)

    # PIV key attestation and card set-up (issue 16, piv-attestation): the attestation
    # roots (PEM files, e.g. Yubico's PIV attestation root) a card's attestation key F9
    # must chain to; whether `piv enroll` refuses a key that cannot prove it was
    # generated on the card; and the set-up `piv enroll --generate` does to a card still
    # on its factory management key: a random management key of this algorithm, stored
    # PIN-protected on the card, and the factory PUK replaced ("set", --new-puk) or
    # blocked ("block").
    piv_attestation_roots: list[Path] = Field(default_factory=list)
    piv_require_attestation: bool = False
    piv_setup_management_key_algorithm: Literal["AES128", "AES192", "AES256"] = "AES192"
    piv_puk_policy: Literal["block", "set"] = "block"

    @model_validator(mode="after")
    def _attestation_needs_roots(self) -> Settings:
        if self.piv_require_attestation and not self.piv_attestation_roots:
            raise ValueError("piv_require_attestation needs piv_attestation_roots")
        return self

    # FIDO2 security keys (issue 4): the WebAuthn relying party (RP ID: default the
    # issuer's host, or localhost on loopback; origins: default https://<rp id>) and the
    # attestation policy (an AAGUID allow-list and trusted packed-attestation roots as
    # PEM files; both empty: any key, attestation "none").
    rp_id: str | None = Field(default=None, min_length=1, max_length=253)
    rp_name: str = Field(default="Tokenstile", min_length=1, max_length=64)
    webauthn_origins: list[str] = Field(default_factory=list)
    webauthn_aaguids: list[str] = Field(default_factory=list)
    webauthn_attestation_roots: list[Path] = Field(default_factory=list)

    # Trust in the hardware itself, FIDO2 (issue 16): whether keys that say they are
    # software (the project's virtual key) may be enrolled at all (they never sign in as
    # a hardware key); the FIDO Metadata Service root (PEM) that signs the metadata BLOBs
    # `manage fido2 metadata load` takes; an AAGUID allow-list with neither attestation
    # roots nor that root is refused below.
    webauthn_allow_software_keys: bool = False
    webauthn_mds_root: Path | None = None
    # Where the server fetches the metadata BLOB from (https://, or http:// on loopback;
    # None: never, `manage fido2 metadata load` only), at start-up and every
    # ``webauthn_mds_refresh_hours``; each fetch within ``webauthn_mds_timeout`` seconds and
    # ``webauthn_mds_max_bytes`` (also the limit of `metadata load URL`). A BLOB that is not
    # newer, does not verify or cannot be fetched leaves the loaded one in place.
    webauthn_mds_url: str | None = Field(default=None, min_length=1, max_length=2048)
    webauthn_mds_refresh_hours: float = Field(default=24.0, gt=0, le=24 * 31)
    webauthn_mds_timeout: float = Field(default=30.0, gt=0, le=300)
    webauthn_mds_max_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    @model_validator(mode="after")
    def _aaguids_need_roots(self) -> Settings:
        verifiable = self.webauthn_attestation_roots or self.webauthn_mds_root is not None
        if self.webauthn_aaguids and not verifiable:
            raise ValueError(AAGUIDS_WITHOUT_ROOTS)
        if self.webauthn_mds_url is not None:
            if self.webauthn_mds_root is None:
                raise ValueError(
                    "webauthn_mds_url is set but webauthn_mds_root is not: a BLOB is only "
                    "loaded once it verifies to the MDS root; set webauthn_mds_root to its "
                    "PEM file."
                )
            _public_url(self.webauthn_mds_url.split("?", 1)[0])
        return self

    # The local token broker (issue 6): where the session is kept (the OS keychain; or,
    # opted into on a headless host, a file encrypted under a passphrase given directly
    # or in a file), whether logins bind the session to a DPoP key, how long a refresh
    # may wait for another one, the token endpoint's time limit, how long to wait before
    # retrying a refresh whose answer was lost (more than the server's
    # refresh_retry_after, well within refresh_grace), and a CA bundle for the server.
    # broker/options.py reads the same TOKENSTILE_BROKER_* variables on the fast path.
    broker_store: Literal["keychain", "encrypted-file"] = "keychain"
    broker_store_file: Path = Field(default_factory=lambda: paths.data_dir() / "broker-session.enc")
    broker_store_passphrase: SecretStr | None = None
    broker_store_passphrase_file: Path | None = None
    broker_dpop: bool = False
    broker_lock_timeout: float = Field(default=30.0, gt=0, le=600)
    broker_http_timeout: float = Field(default=5.0, gt=0, le=60)
    broker_refresh_retry_delay: float = Field(default=1.5, ge=0, le=9)
    broker_ca_file: Path | None = None
    # The app this process is: its token exchanges are requested as this registered
    # client (a public app client; a confidential one also gives its secret).
    broker_app_id: str | None = Field(default=None, max_length=128)
    broker_app_secret: SecretStr | None = None

    # The kiosk (issue 7): which token service it signs in at (default: this machine's
    # issuer URL), and the shared-workstation rules. Idle lock after N minutes (0: never);
    # how often it tries an unreachable service again; the UI language (default: the
    # system's); the WebAuthn RP ID its keys sign for (default: the server's host name,
    # or localhost on loopback, as the server derives it).
    kiosk_server: str | None = None
    kiosk_sign_out_on_card_removal: bool = True
    kiosk_idle_lock_minutes: float = Field(default=5.0, ge=0, le=24 * 60)
    kiosk_sign_out_at_session_end: bool = True
    kiosk_switch_user: bool = True
    # Parked sessions (issue 17): "switch user" parks the person instead of signing them
    # out; the service refuses the parked session's refresh and exchange until the same
    # person signs in again at the kiosk, and revokes it after kiosk_park_minutes (a
    # service setting too). At most kiosk_park_max people parked per kiosk (one more is
    # refused). kiosk_lock_hotkey locks the kiosk at once (walk-away); "" turns it off.
    kiosk_park_sessions: bool = False
    kiosk_park_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    kiosk_park_max: int = Field(default=4, ge=1, le=32)
    kiosk_lock_hotkey: str = Field(default="Ctrl+L", max_length=64)
    kiosk_retry_seconds: float = Field(default=5.0, gt=0, le=300)
    kiosk_key_poll_seconds: float = Field(default=0.5, gt=0, le=10)
    kiosk_locale: str | None = Field(default=None, min_length=2, max_length=16)
    kiosk_rp_id: str | None = Field(default=None, min_length=1, max_length=253)
    # "Confirm with your key" (issue 17): the kiosk serves confirm.sock in the user's
    # runtime directory, where this user's apps ask the person signed in to confirm one
    # action with their key (tokenstile confirm, Broker.confirm). False: no socket.
    kiosk_confirm: bool = True
    # Tap-and-go (issue 17, docs/kiosk.md): a key touch or a card inserted first tries a
    # tap (no PIN), which the service accepts only inside the person's open shift at this
    # kiosk's group; off here, every sign-in is a full one whatever the group says.
    kiosk_tap_and_go: bool = True
    # Kiosk single sign-on (issue 15, docs/web-apps.md "Kiosk single sign-on"): the
    # loopback port (on 127.0.0.1) where the kiosk's broker takes the sign-in page's
    # hand-off; the service reads the same setting to offer "use the sign-in at this
    # kiosk" and to name the port in its page (0: no single sign-on). The browser the
    # kiosk opens after each sign-in (None: none; `tokenstile kiosk --browser URL`), and
    # where Chromium is.
    kiosk_sso_port: int = Field(default=0, ge=0, le=65535)
    # How long a single sign-on hand-off may wait for the broker and the person's click.
    kiosk_sso_handoff_seconds: float = Field(default=60.0, gt=0, le=600)
    kiosk_browser_url: str | None = Field(default=None, min_length=1, max_length=2000)
    kiosk_browser_path: Path = Path("/usr/bin/chromium")
    # Offline sign-in (issue 17): how long an offline lease lives, the list of enrolled
    # keys and cards a kiosk may check by itself when the service is out of reach
    # (factors.offline_lease). 0: no leases. Revocation reaches an offline kiosk only
    # with its next lease, so keep it short.
    kiosk_offline_hours: float = Field(default=0.0, ge=0, le=7 * 24)
    # The kiosk's side: sign people in against its kept lease when the service cannot be
    # reached (kiosk.offline). Without a lease from the service it has nothing to use.
    kiosk_offline: bool = False
    admin_idle_minutes: float = Field(default=10.0, ge=0, le=24 * 60)  # 0: never

    # Scopes that only a factor login grants, at a client registered for them, to an
    # admin: never a token exchange, never a refresh to another audience. The admin
    # API's scope (tokenstile:admin) is always one. A list, or one string of scopes
    # separated by spaces (TOKENSTILE_PRIVILEGED_SCOPES="tokenstile:admin hr:write").
    privileged_scopes: Annotated[tuple[str, ...], NoDecode] = ("tokenstile:admin",)

    @field_validator("privileged_scopes", mode="before")
    @classmethod
    def _split_scopes(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else text.split()
        return value

    @field_validator("public_urls")
    @classmethod
    def _check_public_urls(cls, urls: list[str]) -> list[str]:
        return [_public_url(url) for url in urls]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)

    @property
    def publish_lead(self) -> int:
        """How long a new key is in the JWKS before it signs (default: the JWKS max-age)."""
        return self.jwks_max_age if self.key_publish_lead is None else self.key_publish_lead

    def issuer_url(self) -> str:
        if self.issuer:
            return self.issuer.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


def _public_url(url: str) -> str:
    """``scheme://host[:port][/path]`` without a trailing slash, or a ValueError."""
    parts = urlsplit(url.strip())
    parts.port  # noqa: B018 - a ValueError for a bad port
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"{url!r} is not an https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{url!r} must have no query, fragment or user")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError(f"{url!r} must be https:// (plain http only on loopback)")
    return url.strip().rstrip("/")


def syslog_target(url: str) -> tuple[Literal["udp", "tcp", "tls"], str, int]:
    """``udp://host:port``, ``tcp://host:port`` or ``tls://host:port`` as its parts (port
    514 by default, 6514 for tls), or a ValueError that says what is wrong."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme
    if scheme not in ("udp", "tcp", "tls"):
        raise ValueError(f"{url!r}: a syslog target is udp://, tcp:// or tls://host:port")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r}: the port is not a number from 1 to 65535") from exc
    host = parts.hostname or ""
    if not host or parts.path not in ("", "/") or parts.query or parts.username:
        raise ValueError(f"{url!r}: give only the scheme, a host and a port")
    if scheme != "tls" and not _is_loopback(host):
        # as for HTTP: audit rows (names, addresses) leave this host encrypted only; a
        # local relay (rsyslog on loopback) may forward them on.
        raise ValueError(f"{url!r}: plain udp:// and tcp:// only on loopback, else tls://")
    return scheme, host, port or (6514 if scheme == "tls" else 514)  # type: ignore[return-value]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once, at an entry point; a bad value is a ConfigError."""
    if config_file is None and os.environ.get(_CONFIG_FILE_ENV):
        config_file = Path(os.environ[_CONFIG_FILE_ENV])
    cls: type[Settings] = Settings
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"Config file {config_file} does not exist.")

        class FileSettings(Settings):
            model_config = SettingsConfigDict(toml_file=config_file)

        cls = FileSettings
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return cls(**clean)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"Invalid setting: {problems}") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read the configuration: {exc}") from exc
