"""Languages: Norwegian bokmål by default, Swedish and English; and how dates read in them.

Source strings are English and wrapped in `gettext` (`_` in templates); catalogs live in
portal/translations and are compiled by the install (`make catalogs`). The language of the
current request is held in a context variable so templates and domain code need no parameter.

Every date a person or staff reads is written by `format_day` (a day: nb "29. okt. 2022", sv
"29 okt. 2022", en "29 Oct 2022") or `format_moment` (the same day and hours:minutes, never
seconds, in the controller's time zone: `time_zone`). Machines get ISO 8601 instead (the JSON
document, the CSV files, outbox contexts).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
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


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(babel_locale(language))


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


# --- dates and times ------------------------------------------------------------------------------

# The controller's time zone, by its country: a request received at 00:30 in Oslo was received
# that day, and a call at 16:58 Oslo time reads 16:58 whatever the server's zone.
TIME_ZONES: dict[str, str] = {"NO": "Europe/Oslo", "SE": "Europe/Stockholm"}
_MIDNIGHT = time(0)


def time_zone(country: str) -> str:
    """The IANA time zone dates are read in for a controller in ``country`` (else UTC)."""
    return TIME_ZONES.get(country, "UTC")


def local_moment(moment: datetime, tz: str) -> datetime:
    """``moment`` in the zone ``tz``. A naive datetime is taken as UTC, as the portal stores
    them (SQLite hands them back naive) and as the withdrawal job writes the company's."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(tz))


def local_day(moment: date | datetime, tz: str) -> date:
    """The calendar day of a moment in the zone ``tz``; a date is its own day."""
    if not isinstance(moment, datetime):
        return moment
    return local_moment(moment, tz).date()


@lru_cache(maxsize=8192)
def format_day(day: date, language: str) -> str:
    """A day in the language's medium style: nb "29. okt. 2022", sv "29 okt. 2022",
    en "29 Oct 2022". A datetime is refused: its day depends on the time zone, so the caller
    takes ``local_day`` first (or shows it with ``format_moment``)."""
    if isinstance(day, datetime):
        raise TypeError("format_day takes a date: use local_day(moment, tz) or format_moment")
    return format_date(day, "medium", locale=_locale(language))


@lru_cache(maxsize=8192)
def format_moment(moment: datetime, language: str, tz: str) -> str:
    """A moment as its day (``format_day``) and hours:minutes in the zone ``tz``, never seconds:
    nb "29. okt. 2022, 16:58", sv "29 okt. 2022 16:58", en "29 Oct 2022, 16:58".

    A moment exactly at midnight is a date held as a timestamp (a date-only source, or a
    DATETIME column filled with dates) and reads as the day alone. A naive one is checked
    before it is taken as UTC: a stored date has no zone, and its midnight is the day's start
    wherever it is read; an aware one at midnight in ``tz``."""
    if moment.tzinfo is None and moment.time() == _MIDNIGHT:
        return format_day(moment.date(), language)
    local = local_moment(moment, tz)
    if local.time() == _MIDNIGHT:
        return format_day(local.date(), language)
    locale = _locale(language)
    # Babel's own "medium" datetime has seconds; this is its pattern with the short time.
    pattern = get_datetime_format("medium", locale=locale).replace("'", "")
    hours = format_time(local.time(), "short", locale=locale)
    return pattern.replace("{0}", hours).replace("{1}", format_day(local.date(), language))
