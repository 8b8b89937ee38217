"""The ``tokenstile`` command: one module per command group.

:mod:`~tokenstile.cli.main` parses the command line and dispatches (``tokenstile token``
before any heavy import); :mod:`~tokenstile.cli.manage` has ``tokenstile manage`` (people,
clients, audiences, signing keys, audit, purge) and :mod:`~tokenstile.cli.server`
``tokenstile server``; :mod:`~tokenstile.cli.session` has the commands of a person's
session (``login``, ``token``, ``status``, ``logout``); :mod:`~tokenstile.cli.otp`,
:mod:`~tokenstile.cli.piv` and :mod:`~tokenstile.cli.fido2` the factor administration and
the virtual devices; :mod:`~tokenstile.cli.kiosk` the kiosk and admin console launchers;
:mod:`~tokenstile.cli.arguments` the argparse shape the groups share and
:mod:`~tokenstile.cli.formatting` the output helpers they share.
"""
