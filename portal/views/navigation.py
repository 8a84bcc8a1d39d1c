"""The signed-in person's navigation: their four pages, with the one they are on marked.

Every person page shows it in the header (base.html); staff pages never do. A sub-page marks
its section: a request's page marks "My requests", an export's page "My copies", a page of one
table "My data".
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.i18n import lazy_gettext as _l


@dataclass(frozen=True)
class NavLink:
    """One link of the navigation; `current` is the section of the page shown
    (aria-current="page")."""

    href: str
    label: str
    current: bool


# (href, label, the paths below href that belong to the same section)
_SECTIONS = (
    ("/me", _l("My data"), ("/me/data/", "/me/addresses")),
    ("/me/requests", _l("My requests"), ("/me/requests/",)),
    ("/me/consent", _l("Consent and marketing"), ()),
    ("/me/exports", _l("My copies"), ("/me/exports/",)),
)


def person_navigation(path: str) -> tuple[NavLink, ...]:
    """The person's navigation as seen from the page at `path` (a path, never a query)."""
    return tuple(
        NavLink(href, str(label), path == href or path.startswith(below))
        for href, label, below in _SECTIONS
    )
