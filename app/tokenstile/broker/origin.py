"""The one decision of a security-key login's WebAuthn origin and rp id, on the person's side.

::

    rp_id, origin = webauthn_origin(server_url, announced_rp_id, pinned_rp_id)

The rp id comes from the server URL the person (``tokenstile login --server``) or the
kiosk's own configuration (``kiosk_server``, the admin console's service) names: its host
name, or ``localhost`` for a loopback address. A pin (``--rp-id``, the ``kiosk_rp_id``
setting) may choose a registrable suffix of that host instead. What the server announces
at ``/login/factors`` is only checked against it: it must be the host itself or a
registrable suffix of it (``login.auth.example`` may announce ``auth.example``), never a
public suffix (``com``, ``co.uk``, ``github.io``: the Public Suffix List, shipped offline
by ``publicsuffixlist``), and it must equal a pin when there is one. The origin the key's
client data carries is ``https://<rp id>``, the origin a deployment accepts by default.

Anything else is :class:`~tokenstile.errors.OriginMismatch`, raised before any key is
touched: a server that announces another site's rp id is a server pretending to be
another (a relay of that site's challenges), whatever else it answers.

The CLI, the kiosk and the admin console all call this; nothing else decides an origin.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from tokenstile.errors import OriginMismatch
from tokenstile.protocol.loopback import is_loopback

LOOPBACK_RP_ID: Final = "localhost"
_DOMAIN: Final = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_PRETENDING: Final = "a server is pretending to be another, so the security key was not used"


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    """The Public Suffix List (the copy the package ships; no network). Unknown top-level
    domains count as public suffixes (the list's ``*`` rule)."""
    return PublicSuffixList()


def is_public_suffix(domain: str) -> bool:
    """``com``, ``co.uk``, ``github.io``, an unknown top-level domain: a name under which
    unrelated parties register their own (never an rp id for a suffix of a host)."""
    return bool(_public_suffixes().is_public(domain))


def server_rp_id(server_url: str) -> str:
    """The rp id of the server URL itself: its host name, ``localhost`` on loopback.
    An IP address (other than loopback) cannot be an rp id: ``OriginMismatch``."""
    host = (urlsplit(server_url.strip()).hostname or "").rstrip(".").lower()
    if is_loopback(host):
        return LOOPBACK_RP_ID
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise OriginMismatch(
            f"The token service is named by the IP address {host}, which cannot be a "
            "WebAuthn rp id: name it by its host name; the security key was not used."
        )
    if not _DOMAIN.match(host):
        raise OriginMismatch(
            f"{server_url!r} does not name a host a security key can sign in for; "
            "the security key was not used."
        )
    return host


def belongs_to(rp_id: str, host: str) -> bool:
    """``rp_id`` is ``host`` itself, or a registrable suffix of it (on a label boundary,
    and not a public suffix)."""
    if rp_id == host:
        return True
    return host.endswith("." + rp_id) and not is_public_suffix(rp_id)


def _domain(value: str) -> str | None:
    """``value`` as a lower-case domain name, or None when it is not one."""
    text = value.strip().lower()
    return text if _DOMAIN.match(text) else None


def _domain_of(host: str, rp_id: str, refusal: str) -> str:
    """``rp_id`` as a domain that ``host`` belongs to, or ``OriginMismatch(refusal)``."""
    domain = _domain(rp_id)
    if domain is None or not belongs_to(domain, host):
        raise OriginMismatch(refusal)
    return domain


def webauthn_origin(
    server_url: str, announced_rp_id: str | None = None, pinned_rp_id: str | None = None
) -> tuple[str, str]:
    """``(rp_id, origin)`` of a security-key login at ``server_url`` (the URL the person
    or the configuration names); ``OriginMismatch`` when the announcement or the pin does
    not belong to that URL's host."""
    host = server_rp_id(server_url)
    rp_id = host
    pinned = None
    if pinned_rp_id is not None:
        pinned = _domain_of(
            host,
            pinned_rp_id,
            f"The security key is set to sign in for {pinned_rp_id!r}, which is not "
            f"{host} (the token service named) or a domain it belongs to: "
            f"{_PRETENDING}. Check the rp id and the server settings.",
        )
        rp_id = pinned
    if announced_rp_id is not None:
        announced = _domain_of(
            host,
            announced_rp_id,
            f"The token service at {host} says its security-key sign-ins are for "
            f"{announced_rp_id!r}, a site it does not belong to: {_PRETENDING}.",
        )
        if pinned is not None and announced != pinned:
            raise OriginMismatch(
                f"The token service at {host} says its security-key sign-ins are for "
                f"{announced}, but this machine is set to sign in for {pinned}: "
                f"{_PRETENDING} (or the settings disagree)."
            )
        rp_id = announced
    return rp_id, f"https://{rp_id}"
