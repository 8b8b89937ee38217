"""The OAuth scopes and audiences whose meaning both sides share."""

from __future__ import annotations

from typing import Final

ADMIN_SCOPE: Final = "tokenstile:admin"  # the admin API; granted at a login to admins only
# The audience the kiosk and the broker receive by default; userinfo accepts it, and an
# offline session's tokens (broker.offline) name it alone.
LOCAL_AUDIENCE: Final = "urn:tokenstile:local"
