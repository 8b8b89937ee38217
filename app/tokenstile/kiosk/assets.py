"""Where the kiosk's icons, style sheet and translations are, installed or not.

Looked for, first found wins: ``TOKENSTILE_RESOURCES`` (a packager's override), the
PyInstaller bundle (``sys._MEIPASS/resources``), the checkout's ``resources/`` beside
``app/``, and ``<prefix>/share/tokenstile/resources`` (where a wheel's data files land).
A missing resource is not an error: the kiosk runs plain rather than not at all.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

_MARKER = Path("style") / "kiosk.qss"


def _candidates() -> list[Path]:
    found: list[Path] = []
    override = os.environ.get("TOKENSTILE_RESOURCES")
    if override:
        found.append(Path(override))
    bundle = getattr(sys, "_MEIPASS", None)
    if isinstance(bundle, str):
        found.append(Path(bundle) / "resources")
    # app/tokenstile/kiosk/assets.py -> the checkout's root
    found.append(Path(__file__).resolve().parents[3] / "resources")
    found.append(Path(sys.prefix) / "share" / "tokenstile" / "resources")
    return found


def resources_dir() -> Path | None:
    for candidate in _candidates():
        if (candidate / _MARKER).is_file():
            return candidate
    logger.warning("the kiosk's resources (icons, style sheet) were not found")
    return None


def icon_path(name: str) -> Path | None:
    """``resources/icons/<name>.svg``, or None."""
    base = resources_dir()
    if base is None:
        return None
    path = base / "icons" / f"{name}.svg"
    return path if path.is_file() else None


def style_sheet(name: str = "kiosk") -> str:
    """``resources/style/<name>.qss``, its ``url(icons/...)`` made absolute (Qt resolves a
    relative one against the working directory, not the sheet)."""
    base = resources_dir()
    if base is None:
        return ""
    path = base / "style" / f"{name}.qss"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    return text.replace("url(icons/", f"url({(base / 'icons').as_posix()}/")


def translations_dir() -> Path | None:
    base = resources_dir()
    return None if base is None else base / "translations"
