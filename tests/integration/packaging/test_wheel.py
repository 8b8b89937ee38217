"""The wheel carries what an installed kiosk and service need besides the Python code."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_the_wheel_holds_the_migrations_and_the_kiosk_resources(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("tokenstile-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    migrations = sorted(
        p.name for p in (ROOT / "app/tokenstile/store/migrations/versions").glob("0*.py")
    )
    assert migrations
    for name in migrations:
        assert f"tokenstile/store/migrations/versions/{name}" in names
    # The OpenID Provider's sign-in pages are rendered from these at run time.
    pages = sorted(p.name for p in (ROOT / "app/tokenstile/server/templates").iterdir())
    assert {"base.html", "signin.html", "error.html", "signin.css", "logout.html"} <= set(pages)
    assert "signed_out.html" in pages
    for name in pages:
        assert f"tokenstile/server/templates/{name}" in names
    # ...and their languages: each compiled catalog
    catalogs = sorted((ROOT / "app/tokenstile/server/locale").rglob("web.mo"))
    assert catalogs
    for catalog in catalogs:
        assert f"tokenstile/{catalog.relative_to(ROOT / 'app/tokenstile')}" in names, catalog

    version = wheel.name.split("-")[1]
    data = f"tokenstile-{version}.data/data/share/tokenstile/resources"
    for source in (ROOT / "resources").glob("*/*"):
        if source.parent.name in {"style", "icons", "translations"}:
            assert f"{data}/{source.parent.name}/{source.name}" in names, source
    assert f"{data}/style/kiosk.qss" in names
