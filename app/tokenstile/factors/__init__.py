"""Server-side verification of each login factor (WebAuthn, PIV, TOTP/HOTP and PSKC import):
pure logic over a store interface, no HTTP or hardware imports.

What exists so far, the one-time-password factor:

- ``otp``: parameters, HOTP/TOTP codes from the raw seed, the ``OtpCredential`` record,
  constant-time window checks with drift, admin resync, seeds sealed under the KEK.
- ``otp_lockout``: the growing-delay-then-lock policy, per credential and per user.
- ``otp_login``: the ``OtpStore`` port and ``OtpAuthenticator`` (login, enrollment
  confirmation, resync) with single use decided by the store's conditional update.
- ``otp_enrollment``: 160-bit seeds, ``otpauth://`` Key URIs, QR codes as PNG and text.
- ``pskc_import``: all-or-nothing PSKC (RFC 6030) import with a serial,username CSV.
- ``otp_tx``: the ``OtpTx`` transaction port, the timing decoy, OTP errors and results.
- ``otp_service``: ``OtpService``, every OTP use case (login, enrollment, admin actions)
  as one audited transaction; ``otp_import`` its PSKC import.

WebAuthn and PIV follow in later issues (see DESIGN.md).
"""
