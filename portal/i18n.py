"""Languages: Norwegian bokmål by default, Swedish and English.

Source strings are English and wrapped in `gettext` (`_` in templates); catalogs live in
portal/translations and are compiled by the install (`make catalogs`). The language of the
current request is held in a context variable so templates and domain code need no parameter.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.support import LazyProxy, NullTranslations, Translations

LANGUAGES: dict[str, str] = {"nb": "Norsk bokmål", "sv": "Svenska", "en": "English"}
DEFAULT_LANGUAGE = "nb"
# The Babel locale that formats dates and numbers in each language.
BABEL_LOCALES: dict[str, str] = {"nb": "nb_NO", "sv": "sv_SE", "en": "en_GB"}
COOKIE = "lang"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

_current: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS_DIR), [language], domain="messages")


def current_language() -> str:
    return _current.get()


def babel_locale(language: str) -> str:
    return BABEL_LOCALES.get(language, BABEL_LOCALES[DEFAULT_LANGUAGE])


def set_language(language: str) -> None:
    _current.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


def raw_gettext(message: str) -> str:
    """The translation, unformatted: Jinja's newstyle gettext formats after escaping."""
    return translations(_current.get()).gettext(message)


def raw_ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def gettext(message: str, **variables: object) -> str:
    text = raw_gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    return raw_ngettext(singular, plural, n) % {"num": n, **variables}


@dataclass(frozen=True)
class Translator:
    """gettext and ngettext in a given language rather than the request's, for domain texts
    whose language is a parameter. The methods bear gettext's names so that `make messages`
    extracts their texts: ``Translator("sv").gettext("Kept until %(date)s", date=day)``."""

    language: str

    def gettext(self, message: str, **variables: object) -> str:
        text = translations(self.language).gettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, n: int, **variables: object) -> str:
        text = translations(self.language).ngettext(singular, plural, n)
        return text % {"num": n, **variables}


def lazy_gettext(message: str) -> LazyProxy:
    """For texts defined at import time, translated when shown."""
    return LazyProxy(gettext, message, enable_cache=False)


_ = gettext


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The cookie set by the language switch wins; then the browser's preference; then bokmål."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        primary = tag.split("-")[0]
        # Browsers say "no" or "nn" for Norwegian; we serve bokmål to both.
        if primary in ("no", "nn"):
            return "nb"
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE
