"""The OAuth scopes whose meaning both sides share."""

from __future__ import annotations

from typing import Final

ADMIN_SCOPE: Final = "tokenstile:admin"  # the admin API; granted at a login to admins only
