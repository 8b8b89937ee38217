"""The demos: everything Tokenstile can do on one machine with virtual devices.

:mod:`~tokenstile.demo.kiosk` is ``make demo`` (the kiosk on an embedded token service
with a virtual security key, card and fob); :mod:`~tokenstile.demo.headless` is
``tokenstile demo`` for a machine without a display; :mod:`~tokenstile.demo.session`
keeps the demo person's session where other apps can see it;
:mod:`~tokenstile.demo.sample_app` is the resource server the sample desktop app calls;
:mod:`~tokenstile.demo.panel` is the kiosk's side panel that drives the virtual devices.
"""
