"""People from an LDAP or Active Directory directory (issue 18): what a directory is, what
one of its entries says, and the sync plan.

The plan is computed whole from one complete read of the directory and the people
Tokenstile has, before anything is written: a directory that goes away mid-read leaves
no plan at all, and a plan is applied in one transaction (``store.directory_repository``).

What a directory decides about the people it manages (``users.directory`` = its name):
they are created when they appear (active), their display name follows the entry, their
admin flag follows ``admin_group_dn`` when one is set, and they are disabled (never
deleted: their audit history stays) when the entry is gone, is outside ``group_dn``, or
carries Active Directory's ``userAccountControl`` ACCOUNTDISABLE bit (0x2). A person the
directory disabled is enabled again when the entry is active again; a person an admin
disabled locally stays disabled. Entries that cannot be trusted (no username, several
or an invalid one, two entries for one name, an unreadable value) are refused in the
report and change nothing about that name, and a person added by hand (or by another
directory) is never taken over.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tokenstile.errors import ConfigError, TokenstileError
from tokenstile.tokens.model import is_valid_username

# A directory's name: what ``users.directory`` and the audit rows carry.
DIRECTORY_NAME_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
DIRECTORY_NAME_RULE = (
    "A directory name is 1 to 64 characters: lower-case letters, digits and _ . -, "
    "starting with a letter."
)
AD_ACCOUNT_DISABLED = 0x2  # userAccountControl ACCOUNTDISABLE ([MS-ADTS] 2.2.16)
MAP_KEYS = ("username", "display_name", "email")
DEFAULT_MAP: Mapping[str, str] = {"username": "uid", "display_name": "displayName", "email": "mail"}
DEFAULT_FILTER = "(objectClass=person)"
MAX_DISPLAY_NAME = 256
_ATTRIBUTE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class DirectoryError(TokenstileError):
    """A directory sync could not read the directory; nothing was changed."""

    code = "directory_error"


class DirectoryUnreachable(DirectoryError):
    code = "directory_unreachable"


class DirectoryBindRefused(DirectoryError):
    code = "directory_bind_refused"


class DirectoryTlsRefused(DirectoryError):
    code = "directory_tls_refused"


class DirectoryBusy(DirectoryError):
    """Another replica (or a ``manage directory sync``) holds this directory's sync lease."""

    code = "directory_sync_busy"


def directory_by(name: str) -> str:
    """How audit rows name a directory as the one who made a change (``detail.by``)."""
    return f"directory {name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryConfig:
    """One directory as ``manage directory add`` stored it; never its password."""

    name: str
    url: str
    bind_dn: str
    password_file: str
    base_dn: str
    search_filter: str = DEFAULT_FILTER
    group_dn: str | None = None
    admin_group_dn: str | None = None
    attribute_map: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MAP))
    ca_file: str | None = None
    starttls: bool = False


def check_directory_name(name: str) -> str:
    if re.fullmatch(DIRECTORY_NAME_PATTERN, name) is None:
        raise ConfigError(DIRECTORY_NAME_RULE)
    return name


def parse_attribute_map(text: str | None) -> dict[str, str]:
    """``username=sAMAccountName,display_name=displayName`` over the defaults."""
    found = dict(DEFAULT_MAP)
    if not text:
        return found
    for part in text.split(","):
        key, sep, attribute = (s.strip() for s in part.partition("="))
        if not sep or key not in MAP_KEYS:
            raise ConfigError(
                f"--map takes KEY=ATTRIBUTE pairs, comma-separated, KEY one of "
                f"{', '.join(MAP_KEYS)}; not {part.strip()!r}."
            )
        if _ATTRIBUTE.fullmatch(attribute) is None:
            raise ConfigError(f"--map: {attribute!r} is not an LDAP attribute name.")
        found[key] = attribute
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryEntry:
    """One person entry as read. ``username``/``display_name`` are None when the entry
    has no such value; ``problem`` says why the entry cannot be used (an unreadable or
    repeated value), in which case the other fields may be incomplete."""

    dn: str
    username: str | None
    display_name: str | None
    account_disabled: bool = False
    problem: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectorySnapshot:
    """One complete read: every entry, and the normalised member DNs of ``group_dn`` and
    ``admin_group_dn`` (None when that group is not configured)."""

    entries: tuple[DirectoryEntry, ...]
    members: frozenset[str] | None = None
    admins: frozenset[str] | None = None


def normalise_dn(dn: str) -> str:
    """A DN compared case- and space-insensitively (what LDAP's own matching does for the
    attribute types directories use in DNs: cn, uid, ou, dc)."""
    return ",".join(part.strip() for part in dn.split(",")).casefold()


def grants_admin(dn: str, admins: frozenset[str] | None) -> bool | None:
    """Whether the directory makes this entry an admin; None when the directory does not
    decide it (no ``admin_group_dn``). The one place that maps a group to a privilege."""
    if admins is None:
        return None
    return normalise_dn(dn) in admins


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalPerson:
    username: str
    display_name: str
    is_admin: bool
    enabled: bool
    directory: str | None
    disabled_by_directory: bool = False  # the last disable was this directory's


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPerson:
    username: str
    display_name: str
    is_admin: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonUpdate:
    username: str
    changes: Mapping[str, Any]  # field -> new value (display_name, is_admin)

    def describe(self, before: LocalPerson | None = None) -> str:
        return ", ".join(f"{key} → {value!r}" for key, value in sorted(self.changes.items()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    dn: str
    username: str | None
    reason: str

    def describe(self) -> str:
        who = repr(self.username) if self.username else "(no username)"
        return f"{who} ({self.dn}): {self.reason}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncPlan:
    create: tuple[NewPerson, ...] = ()
    update: tuple[PersonUpdate, ...] = ()
    disable: tuple[tuple[str, str], ...] = ()  # (username, why)
    enable: tuple[str, ...] = ()
    refused: tuple[Refusal, ...] = ()

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.create),
            "updated": len(self.update),
            "disabled": len(self.disable),
            "enabled": len(self.enable),
            "refused": len(self.refused),
        }

    def lines(self) -> list[str]:
        """The plan, one change a line, for the CLI's report."""
        out = [f"create {p.username}{' (admin)' if p.is_admin else ''}" for p in self.create]
        out += [f"update {u.username}: {u.describe()}" for u in self.update]
        out += [f"disable {name}: {why}" for name, why in self.disable]
        out += [f"enable {name}" for name in self.enable]
        out += [f"refused {r.describe()}" for r in self.refused]
        return out


def check_display_name(value: str | None) -> str | None:
    """The display name to store, or None when it cannot be stored (control characters,
    too long)."""
    text = (value or "").strip()
    if _CONTROL.search(text) or len(text) > MAX_DISPLAY_NAME:
        return None
    return text


def _usable(
    entries: Iterable[DirectoryEntry], refused: list[Refusal]
) -> tuple[dict[str, DirectoryEntry], set[str]]:
    """The entries by casefolded username; the casefolded names no entry may decide."""
    by_name: dict[str, list[DirectoryEntry]] = {}
    held: set[str] = set()
    for entry in entries:
        name = entry.username
        if name is not None:
            by_name.setdefault(name.casefold(), []).append(entry)
        problem = entry.problem
        if problem is None and name is None:
            problem = "the entry has no username attribute"
        elif problem is None and name is not None and not is_valid_username(name):
            problem = "the username is not valid here (1 to 128 visible characters, no spaces)"
        elif problem is None and check_display_name(entry.display_name) is None:
            problem = "the display name holds control characters or is over 256 characters"
        if problem is not None:
            refused.append(Refusal(dn=entry.dn, username=name, reason=problem))
            if name is not None:
                held.add(name.casefold())
    usable: dict[str, DirectoryEntry] = {}
    for key, found in by_name.items():
        if len(found) > 1:
            held.add(key)
            dns = "; ".join(e.dn for e in found)
            reason = f"{len(found)} entries have this username ({dns})"
            refused.extend(Refusal(dn=e.dn, username=e.username, reason=reason) for e in found)
        elif key not in held:
            usable[key] = found[0]
    return usable, held


def plan_sync(name: str, snapshot: DirectorySnapshot, local: Iterable[LocalPerson]) -> SyncPlan:
    """What a sync of directory ``name`` changes, given one complete read of it and every
    person Tokenstile has."""
    refused: list[Refusal] = []
    usable, held = _usable(snapshot.entries, refused)
    people = {p.username.casefold(): p for p in local}
    create: list[NewPerson] = []
    update: list[PersonUpdate] = []
    disable: list[tuple[str, str]] = []
    enable: list[str] = []
    seen: set[str] = set()
    for key, entry in sorted(usable.items()):
        username = entry.username or ""
        display_name = check_display_name(entry.display_name) or ""
        in_group = snapshot.members is None or normalise_dn(entry.dn) in snapshot.members
        active = in_group and not entry.account_disabled
        admin = grants_admin(entry.dn, snapshot.admins)
        person = people.get(key)
        if person is None:
            if active:
                create.append(
                    NewPerson(username=username, display_name=display_name, is_admin=bool(admin))
                )
            continue
        if person.directory != name:
            owner = f"directory {person.directory!r}" if person.directory else "an admin, by hand"
            refused.append(
                Refusal(
                    dn=entry.dn,
                    username=username,
                    reason=f"{person.username!r} was added by {owner}; not taken over",
                )
            )
            continue
        if person.username != username:
            refused.append(
                Refusal(
                    dn=entry.dn,
                    username=username,
                    reason=f"the username differs only in case from {person.username!r}",
                )
            )
            seen.add(key)
            continue
        seen.add(key)
        changes: dict[str, Any] = {}
        if display_name != person.display_name:
            changes["display_name"] = display_name
        if admin is not None and admin != person.is_admin:
            changes["is_admin"] = admin
        if changes:
            update.append(PersonUpdate(username=username, changes=changes))
        if not active and person.enabled:
            why = "not in the group" if not in_group else "disabled in the directory"
            disable.append((username, why))
        elif active and not person.enabled and person.disabled_by_directory:
            enable.append(username)
    for key, person in sorted(people.items()):
        if person.directory == name and key not in seen and key not in held and person.enabled:
            disable.append((person.username, "no longer in the directory"))
    return SyncPlan(
        create=tuple(create),
        update=tuple(update),
        disable=tuple(disable),
        enable=tuple(enable),
        refused=tuple(refused),
    )
