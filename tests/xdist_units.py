"""Work units for the two pytest-xdist workers of ``make test`` (``-n 2 --dist loadscope``).

A unit runs whole, in order, on one worker; the two workers share nothing but the machine.
The units are chosen so that sharing is safe and shared fixtures still start once:

- every module with a test that uses the ``pcscd`` fixture is in one unit, ``pcscd``: the
  machine has one pcscd and two vpcd readers on fixed ports, and the worker whose session
  started pcscd stops it at its session's end, which must not come while the other worker
  has a card in a reader. Such modules are listed in ``PCSCD_UNIT``; a test that uses the
  fixture outside them stops the run at collection (any run, not only ``make test``);
- every module of a package with a package-scoped fixture (the fleet's replicas) is in
  that package's unit, so the fixture starts once, not once per worker;
- any other module is its own unit, so module-scoped fixtures (a provider server shared
  by a module's tests) start once.

xdist's own ``loadgroup`` cannot do this with pytest 9.2: it renames ``item._nodeid``,
which pytest no longer reads. So the controller gets a scheduler of its own
(``pytest_xdist_make_scheduler``) that splits the collection by these units.
"""

from __future__ import annotations

from typing import Any

import pytest

PCSCD_UNIT_NAME = "pcscd"
# Paths (a folder ends in "/") whose modules run in the pcscd unit.
PCSCD_UNIT = (
    "tests/integration/pcsc/",
    "tests/gui/pcsc/",
    "tests/integration/piv/test_piv_attestation_pcsc.py",
    "tests/integration/piv/test_piv_card_setup_pcsc.py",
    "tests/integration/piv/test_piv_pcsc.py",
    "tests/integration/piv/test_piv_card_tap.py",
    "tests/integration/fido2/test_fido2_nfc.py",
    "tests/e2e/test_kiosk_demo.py",
)
# Packages with a package-scoped fixture: one unit each.
PACKAGE_UNITS = ("tests/integration/fleet/",)


def _within(module: str, paths: tuple[str, ...]) -> bool:
    return any(module.startswith(path) if path.endswith("/") else module == path for path in paths)


def work_unit(nodeid: str) -> str:
    """The unit of the test ``nodeid`` (see the module docstring)."""
    module = nodeid.split("::", maxsplit=1)[0]
    if _within(module, PCSCD_UNIT):
        return PCSCD_UNIT_NAME
    for package in PACKAGE_UNITS:
        if module.startswith(package):
            return package
    return module


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    strays = sorted(
        {
            item.nodeid.split("::", maxsplit=1)[0]
            for item in items
            if "pcscd" in getattr(item, "fixturenames", ())
            and work_unit(item.nodeid) != PCSCD_UNIT_NAME
        }
    )
    if strays:
        raise pytest.UsageError(
            f"{', '.join(strays)} use the pcscd fixture but are not in PCSCD_UNIT "
            "(tests/xdist_units.py): add them there, so that `make test` runs them on the "
            "one worker that owns pcscd"
        )


@pytest.hookimpl(optionalhook=True)  # only called where pytest-xdist is installed
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """xdist's loadscope, with the units above as its scopes."""

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return UnitScheduling(config, log)
