"""Every exception class Tokenstile defines is in one tree, and errors.py draws all of it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import tokenstile
from tokenstile import errors
from tokenstile.errors import TokenstileError

# Run only inside alembic: importing it elsewhere fails by design (it defines no exception).
_NOT_IMPORTABLE = ("tokenstile.store.migrations.",)


def _exception_classes() -> dict[type[BaseException], str]:
    found: dict[type[BaseException], str] = {}
    for info in pkgutil.walk_packages(tokenstile.__path__, "tokenstile."):
        if info.name.startswith(_NOT_IMPORTABLE):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[value] = module.__name__
    return found


CLASSES = _exception_classes()


def test_the_walk_finds_the_tree() -> None:
    assert TokenstileError in CLASSES
    assert len(CLASSES) > 100


def test_every_exception_class_is_a_tokenstile_error() -> None:
    outside = sorted(
        f"{m}.{c.__name__}" for c, m in CLASSES.items() if not issubclass(c, TokenstileError)
    )
    assert outside == []


def test_every_error_has_one_parent() -> None:
    assert [c.__name__ for c in CLASSES if len(c.__bases__) != 1] == []


def test_every_code_is_its_own_or_its_parents() -> None:
    """A code names one class, except that a subclass may keep its ancestor's code (a
    refinement that means the same on the wire, like ``InsufficientAssurance``)."""
    by_code: dict[str, list[type[BaseException]]] = {}
    for cls in CLASSES:
        code = getattr(cls, "code", "")
        assert isinstance(code, str), cls
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), cls
        by_code.setdefault(code, []).append(cls)
    for code, classes in by_code.items():
        top = [c for c in classes if not any(c is not o and issubclass(c, o) for o in classes)]
        assert len(top) == 1, (code, [c.__name__ for c in classes])


def test_the_drawing_names_every_class_with_its_module_and_code() -> None:
    doc = errors.__doc__ or ""
    drawn = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(r"^    [│├└─ ]*(\w+) +([\w.]+) +(\w+)", doc, re.MULTILINE)
    }
    for cls, module in CLASSES.items():
        assert drawn.get(cls.__name__) == (module.removeprefix("tokenstile."), cls.code), cls
    assert len(drawn) == len(CLASSES) + 1  # and the column header


def test_the_drawing_indents_by_inheritance() -> None:
    doc = errors.__doc__ or ""
    rows = re.findall(r"^    ([│├└─ ]*)(\w+) +[\w.]+ +\w+", doc, re.MULTILINE)
    names = {cls.__name__: cls for cls in CLASSES}
    stack: list[type[BaseException]] = []
    for indent, name in rows:
        if name not in names:
            continue
        depth = len(indent) // 4
        del stack[depth:]
        cls = names[name]
        if stack:
            assert cls.__bases__[0] is stack[-1], name
        stack.append(cls)
