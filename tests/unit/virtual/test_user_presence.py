"""User presence: approve, deny, time out, and a platform that cancels while the key waits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from fido2.client import ClientError
from fido2.ctap import STATUS, CtapError
from fido2.ctap2 import Ctap2

from tests.unit.virtual.ceremony import (
    ScriptedUser,
    client_for,
    ctap_cause,
    login_usernameless,
    new_key,
    register,
    rp_server,
)
from tokenstile.virtual import TouchSensor, always_deny

ERR = CtapError.ERR


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_cancel_event_aborts_a_login_waiting_for_a_touch() -> None:
    sensor = TouchSensor(timeout=10)
    device = new_key(presence=sensor)
    server = rp_server()
    sensor.touch()
    credential = register(client_for(device), server, "alice")
    user = ScriptedUser()
    client = client_for(device, user)
    cancel = threading.Event()
    options, _ = server.authenticate_begin(user_verification="required")

    thread, errors = _in_thread(lambda: client.get_assertion(options.public_key, event=cancel))
    assert sensor.waiting.wait(5), "the key never asked for a touch"
    cancel.set()
    thread.join(5)

    assert not thread.is_alive()
    [error] = errors
    assert isinstance(error, ClientError)
    assert error.code == ClientError.ERR.TIMEOUT
    assert ctap_cause(error) == ERR.KEEPALIVE_CANCEL
    assert user.touch_prompts == 1  # the keep-alive "touch your key" reached the user
    assert device.authenticator.credentials()[0].sign_count == 0
    del credential


def test_a_touch_from_another_thread_completes_the_login() -> None:
    sensor = TouchSensor(timeout=10)
    device = new_key(presence=sensor)
    server = rp_server()
    sensor.touch()
    credential = register(client_for(device), server, "alice")
    results: list[int] = []

    thread, errors = _in_thread(
        lambda: results.append(login_usernameless(client_for(device), server, [credential])[1])
    )
    assert sensor.waiting.wait(5)
    sensor.touch()
    thread.join(5)
    assert errors == []
    assert results == [1]


def test_denied_presence_is_operation_denied() -> None:
    device = new_key(presence=always_deny)
    with pytest.raises(ClientError) as caught:
        register(client_for(device), rp_server(), "alice")
    assert ctap_cause(caught.value) == ERR.OPERATION_DENIED
    assert device.authenticator.credentials() == []


def test_a_user_who_denies_on_the_sensor() -> None:
    sensor = TouchSensor(timeout=10)
    device = new_key(presence=sensor)
    sensor.deny()
    with pytest.raises(ClientError) as caught:
        register(client_for(device), rp_server(), "alice")
    assert ctap_cause(caught.value) == ERR.OPERATION_DENIED


def test_no_touch_in_time_is_a_user_action_timeout() -> None:
    device = new_key(presence=TouchSensor(timeout=0.05))
    with pytest.raises(ClientError) as caught:
        register(client_for(device), rp_server(), "alice")
    assert caught.value.code == ClientError.ERR.TIMEOUT
    assert ctap_cause(caught.value) == ERR.USER_ACTION_TIMEOUT


def test_presence_can_be_swapped_on_a_live_key() -> None:
    device = new_key()
    server = rp_server()
    credential = register(client_for(device), server, "alice")
    device.authenticator.presence = always_deny
    with pytest.raises(ClientError):
        login_usernameless(client_for(device), server, [credential])


def test_keepalive_reports_that_a_touch_is_needed() -> None:
    device = new_key(pin=None)
    statuses: list[STATUS] = []
    Ctap2(device).selection(on_keepalive=statuses.append)
    assert statuses == [STATUS.UPNEEDED]


def test_selection_honours_an_already_set_cancel_event() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CtapError) as caught:
        Ctap2(new_key(pin=None)).selection(event=cancel)
    assert caught.value.code == ERR.KEEPALIVE_CANCEL


def test_the_sensor_records_what_it_was_asked_for() -> None:
    sensor = TouchSensor(timeout=5)
    device = new_key(pin=None, presence=sensor)
    sensor.touch()
    register(client_for(device), rp_server(), "alice", user_verification="discouraged")
    assert [(r.command, r.rp_id) for r in sensor.requests] == [("makeCredential", "kiosk.example")]
