"""LDAP / Active Directory sync against a real OpenLDAP server (``slapd``, started by the
session fixture): create, update, disable, remove, group-based admins, paging past the
server's size limit, a huge group, LDAPS and StartTLS with a test CA (and a wrong CA
refused), a wrong bind password, the server killed mid-sync, and entries that cannot be
trusted. Every change goes through ``DirectorySync``, the code ``manage directory sync``
and the server's periodic sync run."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ldap3
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.admin_tokens import new_admin_headers
from tests.cli_in_process import run_tokenstile
from tests.conftest import add_user, kiosk_client
from tests.integration.directory.slapd import (
    SIZE_LIMIT,
    SUFFIX,
    SYNC_DN,
    SYNC_PASSWORD,
    DirectoryCa,
    Slapd,
    group_ldif,
    ou_ldif,
    person_ldif,
)
from tokenstile.deployment import Deployment
from tokenstile.errors import ConfigError, InvalidGrant
from tokenstile.fetch.ldap_directory import read_directory
from tokenstile.server.app import create_app
from tokenstile.server.directory_sync import DirectorySync, SyncReport
from tokenstile.store import schema as t
from tokenstile.store.admin_repository import AdminRepository, DirectoryOwned
from tokenstile.store.directory_repository import DirectoryRepository
from tokenstile.tokens.directory import (
    DirectoryBindRefused,
    DirectoryConfig,
    DirectoryTlsRefused,
    DirectoryUnreachable,
    parse_attribute_map,
)

pytestmark = pytest.mark.ldap

AD_MAP = "username=sAMAccountName,display_name=displayName,email=mail"
BIG = 2_100


def configure(
    dep: Deployment,
    slapd: Slapd,
    base_dn: str,
    password_file: Path,
    name: str = "corp",
    **overrides: object,
) -> DirectoryConfig:
    values: dict[str, object] = {
        "name": name,
        "url": slapd.url,
        "bind_dn": SYNC_DN,
        "password_file": str(password_file),
        "base_dn": base_dn,
        "attribute_map": parse_attribute_map(AD_MAP),
        **overrides,
    }
    config = DirectoryConfig(**values)  # type: ignore[arg-type]
    DirectoryRepository(dep.store, clock=dep.clock).add(config, origin="test")
    return config


def sync(dep: Deployment, name: str = "corp", **kwargs: bool) -> SyncReport:
    return DirectorySync(dep.store, dep.clock).run(name, **kwargs)


def people(dep: Deployment) -> dict[str, tuple[str, bool, bool, str | None]]:
    """username -> (display name, enabled, is_admin, directory)."""
    u = t.users
    with dep.engine.connect() as conn:
        rows = conn.execute(
            select(u.c.username, u.c.display_name, u.c.enabled, u.c.is_admin, u.c.directory)
        ).all()
    return {
        r.username: (r.display_name, bool(r.enabled), bool(r.is_admin), r.directory) for r in rows
    }


def user_count(dep: Deployment) -> int:
    with dep.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.users)).scalar_one())


def ad_person(ou: str, sam: str, display_name: str, control: int = 512) -> str:
    return person_ldif(ou, sam, display_name=display_name, control=control, sam=sam)


def set_control(slapd: Slapd, ou: str, uid: str, control: int) -> None:
    slapd.modify(
        f"dn: uid={uid},{ou}\nchangetype: modify\nreplace: userAccountControl\n"
        f"userAccountControl: {control}\n\n"
    )


# -- create, update, disable, remove -----------------------------------------------------


def test_people_follow_the_directory_and_are_never_deleted(
    deployment: Deployment, slapd: Slapd, people_ou: str, password_file: Path
) -> None:
    slapd.add(
        ad_person(people_ou, "alice", "Alice Liddell")
        + ad_person(people_ou, "bob", "Bob Builder")
        + ad_person(people_ou, "carol", "Carol Gone", control=514)  # ACCOUNTDISABLE
    )
    configure(deployment, slapd, people_ou, password_file)

    first = sync(deployment)
    assert first.plan.counts()["created"] == 2
    assert people(deployment) == {
        "alice": ("Alice Liddell", True, False, "corp"),
        "bob": ("Bob Builder", True, False, "corp"),
    }

    bob = deployment.store.find_user("bob")
    assert bob is not None
    tokens = deployment.token_service().sessions.open_session(
        user=bob, client=kiosk_client(deployment), factor="otp", amr=["otp"], acr="otp"
    )
    slapd.modify(
        f"dn: uid=alice,{people_ou}\nchangetype: modify\nreplace: displayName\n"
        "displayName: Alice Kingsleigh\n\n"
    )
    set_control(slapd, people_ou, "bob", 514)

    second = sync(deployment)
    assert [u.username for u in second.plan.update] == ["alice"]
    assert second.plan.disable == (("bob", "disabled in the directory"),)
    assert people(deployment)["alice"][0] == "Alice Kingsleigh"
    assert people(deployment)["bob"][1] is False
    # bob's session ended with his account: his refresh token is refused.
    with pytest.raises(InvalidGrant):
        deployment.token_service().refresh_grant.refresh(
            refresh_token=tokens.refresh_token, client=kiosk_client(deployment)
        )
    revoked = [
        e
        for e in deployment.store.audit_entries()
        if e["event"] == "session_revoked" and e["username"] == "bob"
    ]
    assert len(revoked) == 1
    assert revoked[0]["detail"]["by"] == "directory corp"

    slapd.delete(f"uid=alice,{people_ou}")
    third = sync(deployment)
    assert third.plan.disable == (("alice", "no longer in the directory"),)
    assert people(deployment)["alice"] == ("Alice Kingsleigh", False, False, "corp")

    set_control(slapd, people_ou, "bob", 512)
    fourth = sync(deployment)
    assert fourth.plan.enable == ("bob",)
    assert people(deployment)["bob"][1] is True
    # Nobody was ever deleted: the audit history still has its people.
    assert set(people(deployment)) == {"alice", "bob"}
    assert sync(deployment).plan.counts() == dict.fromkeys(
        ("created", "updated", "disabled", "enabled", "refused"), 0
    )


def test_local_edits_of_what_the_directory_decides_are_refused(
    deployment: Deployment, slapd: Slapd, people_ou: str, password_file: Path
) -> None:
    slapd.add(ad_person(people_ou, "dora", "Dora") + ad_person(people_ou, "eve", "Eve"))
    configure(deployment, slapd, people_ou, password_file)
    sync(deployment)
    set_control(slapd, people_ou, "dora", 514)
    sync(deployment)
    db = str(deployment.settings.db)

    # The directory disabled dora: enabling her here is refused, naming the directory,
    # through the CLI and through the admin API's store path alike.
    done = run_tokenstile("manage", "--db", db, "user", "enable", "dora")
    assert done.returncode != 0
    assert "directory 'corp'" in done.stderr
    admin = AdminRepository(deployment.store, clock=deployment.clock)
    with pytest.raises(DirectoryOwned, match="corp"):
        admin.set_enabled("dora", True, by="admin", origin=None)
    with TestClient(create_app(deployment), base_url="https://auth.example") as http:
        headers = new_admin_headers(deployment)
        refused = http.post("/admin/users/enable", json={"username": "dora"}, headers=headers)
        listed = http.get("/admin/users", params={"q": "dora"}, headers=headers).json()
    assert [(p["username"], p["directory"]) for p in listed["users"]] == [("dora", "corp")]
    assert refused.status_code == 409
    assert "directory 'corp'" in refused.text
    assert people(deployment)["dora"][1] is False

    # An admin may always disable a directory person; the sync never undoes that...
    assert run_tokenstile("manage", "--db", db, "user", "disable", "eve").returncode == 0
    assert sync(deployment).plan.enable == ()
    assert people(deployment)["eve"][1] is False
    # ... and the admin may undo their own disable.
    assert run_tokenstile("manage", "--db", db, "user", "enable", "eve").returncode == 0
    assert people(deployment)["eve"][1] is True


def test_a_person_added_by_hand_is_not_taken_over(
    deployment: Deployment, slapd: Slapd, people_ou: str, password_file: Path
) -> None:
    add_user(deployment, "frank", display_name="Frank Local", is_admin=True)
    add_user(deployment, "gina", display_name="Gina Local")
    slapd.add(
        ad_person(people_ou, "frank", "Frank From AD")
        + ad_person(people_ou, "Gina", "Gina From AD")  # differs in case only
        + ad_person(people_ou, "hal", "Hal")
    )
    configure(deployment, slapd, people_ou, password_file)
    report = sync(deployment)
    refused = {r.username: r.reason for r in report.plan.refused}
    assert refused == {
        "frank": "'frank' was added by an admin, by hand; not taken over",
        "Gina": "'gina' was added by an admin, by hand; not taken over",
    }
    found = people(deployment)
    assert found["frank"] == ("Frank Local", True, True, None)
    assert found["gina"] == ("Gina Local", True, False, None)
    assert found["hal"][3] == "corp"
    assert "Gina" not in found


# -- groups --------------------------------------------------------------------------------


def test_group_membership_decides_who_is_active_and_who_is_admin(
    deployment: Deployment, slapd: Slapd, people_ou: str, password_file: Path
) -> None:
    staff, admins = f"cn=staff,{people_ou}", f"cn=admins,{people_ou}"
    ivy, jon = (f"uid={n},{people_ou}" for n in ("ivy", "jon"))
    slapd.add(
        ad_person(people_ou, "ivy", "Ivy")
        + ad_person(people_ou, "jon", "Jon")
        + ad_person(people_ou, "kim", "Kim")
        # member DNs as an admin might type them: other case, spaces after commas
        + group_ldif(staff, [ivy.upper(), jon.replace(",", ", ")])
        + group_ldif(admins, [ivy])
    )
    configure(deployment, slapd, people_ou, password_file, group_dn=staff, admin_group_dn=admins)
    sync(deployment)
    assert people(deployment) == {
        "ivy": ("Ivy", True, True, "corp"),
        "jon": ("Jon", True, False, "corp"),
    }
    assert admin_roles(deployment) == {"ivy"}

    slapd.modify(
        f"dn: {staff}\nchangetype: modify\ndelete: member\nmember: {jon}\n\n"
        f"dn: {admins}\nchangetype: modify\nreplace: member\nmember: {jon}\n\n"
    )
    report = sync(deployment)
    assert report.plan.disable == (("jon", "not in the group"),)
    assert people(deployment) == {
        "ivy": ("Ivy", True, False, "corp"),
        "jon": ("Jon", False, True, "corp"),
    }
    assert admin_roles(deployment) == {"jon"}  # the role the admin API reads, in step


def admin_roles(deployment: Deployment) -> set[str]:
    """Who holds the built-in admin role (``user_roles``, what the admin API enforces)."""
    u, r = t.users, t.user_roles
    with deployment.engine.connect() as conn:
        rows = conn.execute(
            select(u.c.username)
            .select_from(u.join(r, r.c.user_id == u.c.id))
            .where(r.c.role == "admin")
        ).scalars()
        return set(rows)


# -- size: paging and a huge group -----------------------------------------------------------


@pytest.fixture(scope="module")
def big_ou(slapd: Slapd) -> str:
    """``BIG`` people (more than the server's size limit) and a group of all of them."""
    ou = f"ou=big,{SUFFIX}"
    dns = [f"uid=p{i:04d},{ou}" for i in range(BIG)]
    slapd.add(
        ou_ldif(ou)
        + "".join(ad_person(ou, f"p{i:04d}", f"Person {i}") for i in range(BIG))
        + group_ldif(f"cn=everyone,{ou}", dns)
    )
    return ou


def test_a_paged_search_reads_past_the_size_limit_and_a_huge_group(
    deployment: Deployment, slapd: Slapd, big_ou: str, password_file: Path
) -> None:
    # A plain search stops at the server's size limit ...
    plain = ldap3.Connection(ldap3.Server(slapd.url), SYNC_DN, SYNC_PASSWORD, auto_bind=True)
    try:
        plain.search(big_ou, "(objectClass=person)", attributes=["uid"])
        assert plain.result["description"] == "sizeLimitExceeded"
        assert len(plain.response) == SIZE_LIMIT
    finally:
        plain.unbind()
    # ... the sync's paged search does not, and every member of the huge group counts.
    configure(deployment, slapd, big_ou, password_file, group_dn=f"cn=everyone,{big_ou}")
    report = sync(deployment)
    assert report.plan.counts()["created"] == BIG
    assert user_count(deployment) == BIG
    assert all(enabled for _, enabled, _, _ in people(deployment).values())


def test_the_server_killed_mid_sync_leaves_nothing_half_applied(
    deployment: Deployment, slapd: Slapd, big_ou: str, password_file: Path
) -> None:
    configure(deployment, slapd, big_ou, password_file)
    pages: list[int] = []

    def kill_after_first_page(config: DirectoryConfig, password: str) -> object:
        def on_page(count: int) -> None:
            pages.append(count)
            slapd.kill()

        return read_directory(config, password, page_size=500, on_page=on_page)

    broken = DirectorySync(deployment.store, deployment.clock, reader=kill_after_first_page)  # type: ignore[arg-type]
    try:
        with pytest.raises(DirectoryUnreachable, match="broke off"):
            broken.run("corp")
    finally:
        slapd.start()
    assert pages == [500]
    assert user_count(deployment) == 0  # the first page's 500 people were never written
    (status,) = DirectoryRepository(deployment.store, clock=deployment.clock).statuses()
    assert status.last_error is not None
    assert "broke off" in status.last_error
    # The failed sync gave its lease back: the next one runs at once, and completes.
    assert sync(deployment).plan.counts()["created"] == BIG


# -- TLS -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_tls_with_the_directory_ca_and_a_wrong_ca_refused(
    deployment: Deployment,
    slapd: Slapd,
    people_ou: str,
    password_file: Path,
    *,
    tmp_path: Path,
    mode: str,
) -> None:
    slapd.add(ad_person(people_ou, "lena", "Lena"))
    stranger = tmp_path / "stranger-ca.pem"
    stranger.write_bytes(DirectoryCa.make("A CA the directory never used").cert_pem)
    url = slapd.ldaps_url if mode == "ldaps" else slapd.url
    starttls = mode == "starttls"
    configure(
        deployment, slapd, people_ou, password_file, "wrong", url=url, starttls=starttls,
        ca_file=str(stranger),
    )  # fmt: skip
    with pytest.raises(DirectoryTlsRefused, match="not trusted by"):
        sync(deployment, "wrong")
    assert user_count(deployment) == 0

    configure(
        deployment, slapd, people_ou, password_file, "right", url=url, starttls=starttls,
        ca_file=str(slapd.ca_file),
    )  # fmt: skip
    assert sync(deployment, "right").plan.counts()["created"] == 1


def test_a_plain_ldap_url_to_a_remote_host_is_refused(
    deployment: Deployment, password_file: Path
) -> None:
    db = str(deployment.settings.db)
    common = ["--bind-dn", SYNC_DN, "--password-file", str(password_file), "--base-dn", SUFFIX]
    done = run_tokenstile(
        "manage", "--db", db, "directory", "add", "x", "--url", "ldap://ldap.example.org", *common
    )
    assert done.returncode != 0
    assert "in the clear" in done.stderr
    done = run_tokenstile(
        "manage", "--db", db, "directory", "add", "x", "--url", "ldaps://ldap.example.org",
        "--starttls", *common,
    )  # fmt: skip
    assert done.returncode != 0
    assert "--starttls is for ldap://" in done.stderr
    done = run_tokenstile(
        "manage", "--db", db, "directory", "add", "x", "--url", "ldaps://ldap.example.org",
        "--filter", "(&(objectClass=user)", *common,
    )  # fmt: skip
    assert done.returncode != 0
    assert "is not an LDAP filter" in done.stderr
    assert "x" not in {
        s.config.name
        for s in DirectoryRepository(deployment.store, clock=deployment.clock).statuses()
    }


# -- credentials ----------------------------------------------------------------------------


def test_a_wrong_bind_password_is_a_clear_error_that_never_shows_the_password(
    deployment: Deployment,
    slapd: Slapd,
    people_ou: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slapd.add(ad_person(people_ou, "mia", "Mia"))
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password-7c1e\n")
    wrong.chmod(0o600)
    configure(deployment, slapd, people_ou, wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DirectoryBindRefused, match="refused the bind as cn=tokenstile") as caught:
        sync(deployment)
    assert "not-the-password" not in caught.value.message
    assert user_count(deployment) == 0
    db = str(deployment.settings.db)
    done = run_tokenstile("manage", "--db", db, "directory", "sync", "corp")
    assert done.returncode == 1
    assert "refused the bind" in done.stdout
    listed = run_tokenstile("manage", "--db", db, "directory", "list").stdout
    assert "refused the bind" in listed
    everything = caplog.text + done.stdout + done.stderr + listed
    assert "not-the-password" not in everything
    with deployment.engine.connect() as conn:
        stored = " ".join(str(v) for v in conn.execute(select(t.directories)).one())
    assert "not-the-password" not in stored


def test_a_password_file_others_can_read_is_refused(
    deployment: Deployment, slapd: Slapd, people_ou: str, password_file: Path
) -> None:
    configure(deployment, slapd, people_ou, password_file)
    password_file.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by every user"):
        sync(deployment)


# -- entries that cannot be trusted ---------------------------------------------------------


def test_bad_entries_are_refused_and_the_rest_synced(
    deployment: Deployment, slapd: Slapd, people_ou: str, password_file: Path
) -> None:
    slapd.add(ad_person(people_ou, "twin", "Twin One") + ad_person(people_ou, "zoë", "Zoë 山田 🙂"))
    configure(deployment, slapd, people_ou, password_file)
    sync(deployment)
    slapd.add(
        person_ldif(people_ou, "noname", display_name="No Username", control=512)  # no sAM
        + person_ldif(people_ou, "twin2", display_name="Twin Two", sam="TWIN", control=512)
        + person_ldif(people_ou, "spaced", display_name="S", sam="john smith", control=512)
        + person_ldif(people_ou, "hidden", display_name="H", sam="ev\u200bil", control=512)
        + person_ldif(people_ou, "bell", display_name="Ring\x07Ring", sam="bell", control=512)
        + ad_person(people_ou, "nora", "Nora Ünal")
    )
    report = sync(deployment)
    reasons = {(r.username, r.reason.split(" (")[0]) for r in report.plan.refused}
    assert reasons == {
        (None, "the entry has no username attribute"),
        ("twin", "2 entries have this username"),
        ("TWIN", "2 entries have this username"),
        ("john smith", "the username is not valid here"),
        ("ev\u200bil", "the username is not valid here"),
        ("bell", "the display name holds control characters or is over 256 characters"),
    }
    found = people(deployment)
    # The good entry still synced; the odd encodings arrived intact.
    assert found["nora"] == ("Nora Ünal", True, False, "corp")
    assert found["zoë"] == ("Zoë 山田 🙂", True, False, "corp")
    # A name two entries claim changes nothing: twin is neither updated nor disabled.
    assert found["twin"] == ("Twin One", True, False, "corp")
    assert not {"john smith", "ev\u200bil", "bell", "TWIN"} & set(found)


# -- the CLI -------------------------------------------------------------------------------


def test_manage_directory_add_dry_run_sync_and_list(
    deployment: Deployment, slapd: Slapd, people_ou: str, password_file: Path
) -> None:
    slapd.add(ad_person(people_ou, "olga", "Olga") + ad_person(people_ou, "pete", "Pete", 514))
    db = str(deployment.settings.db)
    added = run_tokenstile(
        "manage", "--db", db, "directory", "add", "corp", "--url", slapd.ldaps_url,
        "--ca-file", str(slapd.ca_file), "--bind-dn", SYNC_DN,
        "--password-file", str(password_file), "--base-dn", people_ou, "--map", AD_MAP,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    dry = run_tokenstile("manage", "--db", db, "directory", "sync", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "corp: would create olga" in dry.stdout
    assert "dry run, nothing written" in dry.stdout
    assert user_count(deployment) == 0
    # A real process once (the in-process runs above share its code).
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), "app") if p),
    }
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "tokenstile.cli", "manage", "--db", db, "directory", "sync", "corp"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "corp: create olga" in done.stdout
    assert "corp: synced: 1 created" in done.stdout
    listed = run_tokenstile("manage", "--db", db, "directory", "list").stdout
    assert "corp\t" + slapd.ldaps_url in listed
    assert "1 created" in listed
    again = run_tokenstile("manage", "--db", db, "directory", "add", "corp", "--url", slapd.url,
                           "--bind-dn", SYNC_DN, "--password-file", str(password_file),
                           "--base-dn", people_ou)  # fmt: skip
    assert again.returncode != 0
    assert "exists already" in again.stderr
