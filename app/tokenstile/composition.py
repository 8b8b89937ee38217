"""The composition root: settings → database → repositories → services.

:class:`Services` is the one place the use cases of a deployment are built: the token
service, the client directory, the OpenID Provider's authorization code flow, the OTP, PIV
and WebAuthn services (the relying party and
attestation policy read from the settings once). The routes, the CLI, the demos and the
benchmarks get their services here, never by constructing them; the ASGI app over them is
built by the server (:func:`tokenstile.server.app.create_app`), the layer above this one.

Each accessor is a :class:`Lazy`: it builds its service on first use, once, and a failure
builds nothing (the next call tries again): a service that needs the KEK, or a WebAuthn
setting that is wrong, fails what uses it rather than the start of everything else. One
``Services`` is one set of caches: ``create_app`` makes one per app unless handed one (the
PIV checker cache lives as long as the app), a CLI command one per command.

:class:`ThreadedServer` serves an ASGI app under uvicorn on a background thread on a
loopback socket (the kiosk demo); ``tokenstile server`` serves in the foreground
(:mod:`tokenstile.server.run`). Both build their uvicorn config with :func:`uvicorn_config`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import uvicorn
    from cryptography import x509

    from tokenstile.config import Settings
    from tokenstile.deployment import Deployment
    from tokenstile.factors.offline_lease import OfflineExchange, OfflineLeases
    from tokenstile.factors.otp_service import OtpService
    from tokenstile.factors.piv_attestation import AttestationPolicy
    from tokenstile.factors.piv_service import PivService
    from tokenstile.factors.webauthn import RelyingParty
    from tokenstile.factors.webauthn_service import WebAuthnService
    from tokenstile.fetch.http import HttpFetcher
    from tokenstile.fetch.mds import MetadataRefresh
    from tokenstile.store.clients import ClientDirectory
    from tokenstile.tokens.authorization_code import AuthorizationCodeFlow
    from tokenstile.tokens.kiosk_sso import KioskSso

_T = TypeVar("_T")


class Lazy(Generic[_T]):
    """A value built on first use, once, under a lock: calling it returns ``factory()``,
    built by the first caller only.

    A factory that raises builds nothing: the next call tries again (and a setting that
    is wrong keeps failing the routes that need it, not the service's start).
    """

    __slots__ = ("_built", "_factory", "_lock")

    def __init__(self, factory: Callable[[], _T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._built: tuple[_T] | None = None

    def __call__(self) -> _T:
        built = self._built
        if built is None:  # double-checked: the lock is taken only until it is built
            with self._lock:
                if self._built is None:
                    self._built = (self._factory(),)
                built = self._built
        return built[0]


class Services:
    """The services of one deployment, each built on first use and kept."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.settings: Settings = deployment.settings
        self.token_service = Lazy(deployment.token_service)
        self.clients = Lazy(self._clients)
        self.otp_service = Lazy(self._otp_service)
        self.piv_anchors = Lazy(self._piv_anchors)
        self.piv_attestation = Lazy(self._piv_attestation)
        self.piv_service = Lazy(self._piv_service)
        self.relying_party = Lazy(self._relying_party)
        self.webauthn_service = Lazy(self._webauthn_service)
        self.authorization = Lazy(self._authorization)
        self.browser_key = Lazy(self._browser_key)
        self.kiosk_sso = Lazy(self._kiosk_sso)
        self.offline_leases = Lazy(self._offline_leases)
        self.offline_exchange = Lazy(self._offline_exchange)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        from tokenstile.deployment import Deployment

        return cls(Deployment(settings))

    def _clients(self) -> ClientDirectory:
        from tokenstile.store.clients import ClientDirectory

        return ClientDirectory(self.deployment.store, self.deployment.clock)

    def _authorization(self) -> AuthorizationCodeFlow:
        """The OpenID Provider's code flow, minting with the token service's own minter."""
        from tokenstile.store.authorization_repository import SqlCodeStore
        from tokenstile.tokens.authorization_code import AuthorizationCodeFlow

        return AuthorizationCodeFlow(
            self.token_service().minter, SqlCodeStore(self.deployment.store)
        )

    def _kiosk_sso(self) -> KioskSso:
        """Kiosk single sign-on's hand-offs (in the database, shared by the replicas; see
        tokens.kiosk_sso)."""
        from tokenstile.store.authorization_repository import SqlCodeStore
        from tokenstile.tokens.kiosk_sso import KioskSso

        service = self.token_service()
        return KioskSso(
            service.introspection,
            SqlCodeStore(self.deployment.store),
            self.deployment.clock,
            lifetime=self.deployment.settings.kiosk_sso_handoff_seconds,
        )

    def _offline_leases(self) -> OfflineLeases:
        """Offline leases for kiosks (factors.offline_lease), listing the factors'
        public halves read by the store."""
        from tokenstile.factors.offline_lease import OfflineLeases
        from tokenstile.store.offline_repository import SqlLeaseSource

        return OfflineLeases(
            self.token_service(),
            SqlLeaseSource(self.deployment.store),
            self.clients().find,
            lifetime=self.settings.kiosk_offline_hours * 3600,
            rp_id=self.relying_party().id,
        )

    def _offline_exchange(self) -> OfflineExchange:
        """Offline sign-ins brought back by kiosks, checked and spent once
        (factors.offline_lease); the longest they are good for is a lease's life."""
        from tokenstile.factors.offline_lease import OfflineExchange
        from tokenstile.factors.piv_config import PivSettings
        from tokenstile.store.offline_repository import (
            SqlEvidenceLedger,
            SqlOfflineCards,
            SqlOfflineKeys,
        )

        store = self.deployment.store
        clock = self.deployment.clock
        return OfflineExchange(
            rp=self.relying_party(),
            keys=SqlOfflineKeys(store),
            cards=SqlOfflineCards(store),
            ledger=SqlEvidenceLedger(store),
            audit=lambda event: store.audit(event, at=clock.now()),
            clock=clock,
            max_age=self.settings.kiosk_offline_hours * 3600,
            piv_origin=PivSettings.from_settings(self.settings).service_origin,
        )

    def _browser_key(self) -> bytes:
        """The key the sign-in pages' CSRF tokens are made with: random, made once per
        deployment and shared by its replicas through the database."""
        import secrets

        from tokenstile.store.authorization_repository import SqlCodeStore

        store = SqlCodeStore(self.deployment.store)
        return store.shared_key("browser_csrf_key", lambda: secrets.token_bytes(32))

    def _otp_service(self) -> OtpService:
        from tokenstile.factors.otp import VerificationPolicy
        from tokenstile.factors.otp_lockout import LockoutPolicy
        from tokenstile.factors.otp_service import OtpService
        from tokenstile.store.otp_repository import SqlOtpStore

        s, deployment = self.settings, self.deployment
        return OtpService(
            SqlOtpStore(deployment.store),
            box=deployment.kek,
            clock=deployment.clock,
            policy=VerificationPolicy(
                totp_window=s.otp_window, hotp_look_ahead=s.otp_hotp_look_ahead
            ),
            lockout=LockoutPolicy(
                delay_after=s.otp_delay_after,
                lock_after=s.otp_lock_after,
                first_delay=s.otp_first_delay,
                max_delay=s.otp_max_delay,
            ),
        )

    def _piv_anchors(self) -> Sequence[x509.Certificate]:
        from tokenstile.factors.piv_config import load_anchor_files

        return load_anchor_files(self.settings.piv_trust_anchors, now=self.deployment.clock.now())

    def _piv_attestation(self) -> AttestationPolicy:
        from tokenstile.factors.piv_config import attestation_policy

        return attestation_policy(self.settings)

    def _piv_service(self) -> PivService:
        from tokenstile.factors.piv_config import PivSettings, revocation_settings
        from tokenstile.factors.piv_revocation import RevocationChecker
        from tokenstile.factors.piv_service import PivService
        from tokenstile.fetch.http import HttpFetcher
        from tokenstile.store.piv_repository import SqlPivStorage

        deployment = self.deployment
        return PivService(
            SqlPivStorage(deployment.store),
            box=deployment.kek,
            clock=deployment.clock,
            settings=PivSettings.from_settings(self.settings),
            file_anchors=self.piv_anchors(),
            revocation=RevocationChecker(
                HttpFetcher(
                    timeout=self.settings.piv_revocation_timeout,
                    max_bytes=self.settings.piv_revocation_max_bytes,
                ),
                revocation_settings(self.settings),
            ),
            attestation=self.piv_attestation,
        )

    def _relying_party(self) -> RelyingParty:
        from tokenstile.factors.webauthn import relying_party_for

        s = self.settings
        return relying_party_for(
            s.issuer_url(), rp_id=s.rp_id, name=s.rp_name, origins=s.webauthn_origins
        )

    def _webauthn_service(self) -> WebAuthnService:
        from tokenstile.factors.webauthn_metadata import read_root
        from tokenstile.factors.webauthn_registration import AttestationPolicy
        from tokenstile.factors.webauthn_service import WebAuthnService
        from tokenstile.store.webauthn_repository import SqlWebAuthnStore

        s = self.settings
        return WebAuthnService(
            SqlWebAuthnStore(self.deployment.store),
            rp=self.relying_party(),
            clock=self.deployment.clock,
            policy=AttestationPolicy.load(
                s.webauthn_aaguids,
                s.webauthn_attestation_roots,
                allow_software_keys=s.webauthn_allow_software_keys,
            ),
            mds_root=read_root(s.webauthn_mds_root) if s.webauthn_mds_root else None,
        )

    def metadata_fetcher(self) -> HttpFetcher:
        """A bounded fetcher for FIDO metadata BLOBs (``webauthn_mds_timeout``, ``_max_bytes``);
        the caller closes it."""
        from tokenstile.fetch.http import HttpFetcher

        s = self.settings
        return HttpFetcher(timeout=s.webauthn_mds_timeout, max_bytes=s.webauthn_mds_max_bytes)

    def metadata_refresh(self, *, interval: float | None = None) -> MetadataRefresh | None:
        """The server's scheduled BLOB refresh, or None when ``webauthn_mds_url`` is unset;
        ``interval`` in seconds (default: ``webauthn_mds_refresh_hours``)."""
        from tokenstile.fetch.mds import MetadataRefresh

        s = self.settings
        if s.webauthn_mds_url is None:
            return None
        return MetadataRefresh(
            self.webauthn_service,
            s.webauthn_mds_url,
            self.metadata_fetcher(),
            interval=interval if interval is not None else s.webauthn_mds_refresh_hours * 3600,
        )


# -- serving -----------------------------------------------------------------------------------


def uvicorn_config(app: Any, *, log_level: str, **options: Any) -> uvicorn.Config:
    """The uvicorn config of every Tokenstile listener: no access log, no server header,
    the process's own logging; ``options`` add what differs (socket, TLS, proxies)."""
    import uvicorn

    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        server_header=False,
        log_config=None,
        **options,
    )


def bind_loopback() -> socket.socket:
    """A listening TCP socket on 127.0.0.1 at a port the system picked."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.set_inheritable(False)
    return listener


class ThreadedServer:
    """An ASGI app under uvicorn on a daemon thread, on a socket bound beforehand.

    Binding first gives the port (and so the URL) before the app exists, without a race
    for a free port. :meth:`stop` asks uvicorn to finish and waits for it.
    """

    def __init__(self, app: Any, listener: socket.socket, *, name: str) -> None:
        import uvicorn

        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        self.name = name
        self._listener = listener
        config = uvicorn_config(app, log_level="warning", lifespan="off")
        self._server: uvicorn.Server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.failure: BaseException | None = None

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._listener])
        except BaseException as exc:  # noqa: BLE001 - start() reports it; a thread cannot raise
            self.failure = exc

    def start(self, timeout: float = 15.0) -> bool:
        """Start serving; whether it started within ``timeout`` (else see ``failure``)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        self._listener.close()
