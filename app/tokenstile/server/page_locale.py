"""The language of the browser pages: ``ui_locales`` first, then ``Accept-Language``.

The pages' words are gettext messages (``{% trans %}`` and ``_()`` in the templates), in
the catalogs under ``server/locale``: ``web.pot`` is the template, and each language a
``<lang>/LC_MESSAGES/web.po`` compiled to ``web.mo`` (``make translations-web``
extracts and compiles them with Babel; ``tests/unit/server/test_web_translations.py``
fails when a catalog is out of date or a message untranslated). English is the source
and needs no catalog.

A request's language is chosen once, when a page first asks (:func:`current`; the
middleware only remembers the request, so ``/token`` and the other API routes pay
nothing for it), from the query's
``ui_locales`` (OpenID Connect Core 3.1.2.1: space-separated tags, preferred first) and
the ``Accept-Language`` header, and again by the authorization endpoint from the
``ui_locales`` its form carries (:func:`prefer`); a tag is matched by its primary
language (``de-AT`` is ``de``). What the service says in its own messages (errors from
the token layer) stays English for now.
"""

from __future__ import annotations

import gettext
from contextvars import ContextVar
from functools import cache
from importlib.resources import files
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

SOURCE = "en"
DOMAIN = "web"
MAX_TAGS = 16  # of a header or parameter looked at: the rest is ignored

_current: ContextVar[str | None] = ContextVar("page_locale", default=None)
_scope: ContextVar[Scope | None] = ContextVar("page_locale_scope", default=None)


def locale_dir() -> str:
    return str(files("tokenstile.server").joinpath("locale"))


@cache
def available() -> tuple[str, ...]:
    """English and every language with a compiled catalog, sorted."""
    found = {SOURCE}
    root = files("tokenstile.server").joinpath("locale")
    if root.is_dir():
        for entry in root.iterdir():
            if entry.joinpath("LC_MESSAGES", f"{DOMAIN}.mo").is_file():
                found.add(entry.name)
    return tuple(sorted(found))


@cache
def translations(locale: str) -> gettext.NullTranslations:
    if locale == SOURCE or locale not in available():
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=locale_dir(), languages=[locale])


def _primary(tag: str) -> str:
    return tag.strip().replace("_", "-").split("-", 1)[0].lower()


def from_ui_locales(value: str | None) -> str | None:
    """The first of these space-separated tags that has pages, or None."""
    for tag in (value or "").split()[:MAX_TAGS]:
        if _primary(tag) in available():
            return _primary(tag)
    return None


def from_accept_language(value: str | None) -> str | None:
    """The language with pages that the header weighs highest (ties: its order), or None."""
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate((value or "").split(",")[:MAX_TAGS]):
        tag, _, rest = part.partition(";")
        weight = 1.0
        if rest.strip().startswith("q="):
            try:
                weight = float(rest.strip()[2:])
            except ValueError:
                continue
        if weight > 0 and _primary(tag) in available():
            ranked.append((-weight, n, _primary(tag)))
    return min(ranked)[2] if ranked else None


def current() -> str:
    """The language of the page being made for this request (chosen on first use)."""
    chosen = _current.get()
    if chosen is None:
        chosen = _choose(_scope.get())
        _current.set(chosen)
    return chosen


def _choose(scope: Scope | None) -> str:
    if scope is None:
        return SOURCE
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    header = next(
        (v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"accept-language"),
        None,
    )
    return (
        from_ui_locales(next(iter(query.get("ui_locales", [])), None))
        or from_accept_language(header)
        or SOURCE
    )


def prefer(ui_locales: str | None) -> None:
    """The request's own ``ui_locales`` (a form's carried parameter) wins, if it names
    a language the pages have."""
    chosen = from_ui_locales(ui_locales)
    if chosen is not None:
        _current.set(chosen)


class PageLocaleMiddleware:
    """Gives each HTTP request its own page language, chosen if a page asks for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _scope.set(scope)
        chosen = _current.set(None)
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(chosen)
            _scope.reset(token)
