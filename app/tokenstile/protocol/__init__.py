"""The wire formats both sides share: what the kiosk side (devices, broker, kiosk) and
the token service (factors, server) must build and read byte for byte alike.

- :mod:`~tokenstile.protocol.piv_message`: what a PIV card signs at a login, the
  server's challenge answer, and how the card's signature is checked.
- :mod:`~tokenstile.protocol.scopes`: the OAuth scopes both sides name.

Ground: it imports only :mod:`tokenstile.errors` and the standard library (and
``cryptography`` for the signature check).
"""
