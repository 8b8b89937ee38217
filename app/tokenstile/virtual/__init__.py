"""Software devices for the demo and the tests: a CTAP2 authenticator and a PIV card served
to pcscd through vpcd.

Nothing here yet: later issues build it (see DESIGN.md).
"""
