"""Whether a host name is this machine: the one place plain HTTP is allowed (DESIGN.md,
"a remote server is spoken to over HTTPS only")."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """``localhost`` or a loopback address (an IPv6 one with or without brackets)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
