"""A signed link that was refused (used, tampered with, expired, someone else's): the page that
says so in the person's language, and where to get a new one (links/refused.html)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from portal import i18n
from portal.links import LinkRefused, Purpose, Refusal
from portal.views.common import render

# The status each refusal answers with.
STATUS = {
    Refusal.invalid: 400,
    Refusal.other_person: 403,
    Refusal.used: 409,
    Refusal.expired: 410,
}

# Where a new link of each purpose is got.
AGAIN = {
    Purpose.confirm_request: "/requests/links",
    Purpose.follow_request: "/requests/links",
    Purpose.request_download: "/requests/links",
    Purpose.confirm_address: "/me/addresses",
    Purpose.export_download: "/me/exports",
}


@dataclass(frozen=True)
class RefusedLinkPage:
    """``purpose`` and ``reason`` (the Purpose and Refusal values) choose the words;
    ``again_href`` is where to get a new link."""

    purpose: str
    reason: str
    again_href: str

    @property
    def status(self) -> int:
        return STATUS.get(Refusal(self.reason), 400) if self.reason in set(Refusal) else 410


def refused_link_page(purpose: Purpose, reason: Refusal | str) -> RefusedLinkPage:
    return RefusedLinkPage(str(purpose), str(reason), AGAIN[purpose])


def speak_as_link(
    language_cookie: str | None, refused_or_language: LinkRefused | str | None
) -> None:
    """Show a link's page in the language of the e-mail the link went out in, unless the
    visitor has chosen a language with the switch. A link that cannot be read (tampered) says
    nothing: the browser's preference holds."""
    language = refused_or_language
    if isinstance(refused_or_language, LinkRefused):
        language = refused_or_language.link.language if refused_or_language.link else None
    if not language_cookie and isinstance(language, str) and language in i18n.LANGUAGES:
        i18n.set_language(language)


def render_refused(request: Request, purpose: Purpose, refused: LinkRefused) -> Response:
    """The page of a refused link, in the language its e-mail went out in."""
    speak_as_link(request.cookies.get(i18n.COOKIE), refused)
    page = refused_link_page(purpose, refused.reason)
    return render(request, "links/refused.html", page, page.status)
