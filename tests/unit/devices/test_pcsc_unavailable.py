"""PC/SC failures as the kiosk sees them, without touching the machine's pcscd.

pcsc-lite's client library finds pcscd through the socket named by
``PCSCLITE_CSOCK_NAME``; pointing it at nothing gives a process exactly what it gets
when pcscd is not running, through the real library. The library reads the variable
once, so each check runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from smartcard import scard

from tokenstile.devices import errors
from tokenstile.devices.pcsc import pcsc_error

ROOT = Path(__file__).resolve().parents[3]


def run_without_pcscd(tmp_path: Path, code: str) -> dict[str, object]:
    env = {**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.comm")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "app"), str(ROOT)])
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert isinstance(result, dict)
    return result


def test_readers_and_cards_say_pcscd_is_not_running(tmp_path: Path) -> None:
    result = run_without_pcscd(
        tmp_path,
        """
        import json
        from tokenstile.devices import DeviceError, NfcKeys
        from tokenstile.devices.pcsc import list_readers, open_piv_card, open_connection

        codes = {}
        for name, call in [("readers", list_readers), ("piv", open_piv_card),
                           ("connect", open_connection), ("nfc", NfcKeys().find)]:
            try:
                call()
                codes[name] = "no error"
            except DeviceError as exc:
                codes[name] = [exc.code, exc.message, type(exc.__cause__).__module__]
        print(json.dumps(codes))
        """,
    )
    for name in ("readers", "piv", "connect", "nfc"):
        code, message, _ = result[name]  # type: ignore[misc]
        assert code == "pcsc_unavailable", name
        assert "pcscd" in message
    # the pyscard exception stays behind as the cause, it does not escape
    assert result["nfc"][2].startswith("smartcard")  # type: ignore[index]


def test_monitor_reports_the_service_missing_and_stops(tmp_path: Path) -> None:
    result = run_without_pcscd(
        tmp_path,
        """
        import json, time
        from tokenstile.devices.monitor import CardMonitor

        events = []
        monitor = CardMonitor(events.append, retry_interval=0.01)
        monitor.start()
        assert monitor.ready.wait(5)
        time.sleep(0.1)  # several retries: still one event
        started = time.monotonic()
        monitor.stop()
        print(json.dumps({"events": [e.kind.value for e in events],
                          "stop": time.monotonic() - started,
                          "running": monitor.running}))
        """,
    )
    assert result["events"] == ["service_unavailable"]
    assert result["stop"] < 1  # type: ignore[operator]
    assert result["running"] is False


@pytest.mark.parametrize(
    ("hresult", "error"),
    [
        (scard.SCARD_E_NO_SERVICE, errors.PcscUnavailable),
        (scard.SCARD_E_SERVICE_STOPPED, errors.PcscUnavailable),
        (scard.SCARD_W_REMOVED_CARD, errors.CardRemoved),
        (scard.SCARD_E_NO_SMARTCARD, errors.CardRemoved),
        (scard.SCARD_W_RESET_CARD, errors.CardReset),
        (scard.SCARD_E_NO_READERS_AVAILABLE, errors.NoReader),
        (scard.SCARD_E_UNKNOWN_READER, errors.NoReader),
        (scard.SCARD_E_READER_UNAVAILABLE, errors.NoReader),
        (scard.SCARD_E_SHARING_VIOLATION, errors.CardInUse),
        (scard.SCARD_W_UNRESPONSIVE_CARD, errors.CardCommunicationError),
        (scard.SCARD_F_COMM_ERROR, errors.CardCommunicationError),
    ],
)
def test_pcsc_codes_become_device_errors(hresult: int, error: type[errors.DeviceError]) -> None:
    translated = pcsc_error(hresult, "signing")
    assert type(translated) is error
    assert "0x8010" not in translated.message.lower() or error is errors.CardCommunicationError
