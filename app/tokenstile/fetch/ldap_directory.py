"""One complete read of an LDAP or Active Directory directory, with ldap3.

The connection is LDAPS or LDAP upgraded with StartTLS (a plain ``ldap://`` URL without
StartTLS is refused unless the host is loopback: the bind password would cross the
network in the clear). TLS always verifies the server's certificate and name, against
``ca_file`` when one is given, else the system's CAs. Person entries come in pages
(RFC 2696 simple paged results), so a directory's size limit never truncates the read;
the groups are read whole (``member`` and ``uniqueMember``). Anything that goes wrong —
refused bind, refused certificate, a server that goes away between two pages — raises a
``DirectoryError`` and yields nothing: the caller plans only from a complete read.

Values are decoded as strict UTF-8 here, not by ldap3: a value that is not UTF-8, or a
username with several values, marks its entry as a problem rather than guessing.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import (
    LDAPBindError,
    LDAPException,
    LDAPInvalidCredentialsResult,
    LDAPSocketOpenError,
    LDAPStartTLSError,
)
from ldap3.operation.search import parse_filter

from tokenstile.errors import ConfigError
from tokenstile.protocol.loopback import is_loopback
from tokenstile.tokens.directory import (
    AD_ACCOUNT_DISABLED,
    DirectoryBindRefused,
    DirectoryConfig,
    DirectoryEntry,
    DirectorySnapshot,
    DirectoryTlsRefused,
    DirectoryUnreachable,
    normalise_dn,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 500
TIMEOUT = 30.0
ACCOUNT_CONTROL = "userAccountControl"
MEMBER_ATTRIBUTES = ("member", "uniqueMember")


def check_url(url: str, *, starttls: bool) -> tuple[str, int, bool]:
    """(host, port, ldaps) of an ``ldap://`` or ``ldaps://`` URL, or ``ConfigError``."""
    parts = urlsplit(url)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise ConfigError(f"--url must be ldap://HOST[:PORT] or ldaps://HOST[:PORT], not {url!r}.")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError(f"--url names a server only (no path, query or user): {url!r}.")
    ldaps = parts.scheme == "ldaps"
    if ldaps and starttls:
        raise ConfigError("--starttls is for ldap:// URLs; ldaps:// is TLS from the start.")
    if not ldaps and not starttls and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{url} would send the bind password in the clear: use ldaps:// or --starttls."
        )
    try:
        port = parts.port or (636 if ldaps else 389)
    except ValueError as exc:
        raise ConfigError(f"--url has a bad port: {url!r}.") from exc
    return parts.hostname, port, ldaps


def check_filter(search_filter: str) -> str:
    """``search_filter`` when ldap3 can parse it as an RFC 4515 filter, else ``ConfigError``."""
    try:
        parse_filter(search_filter, None, True, True, None, False)
    except LDAPException as exc:
        raise ConfigError(
            f"--filter {search_filter!r} is not an LDAP filter (RFC 4515), e.g. "
            "(&(objectClass=user)(department=Sales))."
        ) from exc
    return search_filter


class _VerifiedTls(Tls):  # type: ignore[misc]  # ldap3 ships no type information
    """ldap3's ``Tls`` with the standard library's own certificate and name check.

    ldap3 2.9 turns the context's ``check_hostname`` off and checks the name afterwards with
    ``ssl.match_hostname`` (deprecated, and gone in Python 3.12); here the handshake itself
    verifies the chain (against ``ca_file``, else the system's CAs) and the host name, TLS
    1.2 at least.
    """

    def __init__(self, ca_file: str | None, host: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file)
        self._host = host

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        context = ssl.create_default_context(cafile=self.ca_certs_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            connection.socket = context.wrap_socket(
                connection.socket, server_hostname=self._host, do_handshake_on_connect=True
            )
        except OSError:  # ssl.SSLError too: ldap3 would leave the plain socket open
            connection.socket.close()
            raise


def _connect(config: DirectoryConfig, password: str, timeout: float) -> Connection:
    host, port, ldaps = check_url(config.url, starttls=config.starttls)
    secured = ldaps or config.starttls
    server = Server(
        host,
        port=port,
        use_ssl=ldaps,
        tls=_VerifiedTls(config.ca_file, host) if secured else None,
        get_info=NONE,
        connect_timeout=int(timeout),
    )
    conn = Connection(
        server,
        user=config.bind_dn,
        password=password,
        read_only=True,
        raise_exceptions=True,
        receive_timeout=int(timeout),
        auto_referrals=False,
    )
    try:
        conn.open()
        if config.starttls:
            conn.start_tls()
        conn.bind()
    except (LDAPInvalidCredentialsResult, LDAPBindError) as exc:
        _close(conn)
        raise DirectoryBindRefused(
            f"Directory {config.name}: {config.url} refused the bind as {config.bind_dn} "
            "(wrong DN or password?)."
        ) from exc
    except (LDAPSocketOpenError, LDAPStartTLSError, ssl.SSLError) as exc:
        _close(conn)
        if _is_tls_failure(exc):
            trusted = f"trusted by {config.ca_file}" if config.ca_file else "trusted"
            raise DirectoryTlsRefused(
                f"Directory {config.name}: the TLS certificate of {config.url} is not "
                f"{trusted} or does not name {host} ({_reason(exc)})."
            ) from exc
        raise DirectoryUnreachable(
            f"Directory {config.name}: cannot reach {config.url} ({_reason(exc)})."
        ) from exc
    except LDAPException as exc:
        _close(conn)
        raise DirectoryUnreachable(f"Directory {config.name}: {config.url}: {exc}") from exc
    return conn


def _close(conn: Connection) -> None:
    """Unbind, or just drop the socket when the connection is broken already."""
    try:
        conn.unbind()
    except LDAPException:
        log.debug("unbind from a broken directory connection failed")
        sock = getattr(conn, "socket", None)
        if sock is not None:
            sock.close()


def _reason(exc: Exception) -> str:
    """The useful part of an ldap3 socket error (it nests the OS's text in tuples)."""
    text = str(exc)
    found = re.search(r"\[SSL: [A-Z_]+\][^'\"]*", text)
    if found:
        return found.group(0).strip()
    return re.sub(r"[()'\",]+", " ", text).strip()


def _is_tls_failure(exc: Exception) -> bool:
    text = str(exc).lower()
    return isinstance(exc, LDAPStartTLSError) or any(
        word in text for word in ("certificate", "ssl", "tls", "hostname", "valid name")
    )


def _text(values: Sequence[bytes]) -> tuple[str | None, str | None]:
    """(the one value, problem): None/None when absent."""
    if not values:
        return None, None
    if len(values) > 1:
        return None, f"{len(values)} values where one is expected"
    try:
        return values[0].decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "a value is not UTF-8"


def _raw(attributes: Mapping[str, Any], name: str) -> list[bytes]:
    for key, values in attributes.items():
        if key.casefold() == name.casefold():
            return list(values)
    return []


def _entry(
    dn: str, attributes: Mapping[str, Any], attribute_map: Mapping[str, str]
) -> DirectoryEntry:
    username, problem = _text(_raw(attributes, attribute_map["username"]))
    if problem is not None:
        problem = f"username ({attribute_map['username']}): {problem}"
    display_name, display_problem = _text(_raw(attributes, attribute_map["display_name"]))
    if display_problem is not None:
        problem = problem or f"display name ({attribute_map['display_name']}): {display_problem}"
    control, control_problem = _text(_raw(attributes, ACCOUNT_CONTROL))
    disabled = False
    if control is not None:
        try:
            disabled = bool(int(control) & AD_ACCOUNT_DISABLED)
        except ValueError:
            control_problem = "not a number"
    if control_problem is not None:
        problem = problem or f"{ACCOUNT_CONTROL}: {control_problem}"
    return DirectoryEntry(
        dn=dn,
        username=username,
        display_name=display_name,
        account_disabled=disabled,
        problem=problem,
    )


def _members(conn: Connection, config: DirectoryConfig, group_dn: str) -> frozenset[str]:
    conn.search(group_dn, "(objectClass=*)", search_scope=BASE, attributes=list(MEMBER_ATTRIBUTES))
    if not conn.response:
        raise DirectoryUnreachable(f"Directory {config.name}: the group {group_dn} is not there.")
    raw = conn.response[0].get("raw_attributes", {})
    found: set[str] = set()
    for name in MEMBER_ATTRIBUTES:
        for value in _raw(raw, name):
            found.add(normalise_dn(value.decode("utf-8", errors="replace")))
    return frozenset(found)


def read_directory(
    config: DirectoryConfig,
    password: str,
    *,
    page_size: int = PAGE_SIZE,
    timeout: float = TIMEOUT,
    on_page: Callable[[int], None] | None = None,
) -> DirectorySnapshot:
    """Every person entry under ``base_dn`` that ``search_filter`` matches, and the groups'
    members; ``on_page(entries so far)`` after each full page."""
    conn = _connect(config, password, timeout)
    try:
        attributes = sorted({*config.attribute_map.values(), ACCOUNT_CONTROL})
        entries: list[DirectoryEntry] = []
        results: Iterable[dict[str, Any]] = conn.extend.standard.paged_search(
            config.base_dn,
            config.search_filter,
            search_scope=SUBTREE,
            attributes=attributes,
            paged_size=page_size,
            generator=True,
        )
        for item in results:
            if item.get("type") != "searchResEntry":
                continue  # referrals: not followed
            entries.append(_entry(item["dn"], item.get("raw_attributes", {}), config.attribute_map))
            if on_page is not None and len(entries) % page_size == 0:
                on_page(len(entries))
        members = _members(conn, config, config.group_dn) if config.group_dn else None
        admins = _members(conn, config, config.admin_group_dn) if config.admin_group_dn else None
    except LDAPException as exc:
        raise DirectoryUnreachable(
            f"Directory {config.name}: the read from {config.url} broke off: {exc}"
        ) from exc
    finally:
        _close(conn)
    log.info("directory %s: read %d entries", config.name, len(entries))
    return DirectorySnapshot(entries=tuple(entries), members=members, admins=admins)
