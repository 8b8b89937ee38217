"""Which ``Permission`` each admin API operation needs (``protocol.roles``), in one table.

``BearerAuth`` looks the request's method and path up here after the token was checked:

- an operation a caller's roles do not allow: 403 ``insufficient_role``, a sentence that
  names the roles that may (``This needs the role admin or helpdesk.``), and an audit row
  ``admin_refused``;
- an operation with no rule at all (a route added without one): allowed to ``admin``
  only, refused to everyone else; ``tests/integration/server/test_roles.py`` enumerates the
  application's admin routes and fails for any route missing from this table;
- an operation about one person (``GUARDS_ADMINS``) whose body names an administrator:
  refused to anyone who is not an admin (a helpdesk person handing an admin a temporary
  access code, or an enroller adding a key to an admin's account, would become them).
"""

from __future__ import annotations

from typing import Final

from tokenstile.protocol.roles import Permission

P = Permission

ADMIN_OPERATIONS: Final[dict[tuple[str, str], Permission]] = {
    ("GET", "/admin/me"): P.SELF,
    # people
    ("GET", "/admin/users"): P.PEOPLE_READ,
    ("POST", "/admin/users"): P.PEOPLE_MANAGE,
    ("POST", "/admin/users/disable"): P.PEOPLE_MANAGE,
    ("POST", "/admin/users/enable"): P.PEOPLE_MANAGE,
    ("POST", "/admin/users/roles"): P.PEOPLE_MANAGE,
    # sessions and the audit log
    ("GET", "/admin/sessions"): P.SESSIONS_READ,
    ("POST", "/admin/sessions/revoke"): P.SESSIONS_REVOKE,
    ("GET", "/admin/audit"): P.AUDIT_READ,
    ("GET", "/admin/audit/export"): P.AUDIT_READ,
    # clients and kiosk groups
    ("GET", "/admin/clients"): P.CLIENTS_MANAGE,
    ("POST", "/admin/clients"): P.CLIENTS_MANAGE,
    ("POST", "/admin/clients/update"): P.CLIENTS_MANAGE,
    ("POST", "/admin/clients/rotate-secret"): P.CLIENTS_MANAGE,
    ("POST", "/admin/clients/disable"): P.CLIENTS_MANAGE,
    ("POST", "/admin/clients/enable"): P.CLIENTS_MANAGE,
    ("GET", "/admin/kiosk-groups"): P.POLICY_MANAGE,
    ("POST", "/admin/kiosk-groups/set"): P.POLICY_MANAGE,
    ("POST", "/admin/kiosk-groups/assign"): P.POLICY_MANAGE,
    # OTP
    ("POST", "/admin/otp/totp"): P.FACTORS_ENROLL,
    ("POST", "/admin/otp/hotp"): P.FACTORS_ENROLL,
    ("POST", "/admin/otp/confirm"): P.FACTORS_ENROLL,
    ("POST", "/admin/otp/assign"): P.FACTORS_ENROLL,
    ("POST", "/admin/otp/import"): P.FACTORS_IMPORT,
    ("GET", "/admin/otp/credentials"): P.FACTORS_READ,
    ("POST", "/admin/otp/revoke"): P.FACTORS_REVOKE,
    ("POST", "/admin/otp/unlock"): P.FACTORS_UNLOCK,
    ("POST", "/admin/otp/resync"): P.FACTORS_RESYNC,
    # security keys
    ("POST", "/admin/fido2/register/begin"): P.FACTORS_ENROLL,
    ("POST", "/admin/fido2/register/complete"): P.FACTORS_ENROLL,
    ("GET", "/admin/fido2/credentials"): P.FACTORS_READ,
    ("POST", "/admin/fido2/revoke"): P.FACTORS_REVOKE,
    ("POST", "/admin/fido2/unsuspend"): P.FACTORS_UNSUSPEND,
    # PIV cards
    ("POST", "/admin/piv/cards"): P.FACTORS_ENROLL,
    ("POST", "/admin/piv/issue"): P.FACTORS_ENROLL,
    ("POST", "/admin/piv/setup-audit"): P.FACTORS_ENROLL,
    ("GET", "/admin/piv/cards"): P.FACTORS_READ,
    ("GET", "/admin/piv/ca"): P.FACTORS_READ,
    ("POST", "/admin/piv/revoke"): P.FACTORS_REVOKE,
    # temporary access codes
    ("POST", "/admin/access-codes"): P.ACCESS_CODES_ISSUE,
}


def permission_for(method: str, path: str) -> Permission | None:
    """The permission of an admin operation; None for one without a rule (admin only)."""
    return ADMIN_OPERATIONS.get((method.upper(), path.rstrip("/") or "/"))
