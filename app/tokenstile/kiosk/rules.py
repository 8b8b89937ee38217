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
        )
