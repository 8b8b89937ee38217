"""The shared-workstation rules, from the settings (``TOKENSTILE_KIOSK_*``)."""

from __future__ import annotations

from dataclasses import dataclass

from tokenstile.config import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class KioskRules:
    sign_out_on_card_removal: bool = True
    idle_lock_seconds: float = 300.0  # 0: never lock
    sign_out_at_session_end: bool = True
    # The session's absolute lifetime when the service does not say (the service's own
    # TOKENSTILE_SESSION_LIFETIME, a shift): the service ends it there regardless.
    session_lifetime_seconds: float = 12 * 3600.0
    switch_user: bool = True  # a second person's factor signs the first out and them in
    retry_seconds: float = 5.0  # an unreachable service is tried again this often
    key_poll_seconds: float = 0.5
    # Parked sessions (issue 17): switching user parks the first person instead of
    # signing them out; at most park_max parked (one more is refused with a message);
    # they are signed out at the service's deadline, park_seconds after parking.
    park_sessions: bool = False
    park_max: int = 4
    park_seconds: float = 15 * 60.0
    # Lock at once (walk-away); "" for no hot key.
    lock_hotkey: str = "Ctrl+L"
    # Tap-and-go (kiosk_tap_and_go): an "End shift" button, and a code alone (no
    # username) at the code entry; the service decides whether this kiosk takes taps.
    tap_and_go: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> KioskRules:
        return cls(
            sign_out_on_card_removal=settings.kiosk_sign_out_on_card_removal,
            idle_lock_seconds=settings.kiosk_idle_lock_minutes * 60.0,
            sign_out_at_session_end=settings.kiosk_sign_out_at_session_end,
            session_lifetime_seconds=float(settings.session_lifetime),
            switch_user=settings.kiosk_switch_user,
            retry_seconds=settings.kiosk_retry_seconds,
            key_poll_seconds=settings.kiosk_key_poll_seconds,
            park_sessions=settings.kiosk_park_sessions,
            park_max=settings.kiosk_park_max,
            park_seconds=settings.kiosk_park_minutes * 60.0,
            lock_hotkey=settings.kiosk_lock_hotkey,
            tap_and_go=settings.kiosk_tap_and_go,
        )
