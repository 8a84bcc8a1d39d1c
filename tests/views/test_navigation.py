"""The person's navigation: their four pages, the section of the page shown marked."""

from __future__ import annotations

import pytest

from portal.views.navigation import person_navigation


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
        ("/", None),
        ("/me/no-such-page", None),
        ("/me/requestsx", None),
    ],
)
def test_the_section_of_the_page_is_marked_and_only_it(path: str, current: str | None) -> None:
    links = person_navigation(path)
    assert [link.href for link in links] == ["/me", "/me/requests", "/me/consent", "/me/exports"]
    assert [link.href for link in links if link.current] == ([current] if current else [])


def test_the_links_are_named_in_the_page_language(english: None) -> None:
    assert [link.label for link in person_navigation("/me")] == [
        "My data",
        "My requests",
        "Consent and marketing",
        "My copies",
    ]
