from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from starlette.testclient import TestClient

from portal import i18n
from portal.app import create_app
from portal.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "portal" / "translations"
PYBABEL = str(Path(sys.executable).parent / "pybabel")


def catalog(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def test_template_is_up_to_date_with_the_sources(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [PYBABEL, "extract", "--no-location",
         "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-k", "raw_gettext",
         "-o", str(fresh), "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    extracted = {m.id for m in catalog(fresh) if m.id}
    committed = {m.id for m in catalog(TRANSLATIONS / "messages.pot") if m.id}
    assert extracted - committed == set(), "run `make messages` and translate the new texts"


@pytest.mark.parametrize("language", ["nb", "sv"])
def test_every_text_is_translated(language: str) -> None:
    template = {m.id for m in catalog(TRANSLATIONS / "messages.pot") if m.id}
    po = catalog(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po")
    translated = {m.id for m in po if m.id and m.string and not m.fuzzy}
    assert template - translated == set()


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        (None, None, "nb"),
        ("sv", "en", "sv"),
        ("xx", "en-GB,en;q=0.8", "en"),
        (None, "nn-NO", "nb"),
        (None, "no", "nb"),
        (None, "de-DE, sv;q=0.5", "sv"),
        (None, "de-DE", "nb"),
    ],
)
def test_language_negotiation(cookie: str | None, accept: str | None, expected: str) -> None:
    assert i18n.negotiate(cookie, accept) == expected


@pytest.mark.parametrize(
    ("headers", "cookies", "text", "lang"),
    [
        ({}, {}, "Logg inn med BankID", "nb"),
        ({}, {"lang": "sv"}, "Logga in med BankID", "sv"),
        ({"accept-language": "en-GB"}, {}, "Sign in with BankID", "en"),
    ],
)
def test_pages_are_served_in_the_chosen_language(
    settings: Settings, headers: dict, cookies: dict, text: str, lang: str
) -> None:
    with TestClient(create_app(settings), cookies=cookies) as client:
        response = client.get("/", headers=headers)
    assert text in response.text
    assert f'<html lang="{lang}">' in response.text


# --- dates and times ------------------------------------------------------------------------------

OSLO = i18n.time_zone("NO")


@pytest.mark.parametrize(
    ("language", "expected"),
    [("nb", "29. okt. 2022"), ("sv", "29 okt. 2022"), ("en", "29 Oct 2022")],
)
def test_a_day_is_written_in_the_medium_style(language: str, expected: str) -> None:
    assert i18n.format_day(date(2022, 10, 29), language) == expected


def test_a_day_is_never_a_moment() -> None:
    # A moment's day depends on the time zone: the caller says which (local_day).
    with pytest.raises(TypeError):
        i18n.format_day(datetime(2022, 10, 29, 12, 0, tzinfo=UTC), "nb")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("nb", "26. okt. 2022, 16:58"),
        ("sv", "26 okt. 2022 16:58"),
        ("en", "26 Oct 2022, 16:58"),
    ],
)
def test_a_moment_is_its_day_and_local_hours_and_minutes_without_seconds(
    language: str, expected: str
) -> None:
    at = datetime(2022, 10, 26, 14, 58, 37, 512000, tzinfo=UTC)  # 16:58:37 in Oslo (summer time)
    assert i18n.format_moment(at, language, OSLO) == expected
    assert i18n.format_moment(at.replace(tzinfo=None), language, OSLO) == expected  # naive: UTC


def test_a_moment_is_read_in_the_controllers_time_zone() -> None:
    at = datetime(2023, 1, 31, 23, 30, tzinfo=UTC)
    assert i18n.format_moment(at, "en", OSLO) == "1 Feb 2023, 00:30"
    assert i18n.format_moment(at, "en", i18n.time_zone("SE")) == "1 Feb 2023, 00:30"
    assert i18n.format_moment(at, "en", "UTC") == "31 Jan 2023, 23:30"
    assert i18n.local_day(at, OSLO) == date(2023, 2, 1)
    assert i18n.time_zone("DK") == "UTC"  # a country the portal does not know: UTC, said plainly


@pytest.mark.parametrize(
    ("language", "expected"),
    [("nb", "29. okt. 2022"), ("sv", "29 okt. 2022"), ("en", "29 Oct 2022")],
)
def test_a_moment_at_midnight_is_a_date(language: str, expected: str) -> None:
    # A date-only source held as a timestamp (naive midnight), and local midnight given in UTC:
    # both are the day alone, never "00:00" or "00:00:00".
    assert i18n.format_moment(datetime(2022, 10, 29), language, OSLO) == expected
    local_midnight = datetime(2022, 10, 28, 22, 0, tzinfo=UTC)  # 00:00 in Oslo (summer time)
    assert i18n.format_moment(local_midnight, language, OSLO) == expected
    # A second past midnight is a moment, shown to the minute.
    assert i18n.format_moment(datetime(2022, 10, 28, 22, 0, 1, tzinfo=UTC), language, OSLO) == (
        expected + (" 00:00" if language == "sv" else ", 00:00")
    )
