"""The FIDO metadata BLOB from its URL: once (``manage fido2 metadata load URL``) or every
few hours in the server (``MetadataRefresh``).

A URL is https, or http on loopback only (the tests' own MDS): the BLOB's signature is what
makes it trusted, but a plain-HTTP fetch across a network would let anyone on the path hold
back new BLOBs unseen. The fetch is ``HttpFetcher``'s: no redirects, a time limit, a size
limit read as a stream. What comes back is verified exactly like a file
(``WebAuthnService.load_metadata``).

The refresh keeps the loaded BLOB whatever goes wrong: a BLOB that is not newer is the
normal case (logged at debug); a failed fetch or a BLOB that does not verify is logged as a
warning and audited once (``fido2_metadata_refresh_failed``), until a refresh succeeds or
fails differently. Every replica of a fleet may run one: the loads are ordered in the
database and the second load of one ``no`` changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from tokenstile.background import BackgroundLoop
from tokenstile.errors import TokenstileError
from tokenstile.factors.piv_revocation import FetchFailed
from tokenstile.factors.webauthn_metadata import (
    MetadataNotNewer,
    MetadataRefused,
    MetadataUnavailable,
)
from tokenstile.factors.webauthn_service import LoadedMetadata, WebAuthnConflict, WebAuthnService
from tokenstile.fetch.http import HttpFetcher
from tokenstile.protocol.loopback import is_loopback

log = logging.getLogger(__name__)

REFRESH_ORIGIN = "metadata refresh"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


def is_url(source: str) -> bool:
    """Whether ``manage fido2 metadata load`` was given a URL rather than a file."""
    return "://" in source


def check_url(url: str) -> str:
    """``url`` if it is https://, or http:// on loopback; ``MetadataUnavailable`` otherwise."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise MetadataUnavailable(f"{url!r} is not a URL.") from exc
    if parts.scheme not in ("https", "http") or not host:
        raise MetadataUnavailable(f"{url!r} is not an https:// URL.")
    if parts.username or parts.password:
        raise MetadataUnavailable("The metadata URL must not carry a user name or password.")
    if parts.scheme == "http" and not is_loopback(host):
        raise MetadataUnavailable(
            f"{url}: the metadata is fetched over https:// only (plain http on loopback)."
        )
    return url


def shown(url: str) -> str:
    """``url`` as logs and the audit show it: without its query (a token could be there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.query else url


def fetch_blob(url: str, fetcher: HttpFetcher) -> bytes:
    """The BLOB at ``url`` (not yet verified); ``MetadataUnavailable`` saying why not."""
    try:
        return fetcher.get(check_url(url))
    except FetchFailed as exc:
        reason = exc.message.replace(url, shown(url))
        raise MetadataUnavailable(f"Cannot fetch the FIDO metadata: {reason}") from exc


class MetadataRefresh(BackgroundLoop):
    """Fetch and load the BLOB at start-up and every ``interval`` seconds, on a daemon
    thread of the server."""

    def __init__(
        self,
        service: Callable[[], WebAuthnService],
        url: str,
        fetcher: HttpFetcher,
        *,
        interval: float,
    ) -> None:
        super().__init__("tokenstile-metadata-refresh", interval)
        self._service = service
        self._url = url
        self._fetcher = fetcher
        self._failure: str | None = None  # the last failure audited, until a success

    def _stopped(self) -> None:
        self._fetcher.close()

    def run_once(self) -> LoadedMetadata | None:
        """One refresh; the BLOB loaded, or None (not newer, or failed: logged)."""
        try:
            service = self._service()
            loaded = service.load_metadata(
                fetch_blob(self._url, self._fetcher), by=REFRESH_ORIGIN, origin=REFRESH_ORIGIN
            )
        except (MetadataNotNewer, WebAuthnConflict) as exc:
            log.debug("FIDO metadata refresh: nothing new (%s)", exc.message)
            self._failure = None
            return None
        except (MetadataRefused, MetadataUnavailable) as exc:
            self._failed(exc.code, exc.message)
            return None
        except TokenstileError as exc:
            self._failed(exc.code, exc.message)
            return None
        except Exception as exc:
            log.exception("FIDO metadata refresh failed")
            self._failed("error", type(exc).__name__)
            return None
        self._failure = None
        log.info(
            "FIDO metadata BLOB number %d loaded from %s; %d credentials suspended.",
            loaded.no,
            shown(self._url),
            len(loaded.suspended),
        )
        return loaded

    def _failed(self, code: str, message: str) -> None:
        log.warning(
            "FIDO metadata refresh from %s failed; the loaded BLOB stays: %s",
            shown(self._url),
            message,
        )
        if self._failure == message:
            return
        try:
            self._service().audit_metadata_failure(
                code, message, url=shown(self._url), origin=REFRESH_ORIGIN
            )
        except TokenstileError as exc:
            log.warning("Cannot audit the failed FIDO metadata refresh: %s", exc.message)
            return
        self._failure = message

    def _loop(self) -> None:
        self.run_once()
        while not self._stop.wait(self._interval):
            self.run_once()
