"""Redirect URIs of web and native clients: what may be registered, and what matches.

The authorization server sends a code (or an error) only to a URI its client registered
(RFC 6749 section 3.1.2, RFC 9700 section 4.1.3): compared as exact strings, with one
exception, RFC 8252 section 7.3: a native app's loopback redirect
(``http://127.0.0.1/path`` or ``http://[::1]/path``) matches at any port, because the app
listens on a port the system gives it at the time; its host, path and query still
match exactly. ``localhost`` is refused (RFC 8252 section 8.3: a name can resolve
elsewhere).

What may be registered:

* a web client: ``https://`` URIs (``http://`` on a loopback address, for development);
* a native client: loopback ``http://`` URIs as above, or claimed ``https://`` URIs.

Every URI is absolute, at most ``MAX_REDIRECT_URI`` characters, with a host, with no
user information, fragment, white space, control character or backslash (the tricks by
which two parsers read one URI two ways), and no ``*`` (no wildcards: matching is exact).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from tokenstile.errors import ConfigError

MAX_REDIRECT_URI = 2000
MAX_REDIRECT_URIS = 20

# A loopback redirect of a native app, read the one way we accept it.
_LOOPBACK = re.compile(
    r"http://(?P<host>127\.0\.0\.1|\[::1\])(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<path>/[^?#]*)?(?P<query>\?[^#]*)?"
)
# ``*`` too: matching is exact, so a registered wildcard would only mislead its reader.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\\*]")


class RedirectUriRefused(ConfigError):
    """Not a redirect URI this client kind may register (a CLI or admin input error)."""

    code = "redirect_uri_refused"


def _plain(uri: str) -> bool:
    return 0 < len(uri) <= MAX_REDIRECT_URI and _FORBIDDEN.search(uri) is None


def _loopback_parts(uri: str) -> tuple[str, str, str] | None:
    """``(host, path, query)`` of a loopback redirect, or None if ``uri`` is not one."""
    found = _LOOPBACK.fullmatch(uri) if _plain(uri) else None
    if found is None:
        return None
    port = found.group("port")
    if port is not None and not 0 < int(port) <= 65535:
        return None
    return found.group("host"), found.group("path") or "/", found.group("query") or ""


def _https_ok(uri: str, *, allow_loopback_http: bool) -> bool:
    if not _plain(uri):
        return False
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    if parts.fragment or "#" in uri or "@" in parts.netloc or not parts.hostname:
        return False
    if port is not None and port == 0:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme == "http" and allow_loopback_http:
        try:
            return ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            return False
    return False


def check_registration(kind: str, uris: Sequence[str]) -> tuple[str, ...]:
    """The redirect URIs a ``kind`` (``web``, ``native``) client registers, checked;
    ``RedirectUriRefused``
    names the first one that may not be registered."""
    if not uris:
        raise RedirectUriRefused(f"A {kind} client needs at least one --redirect-uri.")
    if len(uris) > MAX_REDIRECT_URIS:
        raise RedirectUriRefused(f"A client registers at most {MAX_REDIRECT_URIS} redirect URIs.")
    for uri in uris:
        if kind == "native":
            ok = _loopback_parts(uri) is not None or (
                uri.startswith("https://") and _https_ok(uri, allow_loopback_http=False)
            )
            rule = (
                "a native client registers http://127.0.0.1/path or http://[::1]/path "
                "(any port will match) or a claimed https:// URI"
            )
        else:
            ok = _https_ok(uri, allow_loopback_http=True)
            rule = "a web client registers https:// URIs (http:// only on a loopback address)"
        if not ok:
            raise RedirectUriRefused(
                f"{uri[:200]!r} is not a redirect URI this client may register: {rule}, "
                "absolute, without user information, fragment, white space or wildcard."
            )
    return tuple(dict.fromkeys(uris))


def redirect_uri_matches(kind: str, registered: Sequence[str], presented: str) -> bool:
    """Whether ``presented`` is one of ``registered`` (exactly; for a native client, a
    loopback URI at any port)."""
    if not _plain(presented):
        return False
    if presented in registered:
        return True
    if kind != "native":
        return False
    asked = _loopback_parts(presented)
    if asked is None:
        return False
    return any(_loopback_parts(uri) == asked for uri in registered)


def check_logout_registration(
    kind: str, post_logout: Sequence[str], backchannel: str | None
) -> tuple[str, ...]:
    """A client's post-logout redirect URIs (OpenID Connect RP-Initiated Logout 1.0
    section 3.1) and back-channel logout URI (Back-Channel Logout 1.0 section 2.2),
    checked like a web client's redirect URIs: ``https://``, or ``http://`` on a loopback
    address. Only web and native clients have post-logout redirects; only a web client
    (a server the service can reach) a back-channel URI."""
    if post_logout and kind not in ("web", "native"):
        raise RedirectUriRefused("Only web and native clients register post-logout redirects.")
    if len(post_logout) > MAX_REDIRECT_URIS:
        raise RedirectUriRefused(
            f"A client registers at most {MAX_REDIRECT_URIS} post-logout redirect URIs."
        )
    for uri in post_logout:
        if not _https_ok(uri, allow_loopback_http=True):
            raise RedirectUriRefused(
                f"{uri[:200]!r} is not a post-logout redirect URI a client may register: "
                "https:// (http:// only on a loopback address), absolute, without user "
                "information, fragment or white space."
            )
    if backchannel is not None:
        if kind != "web":
            raise RedirectUriRefused("Only web clients register a back-channel logout URI.")
        # Section 2.2: the URI may carry a query, but no fragment.
        if not _https_ok(backchannel, allow_loopback_http=True):
            raise RedirectUriRefused(
                f"{backchannel[:200]!r} is not a back-channel logout URI: https:// (http:// "
                "only on a loopback address), absolute, without user information, "
                "fragment or white space."
            )
    return tuple(dict.fromkeys(post_logout))
