from __future__ import annotations

import subprocess
import sys
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
