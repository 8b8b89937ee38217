"""What the size tests look at: a window's visible widgets, laid out as they are now.

:func:`layout_problems` lists every visible widget that lies outside the window or its
parent, every text that needs more room than it has, every button or field under 48x48
px and every text under a floor; ``kiosk_look`` dresses the application as ``tokenstile
kiosk`` does. Used by ``tests/gui/test_kiosk_sizes.py`` and the demo's size tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QFontInfo
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QLabel,
    QLineEdit,
    QWidget,
)

from tokenstile.kiosk.app import application

SIZES = [(800, 480), (1024, 768), (1280, 800), (1366, 768), (1920, 1080)]
MIN_FONT_PX = 16
MIN_TARGET_PX = 48


@pytest.fixture
def kiosk_look(qapp: QApplication) -> Iterator[QApplication]:
    """The application's font and style sheet as ``tokenstile kiosk`` sets them; the other
    GUI tests' plain look is put back afterwards."""
    font, sheet = qapp.font(), qapp.styleSheet()
    application()
    try:
        yield qapp
    finally:
        qapp.setStyleSheet(sheet)
        qapp.setFont(font)


def _name(widget: QWidget) -> str:
    text = ""
    if isinstance(widget, (QLabel, QAbstractButton)):
        text = widget.text()
    return f"{type(widget).__name__}#{widget.objectName()}{f' {text[:30]!r}' if text else ''}"


def _scroll_area(widget: QWidget) -> QAbstractScrollArea | None:
    """The scroll area whose content ``widget`` is (not its scroll bars), if any."""
    child, parent = widget, widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea) and child is parent.viewport():
            return parent
        child, parent = parent, parent.parentWidget()
    return None


def _font_px(widget: QWidget) -> int:
    info = QFontInfo(widget.font())
    return info.pixelSize()


def layout_problems(window: QWidget, *, min_font_px: int = MIN_FONT_PX) -> list[str]:
    """What is wrong with the visible widgets of ``window`` as it is laid out now."""
    found: list[str] = []
    for widget in window.findChildren(QWidget):
        if widget.isVisible() and not widget.isWindow():
            name = _name(widget)
            found += [f"{name}: {said}" for said in _placement(window, widget)]
            found += [f"{name}: {said}" for said in _reach(widget, min_font_px)]
    return found


def _placement(window: QWidget, widget: QWidget) -> list[str]:
    """Inside the window and its parent; scrolled content may run on below the fold, but
    never off the sides."""
    rect = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    area = _scroll_area(widget)
    if area is not None:
        port = area.viewport()
        left = widget.mapTo(port, QPoint(0, 0)).x()
        if left < 0 or left + widget.width() > port.width():
            return [f"{rect.getRect()} off the side of its scroll area"]
        return []
    found = []
    if not window.rect().contains(rect):
        found.append(f"{rect.getRect()} outside the window {window.rect().getRect()}")
    parent = widget.parentWidget()
    if parent is not None and not parent.rect().contains(widget.geometry()):
        found.append(f"{widget.geometry().getRect()} cut off by its parent")
    return found


def _text(widget: QWidget) -> str:
    if isinstance(widget, QLabel) and widget.pixmap().isNull():
        return widget.text()
    if isinstance(widget, QAbstractButton):
        return widget.text()
    if isinstance(widget, QLineEdit):
        return widget.text() or widget.placeholderText() or " "
    return ""


def _reach(widget: QWidget, min_font_px: int) -> list[str]:
    """A finger's size to touch, a size to read, and room for the whole text."""
    found = []
    small = widget.width() < MIN_TARGET_PX or widget.height() < MIN_TARGET_PX
    if isinstance(widget, (QAbstractButton, QLineEdit)) and small:
        found.append(f"a touch target of {widget.width()}x{widget.height()}")
    if not _text(widget):
        return found
    if _font_px(widget) < min_font_px:
        found.append(f"a font of {_font_px(widget)} px")
    if isinstance(widget, QLabel) and widget.wordWrap():
        needed = widget.heightForWidth(widget.width())
        if needed > widget.height():
            found.append(f"needs {needed} px of height, has {widget.height()}")
    elif isinstance(widget, QLabel) and widget.sizeHint().width() > widget.width():
        found.append(f"needs {widget.sizeHint().width()} px of width, has {widget.width()}")
    elif isinstance(widget, QAbstractButton) and widget.minimumSizeHint().width() > widget.width():
        found.append(f"its text needs {widget.minimumSizeHint().width()} px")
    return found
