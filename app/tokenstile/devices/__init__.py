"""The kiosk's side of the hardware: FIDO2 keys via python-fido2, PIV cards via pyscard.

Nothing here yet: later issues build it (see DESIGN.md).
"""
