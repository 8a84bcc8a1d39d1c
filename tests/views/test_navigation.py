"""The person's navigation: their five pages, the section of the page shown marked."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from portal import i18n
from portal.app import create_app
from portal.settings import Settings
from portal.views.navigation import console_navigation, landing, person_navigation
from tests.conftest import TEST_SECRET
from tests.support import add_demo_subject, signed_in_client


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/me", "/me"),
        ("/me/data/shop_orders", "/me"),
        ("/me/requests", "/me/requests"),
        ("/me/requests/new", "/me/requests"),
        ("/me/requests/12", "/me/requests"),
        ("/me/consent", "/me/consent"),
        ("/me/exports", "/me/exports"),
        ("/me/exports/3f2a", "/me/exports"),
        ("/me/messages", "/me/messages"),
        ("/me/messages/7", "/me/messages"),
        ("/", None),
        ("/me/no-such-page", None),
        ("/me/requestsx", None),
    ],
)
def test_the_section_of_the_page_is_marked_and_only_it(path: str, current: str | None) -> None:
    links = person_navigation(path)
    assert [link.href for link in links] == [
        "/me",
        "/me/requests",
        "/me/consent",
        "/me/exports",
        "/me/messages",
    ]
    assert [link.href for link in links if link.current] == ([current] if current else [])


def test_only_the_link_to_messages_counts_the_unread_ones() -> None:
    counts = {link.href: link.count for link in person_navigation("/me", 3)}
    assert counts == {
        "/me": 0,
        "/me/requests": 0,
        "/me/consent": 0,
        "/me/exports": 0,
        "/me/messages": 3,
    }
    assert all(link.count == 0 for link in person_navigation("/me"))


def test_the_links_are_named_in_the_page_language(english: None) -> None:
    assert [link.label for link in person_navigation("/me")] == [
        "My data",
        "My requests",
        "Consent and marketing",
        "My copies",
        "Messages",
    ]


@pytest.mark.parametrize("language", ["nb", "sv", "en"])
def test_the_copies_page_is_called_what_the_navigation_calls_it(
    settings: Settings, demo_sources: dict[str, Engine], language: str
) -> None:
    app = create_app(settings, sources=demo_sources)
    with TestClient(app, follow_redirects=False) as client:
        subject_id = add_demo_subject(client.app.state.engine, "ordinary")
        signed_in_client(client, secret_key=TEST_SECRET, subject_id=subject_id)
        client.cookies.set("lang", language)
        text = client.get("/me/exports").text
    label = i18n.Translator(language).gettext("My copies")
    heading = re.search(r"<h1>(.*?)</h1>", text)
    current = re.search(r'<a href="/me/exports" aria-current="page">(.*?)</a>', text)
    assert heading is not None and current is not None
    assert heading.group(1) == current.group(1) == label
    assert f"<title>{label}" in text


@pytest.mark.parametrize(
    ("roles", "hrefs"),
    [
        (
            ("staff",),
            ["/staff", "/staff/lookup", "/staff/identifiers", "/staff/block-list", "/staff/wash"],
        ),
        (
            ("dpo",),
            [
                "/staff",
                "/staff/lookup",
                "/dpo",
                "/dpo/holds",
                "/staff/identifiers",
                "/staff/block-list",
                "/staff/block-list/import",
                "/dpo/records",
                "/dpo/jobs",
                "/dpo/dashboard",
                "/dpo/audit",
            ],
        ),
        (
            ("admin",),
            [
                "/staff",
                "/staff/lookup",
                "/staff/block-list/import",
                "/dpo/records",
                "/staff/api-tokens",
            ],
        ),
    ],
)
def test_the_console_lists_the_pages_each_role_opens(
    english: None, roles: tuple[str, ...], hrefs: list[str]
) -> None:
    assert [link.href for link in console_navigation("/staff", roles)] == hrefs


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/dpo/requests/7", "/dpo"),
        ("/staff/people/3/identifiers", "/staff/identifiers"),
        ("/staff/block-list/import", "/staff/block-list/import"),
        ("/staff/block-list", "/staff/block-list"),
        ("/staff/wash/abc", None),  # a dpo does not wash lists
        ("/dpo/audit", "/dpo/audit"),
        ("/dpo/dashboard", "/dpo/dashboard"),
        ("/staff/lookup", "/staff/lookup"),
        ("/staff/lookup/12/people/3", "/staff/lookup"),
        ("/dpo/holds", "/dpo/holds"),
    ],
)
def test_the_console_marks_the_section_of_the_page(path: str, current: str | None) -> None:
    marked = [link.href for link in console_navigation(path, ("dpo",)) if link.current]
    assert marked == ([current] if current else [])


def test_each_role_lands_on_its_work_page() -> None:
    assert landing(("staff", "dpo")) == landing(["dpo", "admin"]) == "/dpo"
    assert landing(("staff",)) == landing(["staff", "admin"]) == "/staff/lookup"
    assert landing(["admin"]) == "/staff"
