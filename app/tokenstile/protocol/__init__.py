"""The wire formats both sides share: what the kiosk side (devices, broker, kiosk) and
the token service (factors, server) must build and read byte for byte alike.

- :mod:`~tokenstile.protocol.piv_message`: what a PIV card signs at a login, the
  server's challenge answer, and how the card's signature is checked.
- :mod:`~tokenstile.protocol.scopes`: the OAuth scopes both sides name.
- :mod:`~tokenstile.protocol.jose`: unpadded base64url, a public key's JWK members and
  its RFC 7638 thumbprint.
- :mod:`~tokenstile.protocol.dpop`: making DPoP proofs (RFC 9449) and the ``ath`` hash.
- :mod:`~tokenstile.protocol.loopback`: whether a host is this machine (where plain HTTP
  is allowed).

Ground: it imports only :mod:`tokenstile.errors` and the standard library (and
``cryptography`` for signing and signature checks).
"""
