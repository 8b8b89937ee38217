"""When the kiosk must use the Windows WebAuthn API instead of talking CTAP itself."""

from __future__ import annotations

import pytest

from tokenstile.devices.fido2_platform import use_platform_api


@pytest.mark.parametrize(
    ("platform", "elevated", "available", "expected"),
    [
        ("win32", False, True, True),  # ordinary Windows user: the platform API
        ("win32", True, True, False),  # elevated: CTAP directly, like Linux and macOS
        ("win32", False, False, False),  # Windows before 1903: no webauthn.dll API
        ("linux", False, True, False),
        ("darwin", False, True, False),
    ],
)
def test_platform_api_only_for_unelevated_windows(
    platform: str, elevated: bool, available: bool, expected: bool
) -> None:
    assert (
        use_platform_api(platform=platform, elevated=lambda: elevated, available=lambda: available)
        is expected
    )


def test_this_machine_talks_ctap_itself() -> None:
    assert use_platform_api() is False
