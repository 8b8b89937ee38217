"""The demos: everything Tokenstile can do on one machine with virtual devices.

:mod:`~tokenstile.demo.kiosk` is ``make demo`` (the kiosk on an embedded token service
with a virtual security key, card and fob), built from one module per job:
:mod:`~tokenstile.demo.environment` starts the running demo and holds it together,
:mod:`~tokenstile.demo.service` serves the embedded token service on loopback,
:mod:`~tokenstile.demo.people` enrolls the demo people, :mod:`~tokenstile.demo.devices`
has the software key and the virtual card, :mod:`~tokenstile.demo.window` the kiosk window
with the panel, :mod:`~tokenstile.demo.panel` the kiosk's side panel that drives the
virtual devices, and :mod:`~tokenstile.demo.errors` the demo's error.
:mod:`~tokenstile.demo.headless` is ``tokenstile demo`` for a machine without a display;
:mod:`~tokenstile.demo.session` keeps the demo person's session where other apps can see
it; :mod:`~tokenstile.demo.sample_app` is the resource server the sample desktop app calls.
"""
