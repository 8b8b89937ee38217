"""The PySide6 kiosk and admin console. Reaches the token service only through tokenstile.broker.

``window`` (the screens and the shared-workstation rules), ``widgets`` (PIN pad, code
entry), ``workers`` (the worker thread, the key watcher, the touch/PIN bridge),
``messages`` (every failure as one sentence), ``service`` (the broker behind one port),
``devices`` (what hardware is watched; in-process key and reader for the demo), ``app``
(style, fonts, translations, ``tokenstile kiosk``), ``admin/`` (``tokenstile admin``).
"""
