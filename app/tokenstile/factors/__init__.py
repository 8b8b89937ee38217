"""Server-side verification of each login factor (WebAuthn, PIV, TOTP/HOTP and PSKC import):
pure logic over a store interface, no HTTP or hardware imports.

Nothing here yet: later issues build it (see DESIGN.md).
"""
