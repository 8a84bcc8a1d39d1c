"""The navigations: the signed-in person's five pages (the number of their unread messages on
the link to Messages), and the console's pages a member of staff's roles open; the page they
are on marked (aria-current).

Every person page shows the person's in the header (base.html), every console page the
console's. A sub-page marks its section: a request's page marks "My requests" (the DPO's case
page "Requests"), an export's page "My copies", a page of one table "My data", a message's page
"Messages".
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
    # Unread messages, shown on the link to Messages (0: none shown).
    count: int = 0


MESSAGES = "/me/messages"

# (href, label, the paths below href that belong to the same section)
_SECTIONS = (
    ("/me", _l("My data"), ("/me/data/", "/me/addresses")),
    ("/me/requests", _l("My requests"), ("/me/requests/",)),
    ("/me/consent", _l("Consent and marketing"), ()),
    ("/me/exports", _l("My copies"), ("/me/exports/",)),
    (MESSAGES, _l("Messages"), ("/me/messages/",)),
)


def person_navigation(path: str, unread: int = 0) -> tuple[NavLink, ...]:
    """The person's navigation as seen from the page at `path` (a path, never a query), with
    their `unread` messages counted on the link to Messages."""
    return tuple(
        NavLink(
            href,
            str(label),
            path == href or path.startswith(below),
            count=max(unread, 0) if href == MESSAGES else 0,
        )
        for href, label, below in _SECTIONS
    )


# (href, label, the roles that open it, the paths below href that belong to the same section)
_CONSOLE = (
    ("/staff", _l("Overview"), ("staff", "dpo", "admin"), ()),
    ("/staff/lookup", _l("Look up a caller"), ("staff", "dpo", "admin"), ("/staff/lookup/",)),
    ("/dpo", _l("Requests"), ("dpo",), ("/dpo/requests/",)),
    ("/dpo/holds", _l("Holds"), ("dpo",), ()),
    ("/staff/identifiers", _l("People"), ("staff", "dpo"), ("/staff/people/",)),
    ("/staff/block-list", _l("Block list"), ("staff", "dpo"), ("/staff/block-list/search",)),
    ("/staff/wash", _l("Wash a call list"), ("staff",), ("/staff/wash/",)),
    ("/staff/block-list/import", _l("Registers"), ("dpo", "admin"), ()),
    ("/dpo/records", _l("Records of processing"), ("dpo", "admin"), ()),
    ("/dpo/jobs", _l("Stopped jobs"), ("dpo",), ()),
    ("/dpo/dashboard", _l("Key figures"), ("dpo",), ()),
    ("/dpo/audit", _l("Audit log"), ("dpo",), ()),
    ("/staff/api-tokens", _l("API tokens"), ("admin",), ()),
)


def console_navigation(path: str, roles: tuple[str, ...]) -> tuple[NavLink, ...]:
    """The console's pages the roles open, as seen from the page at ``path``."""
    return tuple(
        NavLink(href, str(label), path == href or path.startswith(below))
        for href, label, allowed, below in _CONSOLE
        if set(allowed) & set(roles)
    )


def landing(roles: tuple[str, ...] | list[str]) -> str:
    """Where a member of staff starts after signing in: the DPO at the request queue, customer
    service at the caller look-up, an administrator at the console's overview."""
    if "dpo" in roles:
        return "/dpo"
    return "/staff/lookup" if "staff" in roles else "/staff"
