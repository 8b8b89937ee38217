"""The browser pages' catalogs are complete and current: every message in the templates
is in ``web.pot`` and translated in every language, each ``web.mo`` is its ``web.po``
compiled, and a translation keeps its placeholders (a lost ``%(app)s`` would fail at
render time, a swapped one would say the wrong thing)."""

from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tokenstile.server import page_locale

ROOT = Path(__file__).resolve().parents[3]
LOCALE = ROOT / "app" / "tokenstile" / "server" / "locale"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def template_messages() -> set[str]:
    found = extract_from_dir(
        str(ROOT / "app" / "tokenstile" / "server" / "templates"),
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    return {message for _file, _line, message, _comments, _context in found}


def catalog(path: Path, locale: str | None = None) -> dict[str, str]:
    with path.open("rb") as handle:
        read = read_po(handle, locale=locale)
    return {m.id: m.string for m in read if m.id and isinstance(m.id, str)}


def languages() -> list[str]:
    return sorted(p.name for p in LOCALE.iterdir() if (p / "LC_MESSAGES" / "web.po").is_file())


def test_the_template_lists_every_message_of_the_pages() -> None:
    assert set(catalog(LOCALE / "web.pot")) == template_messages(), (
        "run `make translations-web` and translate what it adds"
    )


def test_there_is_a_language_besides_english_and_the_service_offers_each() -> None:
    assert languages()
    assert set(page_locale.available()) == {"en", *languages()}


@pytest.mark.parametrize("language", languages())
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    translated = catalog(LOCALE / language / "LC_MESSAGES" / "web.po", language)
    assert set(translated) == template_messages()
    for source, text in translated.items():
        assert text, f"{language}: untranslated: {source!r}"
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(source)), (
            language,
            source,
        )


@pytest.mark.parametrize("language", languages())
def test_the_compiled_catalog_is_the_translation(language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / "web.po").open("rb") as handle:
        source = read_po(handle, locale=language)
    fresh = io.BytesIO()
    write_mo(fresh, source)
    fresh.seek(0)
    with (folder / "web.mo").open("rb") as shipped:
        assert gettext.GNUTranslations(shipped)._catalog == (  # type: ignore[attr-defined]
            gettext.GNUTranslations(fresh)._catalog  # type: ignore[attr-defined]
        ), "web.mo is older than web.po: run `make translations-web`"
