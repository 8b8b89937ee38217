"""One Tokenstile deployment wired from its settings: database, KEK, keys, token service.

Both entry points build one: ``tokenstile manage`` (offline administration) and
``tokenstile server``. ``init`` is idempotent: a second run changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from tokenstile.clock import Clock, SystemClock
from tokenstile.config import Settings
from tokenstile.errors import ConfigError, KeyEncryptionError, StoreError
from tokenstile.paths import make_private_dir
from tokenstile.protocol.scopes import ADMIN_SCOPE
from tokenstile.store.database import (
    PoolOptions,
    create_database_engine,
    require_current_schema,
    upgrade,
)
from tokenstile.store.purge import PeriodicPurge
from tokenstile.store.repository import Store
from tokenstile.tokens.client_assertion import public_jwks
from tokenstile.tokens.keys import (
    KEK_CHECK_CONTEXT,
    KEK_CHECK_PLAINTEXT,
    Algorithm,
    KeyEncryptionKey,
    KeyRing,
    SigningKey,
)
from tokenstile.tokens.minting import AccessTokenMinter
from tokenstile.tokens.model import (
    LOCAL_AUDIENCE,
    AuditEvent,
    Client,
    ClientKind,
    StoredKey,
)
from tokenstile.tokens.redirect_uris import check_logout_registration, check_registration
from tokenstile.tokens.service import SessionPolicy, TokenService, client_secret_hash

log = logging.getLogger(__name__)

DEFAULT_KIOSK_CLIENT_ID = "tokenstile-kiosk"
DEFAULT_ADMIN_CLIENT_ID = "tokenstile-admin-console"
DEFAULT_SCOPES = ("openid", "profile", "offline_access")
_KEK_CHECK = "kek_check"
# How often (at most) a server asks the store for its key ids to see whether its key ring
# is stale: one tiny query a second per process, whatever the load, so every replica signs
# with a key made by ``rotate-keys --compromised`` (and stops signing with the distrusted
# ones) within this many seconds. The full reload stays at ``key_reload_interval``.
KEY_PROBE_INTERVAL = 1.0
# The JWKS route probes this often at most, so a flood of JWKS requests costs no queries.
JWKS_PROBE_INTERVAL = 0.1


def longest_rate_limit_window(settings: Settings) -> float:
    """How long a rate-limit counter may matter: the purge keeps it that long."""
    return max(settings.rate_limit_challenges_window, settings.rate_limit_login_failures_window)


@dataclass
class InitReport:
    created_schema: bool = False
    created_kek_file: Path | None = None
    created_key: str | None = None
    created_client: str | None = None
    notes: list[str] = field(default_factory=list)


class Deployment:
    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.engine: Engine = create_database_engine(
            settings.db,
            sqlite_synchronous=settings.sqlite_synchronous,
            pool=PoolOptions(
                size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                timeout=settings.db_pool_timeout,
                recycle=settings.db_pool_recycle,
                pre_ping=settings.db_pool_pre_ping,
                connect_timeout=settings.db_connect_timeout,
            ),
        )
        self.store = Store(self.engine)
        self._kek: KeyEncryptionKey | None = None
        self._ring: KeyRing | None = None
        self._ring_loaded_at = 0.0
        self._ring_probed_at = 0.0
        self._ring_lock = threading.Lock()

    def close(self) -> None:
        self.store.close()
        self.engine.dispose()

    def periodic_purge(self) -> PeriodicPurge:
        """The server's purge thread, as the settings set it (the store reads no settings)."""
        return PeriodicPurge(
            self.store,
            self.clock,
            interval=self.settings.purge_interval,
            keep_seconds=self.settings.purge_retention,
            rate_limit_window=longest_rate_limit_window(self.settings),
        )

    # -- KEK ----------------------------------------------------------------------

    def _load_kek(self, *, create: bool) -> tuple[KeyEncryptionKey, Path | None]:
        if self.settings.kek is not None:
            return KeyEncryptionKey.from_text(self.settings.kek.get_secret_value()), None
        path = self.settings.kek_file
        if path.exists():
            mode = path.stat().st_mode
            if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(
                    f"The key file {path} can be read by other users; run `chmod 600 {path}`."
                )
            try:
                return KeyEncryptionKey.from_text(path.read_text("ascii")), None
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"Cannot read the key file {path}: {exc}") from exc
        if not create:
            raise ConfigError(
                "No key-encryption key: set TOKENSTILE_KEK, or point TOKENSTILE_KEK_FILE at "
                f"the key file ({path} does not exist). `tokenstile manage init` creates one."
            )
        kek, text = KeyEncryptionKey.generate()
        try:
            make_private_dir(path.parent)  # 0700 where we create it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(text + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise ConfigError(f"Cannot create the key file {path}: {exc.strerror}.") from exc
        return kek, path

    @property
    def kek(self) -> KeyEncryptionKey:
        if self._kek is None:
            kek, _ = self._load_kek(create=False)
            self._check_kek(kek)
            self._kek = kek
        return self._kek

    def _check_kek(self, kek: KeyEncryptionKey) -> None:
        blob = self.store.get_meta(_KEK_CHECK)
        if blob is None:
            raise StoreError("The database has no key check: run `tokenstile manage init`.")
        if kek.decrypt(blob, context=KEK_CHECK_CONTEXT) != KEK_CHECK_PLAINTEXT:
            raise KeyEncryptionError("The key-encryption key does not match this database.")

    # -- init -----------------------------------------------------------------------

    def init(self) -> InitReport:
        report = InitReport()
        from tokenstile.store.database import current_revision

        report.created_schema = current_revision(self.engine) is None
        upgrade(self.engine)
        existing_check = self.store.get_meta(_KEK_CHECK)
        kek, created_path = self._load_kek(create=existing_check is None)
        if existing_check is None:
            report.created_kek_file = created_path
            self.store.set_meta(
                _KEK_CHECK, kek.encrypt(KEK_CHECK_PLAINTEXT, context=KEK_CHECK_CONTEXT)
            )
        else:
            self._check_kek(kek)
        self._kek = kek
        now = self.clock.now()
        if not self.store.signing_keys():
            key = SigningKey.generate(self.settings.signing_alg, created_at=now, sign_from=now)
            self._store_key(key, now, event="key_created")
            report.created_key = key.kid
        if self.store.find_client(DEFAULT_KIOSK_CLIENT_ID) is None:
            self.add_client(
                "kiosk",
                kind="kiosk",
                audiences=[LOCAL_AUDIENCE],
                scopes=list(DEFAULT_SCOPES),
                client_id=DEFAULT_KIOSK_CLIENT_ID,
            )
            report.created_client = DEFAULT_KIOSK_CLIENT_ID
        if self.store.find_client(DEFAULT_ADMIN_CLIENT_ID) is None:
            self.add_client(
                "admin-console",
                kind="kiosk",
                audiences=[LOCAL_AUDIENCE],
                scopes=["openid", "profile", ADMIN_SCOPE],
                client_id=DEFAULT_ADMIN_CLIENT_ID,
            )
        return report

    def require_ready(self) -> None:
        """Refuse to serve a database that is not initialised or a KEK that does not fit."""
        require_current_schema(self.engine)
        _ = self.kek
        self.keyring()

    # -- keys -----------------------------------------------------------------------

    def _store_key(self, key: SigningKey, now: float, *, event: str) -> None:
        stored = StoredKey(
            key.kid, key.alg, key.encrypt_private(self.kek), key.created_at, key.sign_from
        )
        self.store.add_signing_key(
            stored,
            audit=AuditEvent(
                event, "info", detail={"kid": key.kid, "alg": key.alg, "sign_from": key.sign_from}
            ),
            at=now,
        )

    def max_token_lifetime(self) -> int:
        return self.store.max_access_token_lifetime(self.settings.access_token_lifetime)

    def keyring(self, *, force: bool = False, fresh: bool = False) -> KeyRing:
        """The signing keys, as of at most ``KEY_PROBE_INTERVAL`` seconds ago.

        Reloaded in full every ``key_reload_interval``; in between, a probe of the stored
        key ids (one small query, at most once per ``KEY_PROBE_INTERVAL``) reloads it at
        once when a rotation changed the store. ``fresh``: as of at most
        ``JWKS_PROBE_INTERVAL`` ago (the JWKS route); ``force``: reload now.
        """
        now = self.clock.now()
        reload_every = self.settings.key_reload_interval
        probe_every = min(JWKS_PROBE_INTERVAL if fresh else KEY_PROBE_INTERVAL, reload_every)
        ring = self._ring
        if (
            ring is not None
            and not force
            and now - self._ring_probed_at < probe_every
            and now - self._ring_loaded_at < reload_every
        ):
            return ring
        with self._ring_lock:
            ring = self._ring
            if ring is not None and not force and now - self._ring_loaded_at < reload_every:
                if now - self._ring_probed_at < probe_every:
                    return ring  # another thread probed meanwhile
                stored = self.store.signing_key_ids()
                self._ring_probed_at = now
                if stored == ring.ids():
                    return ring
            return self._load_ring(now)

    def _load_ring(self, now: float) -> KeyRing:
        keys = [
            SigningKey.decrypt_private(
                kid=k.kid,
                alg=_algorithm(k.alg),
                blob=k.private_key,
                kek=self.kek,
                created_at=k.created_at,
                sign_from=k.sign_from,
            )
            for k in self.store.signing_keys()
        ]
        if not keys:
            raise ConfigError("No signing key: run `tokenstile manage init`.")
        self._ring = KeyRing(keys, max_token_lifetime=self.max_token_lifetime())
        self._ring_loaded_at = self._ring_probed_at = now
        return self._ring

    def rotate_keys(
        self, *, alg: Algorithm | None = None, immediately: bool = False, compromised: bool = False
    ) -> SigningKey:
        """Add a key that signs after the publication lead; drop keys no token needs.

        ``immediately``: the new key signs at once, the old ones stay published (and
        trusted) until their last token expires. ``compromised``: see ``distrust_keys``.
        """
        if compromised:
            return self.distrust_keys(alg=alg)[0]
        now = self.clock.now()
        lead = 0 if immediately else self.settings.publish_lead
        key = SigningKey.generate(
            alg or self.settings.signing_alg, created_at=now, sign_from=now + lead
        )
        self._store_key(key, now, event="key_rotated")
        ring = self.keyring(force=True)
        stale = [k.kid for k in ring.expired(now)]
        if stale:
            self.store.delete_signing_keys(stale)
            self.store.audit(AuditEvent("key_deleted", "info", detail={"kids": stale}), at=now)
            self.keyring(force=True)
        return key

    def distrust_keys(
        self, *, alg: Algorithm | None = None, origin: str = "tokenstile manage"
    ) -> tuple[SigningKey, list[str]]:
        """The answer to a stolen signing key: a new key that signs at once, and every
        other key deleted (a compromised private key has no reason to be kept), in one
        transaction with an ``alert`` audit event ``key_compromised`` naming them.

        Deleted keys leave the JWKS at once and every replica's own token checks refuse
        what they signed at once (they confirm the ``kid`` is still stored); replicas sign
        with the new key within ``KEY_PROBE_INTERVAL``. Sessions are untouched: their next
        refresh gets a token of the new key. Returns the new key and the distrusted kids.
        """
        now = self.clock.now()
        key = SigningKey.generate(alg or self.settings.signing_alg, created_at=now, sign_from=now)
        stored = StoredKey(
            key.kid, key.alg, key.encrypt_private(self.kek), key.created_at, key.sign_from
        )
        distrusted = self.store.distrust_signing_keys(
            stored,
            audit=lambda kids: AuditEvent(
                "key_compromised",
                "alert",
                origin=origin,
                detail={"kid": key.kid, "alg": key.alg, "distrusted": kids},
            ),
            at=now,
        )
        log.warning(
            "Signing keys distrusted after a compromise: %s; new key %s signs now.",
            ", ".join(distrusted) or "none",
            key.kid,
        )
        self.keyring(force=True)
        return key, distrusted

    # -- clients ----------------------------------------------------------------------

    def add_client(
        self,
        name: str,
        *,
        kind: ClientKind,
        audiences: list[str],
        scopes: list[str],
        client_id: str | None = None,
        dpop_bound: bool = False,
        redirect_uris: list[str] | None = None,
        post_logout_redirect_uris: list[str] | None = None,
        backchannel_logout_uri: str | None = None,
        jwks: str | None = None,
        by: str | None = None,
        origin: str | None = None,
    ) -> tuple[Client, str | None]:
        """Register a client; resource servers and web clients get a secret, returned here
        once (stored as a hash).

        ``dpop_bound``: every token request of the client must carry a DPoP proof (RFC 9449).
        ``redirect_uris``: a web or native client's (``tokens.redirect_uris`` checks them);
        its tokens' audience is, unless ``audiences`` names others, the client itself.
        ``jwks``: a web client's JWK Set of public keys (``tokens.client_assertion``): it
        then authenticates with private_key_jwt and gets no secret. ``by`` and ``origin``:
        who registered it, for the audit row (the admin API).
        """
        if dpop_bound and kind == "resource-server":
            raise ConfigError(
                "DPoP binding is for clients that obtain tokens, not resource servers."
            )
        client_id = client_id or secrets.token_urlsafe(12)
        browser = kind in ("web", "native")
        if browser:
            redirect_uris = list(check_registration(kind, redirect_uris or []))
        elif redirect_uris:
            raise ConfigError("Only web and native clients register redirect URIs.")
        post_logout = list(
            check_logout_registration(kind, post_logout_redirect_uris or [], backchannel_logout_uri)
        )
        if jwks is not None:
            if kind != "web":
                raise ConfigError("Only web clients register keys (private_key_jwt).")
            jwks = public_jwks(jwks)
        confidential = kind == "resource-server" or (kind == "web" and jwks is None)
        secret = secrets.token_urlsafe(32) if confidential else None
        if browser:
            default_audiences = [client_id]
        elif kind != "resource-server":
            default_audiences = [LOCAL_AUDIENCE]
        else:
            default_audiences = []
        now = self.clock.now()
        client = self.store.add_client(
            client_id=client_id,
            name=name,
            kind=kind,
            secret_hash=client_secret_hash(secret) if secret else None,
            audiences=audiences or default_audiences,
            scopes=scopes or (list(DEFAULT_SCOPES) if kind != "resource-server" else []),
            at=now,
            audit=AuditEvent(
                "client_added",
                "info",
                client_id=client_id,
                origin=origin,
                detail={
                    **({"by": by} if by else {}),
                    "name": name,
                    "kind": kind,
                    "dpop_bound": dpop_bound,
                    **({"auth": "private_key_jwt", "jwks": json.loads(jwks)} if jwks else {}),
                    **({"redirect_uris": redirect_uris} if browser else {}),
                    **({"post_logout_redirect_uris": post_logout} if post_logout else {}),
                    **(
                        {"backchannel_logout_uri": backchannel_logout_uri}
                        if backchannel_logout_uri
                        else {}
                    ),
                },
            ),
            dpop_bound=dpop_bound,
            redirect_uris=redirect_uris or [],
            post_logout_redirect_uris=post_logout,
            backchannel_logout_uri=backchannel_logout_uri,
            jwks=jwks,
        )
        return client, secret

    # -- service ----------------------------------------------------------------------

    def token_service(self) -> TokenService:
        s = self.settings
        return TokenService(
            AccessTokenMinter(
                self.store,
                self.keyring,
                issuer=s.issuer_url(),
                clock=self.clock,
                policy=SessionPolicy(
                    access_token_lifetime=s.access_token_lifetime,
                    session_lifetime=s.session_lifetime,
                    session_idle=s.session_idle,
                    refresh_grace=s.refresh_grace,
                    refresh_retry_after=s.refresh_retry_after,
                    privileged_scopes=frozenset(s.privileged_scopes),
                    max_token_lifetime=self.max_token_lifetime(),
                    confirm_token_lifetime=s.confirm_token_lifetime,
                    park_lifetime=s.kiosk_park_minutes * 60.0,
                ),
            )
        )


def _algorithm(alg: str) -> Algorithm:
    if alg == "ES256":
        return "ES256"
    if alg == "EdDSA":
        return "EdDSA"
    raise KeyEncryptionError(f"Stored signing key uses unknown algorithm {alg!r}.")
