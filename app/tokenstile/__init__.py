"""Tokenstile: hardware-token login for shared workplaces.

FIDO2 security keys, PIV smart cards and OTP fobs sign people in at a kiosk; a token
service issues short-lived access tokens and rotating refresh tokens; a local broker
keeps the session in the OS keychain for desktop apps.
"""

__version__ = "0.1.0"
