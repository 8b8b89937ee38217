"""The sync plan on its own (``tokens.directory.plan_sync``): the cases a real directory
makes awkward to stage — a person another directory manages, an empty read, the attribute
map's refusals. The real-slapd tests are in tests/integration/directory."""

from __future__ import annotations

import pytest

from tokenstile.errors import ConfigError
from tokenstile.tokens.directory import (
    DirectoryEntry,
    DirectorySnapshot,
    LocalPerson,
    check_directory_name,
    grants_admin,
    normalise_dn,
    parse_attribute_map,
    plan_sync,
)


def entry(username: str, **kwargs: object) -> DirectoryEntry:
    return DirectoryEntry(
        dn=f"uid={username},ou=people,dc=example,dc=org",
        username=username,
        display_name=str(kwargs.pop("display_name", username.title())),
        **kwargs,  # type: ignore[arg-type]
    )


def local(username: str, directory: str | None = "corp", **kwargs: object) -> LocalPerson:
    values: dict[str, object] = {
        "username": username,
        "display_name": username.title(),
        "is_admin": False,
        "enabled": True,
        "directory": directory,
        **kwargs,
    }
    return LocalPerson(**values)  # type: ignore[arg-type]


def test_a_person_of_another_directory_is_not_taken_over() -> None:
    plan = plan_sync("corp", DirectorySnapshot(entries=(entry("sam"),)), [local("sam", "hr")])
    assert [r.reason for r in plan.refused] == ["'sam' was added by directory 'hr'; not taken over"]
    assert plan.counts()["created"] == plan.counts()["updated"] == 0


def test_an_empty_read_disables_only_this_directorys_people() -> None:
    plan = plan_sync(
        "corp",
        DirectorySnapshot(entries=()),
        [local("a"), local("b", enabled=False), local("c", None), local("d", "hr")],
    )
    assert plan.disable == (("a", "no longer in the directory"),)


def test_only_people_the_directory_disabled_are_enabled_again() -> None:
    plan = plan_sync(
        "corp",
        DirectorySnapshot(entries=(entry("x"), entry("y"))),
        [local("x", enabled=False, disabled_by_directory=True), local("y", enabled=False)],
    )
    assert plan.enable == ("x",)


def test_an_inactive_entry_creates_nobody() -> None:
    plan = plan_sync("corp", DirectorySnapshot(entries=(entry("z", account_disabled=True),)), [])
    assert plan.create == ()


def test_without_an_admin_group_the_admin_flag_is_left_alone() -> None:
    assert grants_admin("uid=a,dc=x", None) is None
    plan = plan_sync("corp", DirectorySnapshot(entries=(entry("a"),)), [local("a", is_admin=True)])
    assert plan.update == ()


def test_dns_compare_without_case_or_spaces() -> None:
    assert normalise_dn("UID=a, OU=People,dc=X") == normalise_dn("uid=a,ou=people, dc=x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("username", "KEY=ATTRIBUTE"),
        ("phone=telephoneNumber", "KEY one of"),
        ("username=sAM AccountName", "not an LDAP attribute"),
        ("username=(uid=*)", "not an LDAP attribute"),
    ],
)
def test_a_bad_attribute_map_is_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_attribute_map(text)


def test_the_map_overrides_the_defaults() -> None:
    assert parse_attribute_map("username=sAMAccountName") == {
        "username": "sAMAccountName",
        "display_name": "displayName",
        "email": "mail",
    }


@pytest.mark.parametrize("name", ["", "Corp", "1ad", "a b", "x" * 65])
def test_a_bad_directory_name_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="directory name"):
        check_directory_name(name)


def test_values_the_reader_cannot_trust_make_the_entry_a_problem() -> None:
    from tokenstile.fetch.ldap_directory import _entry

    attribute_map = parse_attribute_map(None)
    not_utf8 = _entry("uid=a,dc=x", {"uid": [b"\xff\xfe"]}, attribute_map)
    assert not_utf8.problem == "username (uid): a value is not UTF-8"
    several = _entry("uid=b,dc=x", {"uid": [b"b", b"bee"]}, attribute_map)
    assert several.problem == "username (uid): 2 values where one is expected"
    control = _entry("uid=c,dc=x", {"UID": [b"c"], "userAccountControl": [b"x2"]}, attribute_map)
    assert control.problem == "userAccountControl: not a number"
    fine = _entry("uid=d,dc=x", {"uid": [b"d"], "userAccountControl": [b"66050"]}, attribute_map)
    assert (fine.username, fine.account_disabled, fine.problem) == ("d", True, None)
    plan = plan_sync("corp", DirectorySnapshot(entries=(not_utf8, several)), [local("b")])
    assert [r.username for r in plan.refused] == [None, None]
    # Which name a many-valued entry means is unknown: its person counts as gone (the
    # safe side: disabled, never taken by another).
    assert plan.disable == (("b", "no longer in the directory"),)
