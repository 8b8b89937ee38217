"""The command line keeps the admin API's rules (the username rule; disabling a person ends
their sessions), ``server --workers``, and a usage text that names every command."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import tokenstile.cli.main
from tests.conftest import add_user, kiosk_client, make_deployment
from tests.unit.test_cli import run
from tokenstile.cli.main import _parser
from tokenstile.config import Settings
from tokenstile.tokens.model import ROLE_RULE, USERNAME_RULE


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.mark.parametrize("name", ["al ice", "alice\u200b", "", "x" * 129, "tab\there"])
def test_user_add_refuses_what_the_admin_api_refuses(
    capsys: pytest.CaptureFixture[str], db: str, name: str
) -> None:
    run(capsys, "manage", "--db", db, "init")
    code, out, err = run(capsys, "manage", "--db", db, "user", "add", name)
    assert (code, out, err.strip()) == (1, "", f"tokenstile: {USERNAME_RULE}")


def test_user_add_twice_says_the_name_is_taken(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "manage", "--db", db, "init")
    assert run(capsys, "manage", "--db", db, "user", "add", "bob")[0] == 0
    code, _, err = run(capsys, "manage", "--db", db, "user", "add", "bob")
    assert code == 1
    assert "taken" in err


def test_user_disable_ends_the_persons_live_sessions(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    setup = make_deployment(db)
    try:
        alice = add_user(setup, "alice")
        add_user(setup, "bob")
        service = setup.token_service()
        opened = [
            service.sessions.open_session(
                user=user, client=kiosk_client(setup), factor="otp", amr=["otp"], acr="otp"
            )
            for user in (alice, alice, setup.store.find_user("bob"))
            if user is not None
        ]
    finally:
        setup.close()
    code, out, _ = run(capsys, "manage", "--db", db, "user", "disable", "alice")
    assert (code, out.strip()) == (0, "alice is disabled; 2 sessions ended.")
    check = make_deployment(db)
    try:
        assert {s.revoke_reason for s in check.store.sessions_of("alice")} == {"user_disabled"}
        assert [s.revoked_at for s in check.store.sessions_of("bob")] == [None]
        events = [(e["event"], e["origin"]) for e in check.store.audit_entries()]
        assert events.count(("session_revoked", "tokenstile manage")) == 2
        assert ("user_disabled", "tokenstile manage") in events
        # Enabled again, the old sessions stay ended.
        assert run(capsys, "manage", "--db", db, "user", "enable", "alice")[0] == 0
        assert capsys.readouterr() == ("", "")
        assert check.store.find_user("alice") is not None
        assert all(s.revoked_at for s in check.store.sessions_of("alice"))
        assert len(opened) == 3
    finally:
        check.close()
    code, _, err = run(capsys, "manage", "--db", db, "user", "disable", "nobody")
    assert code == 1
    assert "nobody" in err


def test_server_workers_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: str
) -> None:
    served: list[Settings] = []
    monkeypatch.setattr(
        "tokenstile.server.run.serve", lambda settings, **_: served.append(settings)
    )
    assert run(capsys, "server", "--db", db, "--workers", "3")[0] == 0
    assert [s.workers for s in served] == [3]
    code, _, err = run(capsys, "server", "--db", db, "--workers", "0")
    assert code == 2
    assert "workers" in err
    assert len(served) == 1


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_the_usage_text_names_every_command_and_flag() -> None:
    usage = tokenstile.cli.main.__doc__ or ""
    commands = _commands(_parser())
    for name, parser in commands.items():
        assert f"tokenstile {name}" in usage, name
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in usage, (name, flag)
    for action in _commands(commands["manage"]):
        named = (f"manage --db URL {action}", f"|{action} ", f"/ {action} ")
        assert any(n in usage for n in named), action
    for flag in ("--dpop", "--workers", "--client-id"):
        assert flag in usage


def test_user_role_gives_and_takes_a_role_and_refuses_a_bad_name(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    run(capsys, "manage", "--db", db, "init")
    run(capsys, "manage", "--db", db, "user", "add", "bob")
    manage = ("manage", "--db", db, "user", "role")
    assert run(capsys, *manage, "bob", "supervisor")[:2] == (0, "bob's roles: supervisor.\n")
    assert run(capsys, *manage, "bob", "qa")[:2] == (0, "bob's roles: qa, supervisor.\n")
    assert run(capsys, *manage, "bob", "qa", "--remove")[:2] == (0, "bob's roles: supervisor.\n")
    code, _, err = run(capsys, *manage, "bob", "Super Visor")
    assert (code, err.strip()) == (1, f"tokenstile: {ROLE_RULE}")
    code, _, err = run(capsys, *manage, "nobody", "qa")
    assert code == 1
    assert "No person named 'nobody'" in err
    check = make_deployment(db)
    try:
        roles = [e["detail"] for e in check.store.audit_entries() if e["event"].startswith("role_")]
    finally:
        check.close()
    assert [d["role"] for d in roles] == ["supervisor", "qa", "qa"]
