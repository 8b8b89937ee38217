"""The console offers only what the signed-in person's roles allow, against a real token
service: a helpdesk person, an enroller, an admin; and a helpdesk person issuing a
temporary access code that then signs the person in."""

from __future__ import annotations

import httpx
from pytestqt.qtbot import QtBot

from tests.gui.admin.conftest import ScriptedDialogs, Service, sign_in_with_code
from tests.gui.admin.test_people import search, select
from tokenstile.kiosk.admin.console import AdminWindow
from tokenstile.protocol.roles import Role
from tokenstile.store.roles import set_builtin_roles


def staff(service: Service, prefix: str, role: Role) -> tuple[str, bytes]:
    username, seed = service.add_person(prefix)
    dep = service.deployment
    user = dep.store.find_user(username)
    assert user is not None
    with dep.store.write() as tx:
        set_builtin_roles(tx.connection, user.id, {role}, at=dep.clock.now())
    return username, seed


def tabs(window: AdminWindow) -> list[str]:
    return [
        window.tabs.tabText(i).replace("&", "")
        for i in range(window.tabs.count())
        if window.tabs.isTabVisible(i)
    ]


def offered(window: AdminWindow) -> set[str]:
    page = window.people
    buttons = {
        "add": page.add_button,
        "disable": page.toggle_button,
        "enroll": page.enroll_button,
        "import": page.import_button,
        "access code": page.code_button,
        "revoke": page.revoke_button,
        "revoke session": window.sessions.revoke_button,
    }
    return {name for name, widget in buttons.items() if not widget.isHidden()}


def sign_in(qtbot: QtBot, window: AdminWindow, username: str, seed: bytes) -> None:
    with qtbot.waitSignal(window.people.people_loaded, timeout=10_000):
        sign_in_with_code(qtbot, window, username, seed)


def test_a_helpdesk_person_sees_no_clients_and_may_not_add_or_enroll(
    qtbot: QtBot, service: Service, window: AdminWindow, dialogs: ScriptedDialogs
) -> None:
    username, seed = staff(service, "helper", Role.HELPDESK)
    sign_in(qtbot, window, username, seed)
    assert tabs(window) == ["People", "Sessions", "Audit log"]
    assert offered(window) == {"access code", "revoke"}
    assert window.who.text() == f"Signed in as {username} (helpdesk)"
    # A temporary access code for someone who lost their key: shown once, and it works.
    lost, _ = service.add_person("lostkey")
    search(qtbot, window, lost)
    select(qtbot, window, lost)
    assert window.people.code_button.isEnabled()
    qtbot.waitUntil(lambda: window.people.pending == 0, timeout=10_000)
    window.people.code_button.click()
    assert any(lost in text for text in dialogs.asked)
    qtbot.waitUntil(lambda: "Temporary access code" in window.people.status.text(), timeout=10_000)
    code = window.people.status.text().split(": ")[1].split(" ")[0]
    answer = httpx.post(
        f"{service.url}/login/tac", json={"username": lost, "code": code}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    window.sign_out()
    assert "Temporary access code" not in window.people.status.text()


def test_an_enroller_may_enroll_and_nothing_else(
    qtbot: QtBot, service: Service, window: AdminWindow
) -> None:
    username, seed = staff(service, "enroller", Role.ENROLLER)
    sign_in(qtbot, window, username, seed)
    assert tabs(window) == ["People"]
    assert offered(window) == {"enroll"}


def test_an_admin_is_offered_everything(
    qtbot: QtBot, service: Service, window: AdminWindow
) -> None:
    username, seed = service.add_person("admin", admin=True)
    sign_in(qtbot, window, username, seed)
    assert tabs(window) == ["People", "Sessions", "Clients", "Audit log"]
    assert offered(window) == {
        "add",
        "disable",
        "enroll",
        "import",
        "access code",
        "revoke",
        "revoke session",
    }
