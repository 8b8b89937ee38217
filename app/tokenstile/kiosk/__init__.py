"""The PySide6 kiosk and admin console. Reaches the token service only through tokenstile.broker.

Nothing here yet: later issues build it (see DESIGN.md).
"""
