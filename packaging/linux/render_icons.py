"""Render icons/tokenstile.svg to the PNG sizes desktops look for (run after editing it).

    .venv/bin/python packaging/linux/render_icons.py

Writes icons/hicolor/<size>x<size>/apps/tokenstile.png with PySide6's SVG renderer
(already a dependency of the kiosk), so no other tool is needed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVG = HERE / "icons" / "tokenstile.svg"
SIZES = (48, 128, 256)


def png_path(size: int, root: Path = HERE / "icons") -> Path:
    return root / "hicolor" / f"{size}x{size}" / "apps" / "tokenstile.png"


def render(size: int, target: Path) -> None:
    """Draw the SVG into a transparent ``size`` x ``size`` PNG at ``target``."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"{SVG} is not a valid SVG file.")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(target), "PNG"):
        raise SystemExit(f"Cannot write {target}.")


def main() -> int:
    for size in SIZES:
        render(size, png_path(size))
        print(png_path(size).relative_to(HERE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
