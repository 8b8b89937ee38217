"""The built-in roles of the people who run Tokenstile, and what each may do (issue 18).

A role is a row in ``user_roles`` (``store.roles``). Three names are built in:

- ``admin``: everything;
- ``helpdesk``: unlock and resync a factor, revoke a factor, issue a temporary access
  code, see people, factors, sessions and the audit log; never for an administrator,
  and never policy, signing keys, clients or kiosk groups;
- ``enroller``: enroll factors for people (never for an administrator).

The admin API names each of its operations' ``Permission`` (``server.admin_permissions``);
the admin console shows only what the signed-in person's permissions allow (it learns them
from ``GET /admin/me``). Both sides read this one table, so the service and the console
cannot disagree about what a role may do.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Role(StrEnum):
    ADMIN = "admin"
    HELPDESK = "helpdesk"
    ENROLLER = "enroller"


BUILTIN_ROLES: Final = tuple(Role)
# Who may use the admin API at all (and receive the ``tokenstile:admin`` scope).
STAFF_ROLES: Final = frozenset(r.value for r in Role)


class Permission(StrEnum):
    """One kind of admin operation; every admin route is one of these."""

    SELF = "self"  # who am I, what may I do
    PEOPLE_READ = "people.read"
    PEOPLE_MANAGE = "people.manage"  # add, disable, enable, give roles
    SESSIONS_READ = "sessions.read"
    SESSIONS_REVOKE = "sessions.revoke"
    AUDIT_READ = "audit.read"
    FACTORS_READ = "factors.read"
    FACTORS_ENROLL = "factors.enroll"
    FACTORS_IMPORT = "factors.import"  # PSKC seed files: keys of no one yet
    FACTORS_UNLOCK = "factors.unlock"  # clear OTP failures
    FACTORS_RESYNC = "factors.resync"
    FACTORS_UNSUSPEND = "factors.unsuspend"  # a suspected clone: an admin's call
    FACTORS_REVOKE = "factors.revoke"
    ACCESS_CODES_ISSUE = "access_codes.issue"
    CLIENTS_MANAGE = "clients.manage"
    POLICY_MANAGE = "policy.manage"  # kiosk groups, shift lengths


_HELPDESK: Final = frozenset(
    {
        Permission.SELF,
        Permission.PEOPLE_READ,
        Permission.SESSIONS_READ,
        Permission.AUDIT_READ,
        Permission.FACTORS_READ,
        Permission.FACTORS_UNLOCK,
        Permission.FACTORS_RESYNC,
        Permission.FACTORS_REVOKE,
        Permission.ACCESS_CODES_ISSUE,
    }
)
_ENROLLER: Final = frozenset(
    {Permission.SELF, Permission.PEOPLE_READ, Permission.FACTORS_READ, Permission.FACTORS_ENROLL}
)

ROLE_PERMISSIONS: Final[dict[Role, frozenset[Permission]]] = {
    Role.ADMIN: frozenset(Permission),
    Role.HELPDESK: _HELPDESK,
    Role.ENROLLER: _ENROLLER,
}

# Operations about one person that only an admin may do for an administrator: a helpdesk
# or enroller person enrolling a factor for an admin, or handing an admin a temporary
# access code, would be a way to become that admin.
GUARDS_ADMINS: Final = frozenset(
    {
        Permission.FACTORS_ENROLL,
        Permission.ACCESS_CODES_ISSUE,
        Permission.FACTORS_UNLOCK,
        Permission.FACTORS_RESYNC,
    }
)


def builtin_roles(names: object) -> frozenset[Role]:
    """The built-in roles among ``names`` (role names, any iterable of text)."""
    values = {str(n) for n in names} if isinstance(names, (list, tuple, set, frozenset)) else set()
    return frozenset(r for r in Role if r.value in values)


def permissions_of(roles: frozenset[Role] | set[Role]) -> frozenset[Permission]:
    """Everything the holder of ``roles`` may do."""
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


def roles_allowed(permission: Permission) -> tuple[Role, ...]:
    """The roles that hold ``permission``, strongest first (for a refusal's sentence)."""
    return tuple(r for r in Role if permission in ROLE_PERMISSIONS[r])
