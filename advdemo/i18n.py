"""The page's two languages: one catalogue per language, in plain TOML files a translator can edit.

``advdemo/locales/en.toml`` and ``advdemo/locales/zh.toml`` hold every string the
page shows, under the same keys, with ``{name}`` placeholders filled by
:meth:`Catalogue.__call__` (Python's format syntax: ``{value:.1%}``). The
Chinese catalogue uses the terms of the tutorial's Chinese edition.

Library code that has something to say to a user (an unreadable upload, a full
training queue, a URL value that was ignored) returns or raises a
:class:`Message`, a key and its fields, so the page can say it in the reader's
language and the command line in English.
"""

from __future__ import annotations

import enum
import functools
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any


class Language(str, enum.Enum):
    """The page's languages; the value is the URL's ``lang`` and the catalogue's name."""

    EN = "en"
    ZH = "zh"


#: The page's language when neither the URL nor the browser names one of :class:`Language`.
DEFAULT_LANGUAGE = Language.EN


#: The URL parameter that picks the page's language; not part of the view (a reset keeps the language).
LANG_PARAM = "lang"
#: Each language's name in itself, for the selector.
LANGUAGE_NAMES = {Language.EN: "English", Language.ZH: "简体中文"}


@dataclass(frozen=True)
class Message:
    """Something to tell a user: a catalogue key and the values of its placeholders.

    A field may itself be a :class:`Message` (a phrase said in the same
    language). ``str()`` gives the English text, for logs and the command line.
    """

    key: str
    fields: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        return english()(self)


class Verbatim(str):
    """Text from outside (a URL value, say) placed in a message: a page that renders Markdown must show
    it as it is (:func:`advdemo.page.presentation.markdown_message`), never as formatting or a link."""


def message(key: str, **fields: Any) -> Message:
    return Message(key, tuple(fields.items()))


def minutes(seconds: float) -> Message:
    """A duration in whole minutes, at least one: "1 minute", "12 minutes"."""
    n = max(1, round(seconds / 60))
    return message("time.minute") if n == 1 else message("time.minutes", n=n)


def duration(seconds: float) -> Message:
    """A wait or an ETA: "15 seconds" (in steps of 5) under a minute and a half, else :func:`minutes`."""
    if seconds < 90:
        return message("time.seconds", n=max(5, int(5 * round(seconds / 5))))
    return minutes(seconds)


class LocalizedError(Exception):
    """An error whose text a user reads: ``str(exc)`` is English, ``exc.message`` says it in any language."""

    def __init__(self, key: str, **fields: Any) -> None:
        self.message = message(key, **fields)
        super().__init__(str(self.message))


class Catalogue:
    """One language's strings: ``tr("key", name=value)`` or ``tr(message)`` gives the text."""

    def __init__(self, language: Language, strings: Mapping[str, str]) -> None:
        self.language = language
        self._strings = dict(strings)

    def __call__(self, key: str | Message, **fields: Any) -> str:
        if isinstance(key, Message):
            fields = {**dict(key.fields), **fields}
            key = key.key
        values = {name: self(v) if isinstance(v, Message) else v for name, v in fields.items()}
        return self._strings[key].format(**values)

    def keys(self) -> set[str]:
        return set(self._strings)

    def raw(self, key: str) -> str:
        """The string as written in the catalogue, placeholders unfilled."""
        return self._strings[key]


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": "x"}}`` → ``{"a.b": "x"}``: TOML tables group the keys for the translator."""
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, key + "."))
        elif isinstance(value, str):
            flat[key] = value
        else:
            raise ValueError(f"catalogue entry {key!r} is not text")
    return flat


@functools.cache
def catalogue(language: Language) -> Catalogue:
    """The catalogue of ``language``, read once from ``advdemo/locales/<code>.toml``."""
    data = resources.files("advdemo").joinpath("locales", f"{language.value}.toml").read_bytes()
    return Catalogue(language, _flatten(tomllib.loads(data.decode("utf-8"))))


def english() -> Catalogue:
    return catalogue(Language.EN)


def placeholders(text: str) -> set[str]:
    """The placeholder names in one catalogue string, e.g. ``{"value"}`` for ``"{value:.1%} left"``."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def parse_language(raw: str | None) -> Language | None:
    """The language a URL value or a browser locale names (``"zh"``, ``"zh-CN"``, ``"en-GB"``…), or None."""
    if not raw:
        return None
    code = raw.strip().lower().replace("_", "-").split("-")[0]
    try:
        return Language(code)
    except ValueError:
        return None


def choose_language(url_value: str | None, browser_locale: str | None) -> Language:
    """The URL's ``lang`` if valid, else the browser's language if offered, else the default."""
    return parse_language(url_value) or parse_language(browser_locale) or DEFAULT_LANGUAGE


__all__ = ["LANGUAGE_NAMES", "LANG_PARAM", "Catalogue", "Language", "LocalizedError", "Message", "Verbatim",
           "catalogue", "choose_language", "duration", "english", "message", "minutes", "parse_language",
           "placeholders"]
