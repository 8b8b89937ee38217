"""The PySide6 kiosk and admin console. Reaches the token service only through tokenstile.broker.

``window`` (the shared-workstation rules and the sign-in state machine), ``screens`` (the
pages: sign in, busy, signed in, locked), ``flows`` (the sign-in work run on the worker
thread, over the devices' ceremonies), ``tasks`` (the worker thread and its signals),
``widgets`` (PIN pad, code entry), ``messages`` (every failure as one sentence),
``service`` (the broker behind one port), ``devices`` (what hardware is watched;
in-process key and reader for the demo), ``rules`` and ``idle`` (the shift, idle-lock and
card-pull rules), ``app`` (style, fonts, translations, ``tokenstile kiosk``), ``admin/``
(``tokenstile admin``).
"""
