"""The erasure outcome letter (GDPR art. 12(4), 17(3)): a PDF, and the e-mail that announces it.

``render_outcome_letter`` turns an erasure plan into an A4 letter in the person's language: the
controller as letterhead, what was erased, what was anonymised, and what is kept, why (the law or
the case) and until when, with the person's rights. ``queue_outcome_message`` puts the e-mail in
the outbox (execution calls it when a plan is done); ``render_outcome_email`` is what the e-mail
issue renders it with. The e-mail links the request's page, where the owner downloads the letter
(``letter_facts``); the DPO downloads it from the case page.

Texts are English source strings in ``_()`` (translated through portal/translations); the plan's
own texts (table names, hold names, law citations) are already in every language. Dates are
the controller's local days, written by ``i18n.format_day`` as everywhere else. Rendering sets
the language in a copied context, so the caller's language is untouched.

WeasyPrint gets no base URL and a fetcher that allows ``data:`` URLs only: a letter never reads a
file or the network (fonts come from fontconfig: DejaVu Sans, from Debian's fonts-dejavu-core).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session, col, select

from portal import i18n
from portal.datamap.model import Controller
from portal.i18n import ngettext
from portal.identity.identifiers import contact_address
from portal.jobs.outbox import MessageSite, OutboxMessage, queue_message
from portal.models import Assurance, Subject
from portal.templating import TEMPLATES_DIR
from portal.workflows import notices
from portal.workflows.erasure import ErasurePlan, Phase, describe_plan
from portal.workflows.kept import plan_kept
from portal.workflows.recipients import TaskAction, tasks_of
from portal.workflows.records import PlanStatus, StoredPlan
from portal.workflows.requests import DataRequest, RequestStatus, RequestType

LETTER_TEMPLATE = "pdf/outcome_letter.html"
LETTER_STYLESHEET = TEMPLATES_DIR / "pdf" / "letter.css"
MESSAGE_KIND = "erasure_outcome"


# --- the letter's content ------------------------------------------------------------------------


@dataclass(frozen=True)
class Counted:
    """A table and how many of its records something happened to, in words."""

    table: str
    count: str


@dataclass(frozen=True)
class Kept:
    """Records of one table kept for the same reasons until the same day (or while open)."""

    table: str
    count: str
    reasons: tuple[tuple[str, str | None], ...]  # (name, law citation; None: not verified)
    until: str  # a date as the language writes it, or "while the case is open"
    then: str | None  # what happens after that date
    unlinked: bool  # pseudonymised: no longer found by searching for the person


@dataclass(frozen=True)
class LetterContent:
    erased: tuple[Counted, ...]
    anonymised: tuple[Counted, ...]
    kept: tuple[Kept, ...]
    withheld: int

    @property
    def nothing_held(self) -> bool:
        return not (self.erased or self.anonymised or self.kept)

    @property
    def kept_while_open(self) -> bool:
        return any(not item.unlinked for item in self.kept)


def letter_content(plan: ErasurePlan, language: str) -> LetterContent:
    """The plan grouped for the letter, every text in ``language``."""
    return _in_language(language, _letter_content, plan, language)


def _letter_content(plan: ErasurePlan, language: str) -> LetterContent:
    return LetterContent(
        erased=_counted(plan, "erase", language),
        anonymised=_counted(plan, "anonymise", language),
        kept=tuple(_kept(plan, language)),
        withheld=sum(plan.withheld.values()),
    )


def _records(count: int) -> str:
    return ngettext("%(num)s record", "%(num)s records", count)


def _table_name(plan: ErasurePlan, table: str, language: str) -> str:
    for summary in plan.tables:
        if summary.table == table:
            return summary.name.get(language, summary.name.get("en", table))
    return table


def _counted(plan: ErasurePlan, action: str, language: str) -> tuple[Counted, ...]:
    return tuple(
        Counted(_table_name(plan, s.table, language), _records(getattr(s, action)))
        for s in plan.tables
        if getattr(s, action)
    )


def _kept(plan: ErasurePlan, language: str) -> Iterable[Kept]:
    for table in plan_kept(plan):
        for group in table.groups:
            yield Kept(
                table=table.name_in(language),
                count=_records(group.count),
                reasons=group.hold_texts(language),
                until=group.until_text(language),
                then=group.then_text(language),
                unlinked=group.until is not None,
            )


# --- rendering -----------------------------------------------------------------------------------


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # HTML is escaped (names may contain markup); the e-mail is plain text.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_callables(i18n.raw_gettext, i18n.raw_ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


_ENV = _environment()


def _in_language(language: str, render: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``render`` with the i18n language set, without changing the caller's language."""

    def run() -> Any:
        i18n.set_language(language)
        return render(*args, **kwargs)

    return contextvars.copy_context().run(run)


def css_string(text: str) -> str:
    """A CSS string literal for ``text``: quotes, backslashes and '<' escaped (no '</style>')."""
    escaped = "".join(
        f"\\{ord(char):x} " if char in '"\\<>\n\r\f' or ord(char) < 0x20 else char for char in text
    )
    return f'"{escaped}"'


def page_counter_content(template: str) -> str:
    """The CSS ``content`` for a translated "Page %(page)s of %(pages)s": the words as strings,
    the numbers as page counters, in whatever order the language puts them."""
    parts: list[str] = []
    for piece in re.split(r"(%\(pages?\)s)", template):
        if piece == "%(page)s":
            parts.append("counter(page)")
        elif piece == "%(pages)s":
            parts.append("counter(pages)")
        elif piece:
            parts.append(css_string(piece))
    return " ".join(parts) or '""'


def _page_css() -> str:
    footer = page_counter_content(i18n.raw_gettext("Page %(page)s of %(pages)s"))
    return f"@page {{ @bottom-right {{ content: {footer}; }} }}\n"


# Every PDF the portal writes is tagged as PDF/UA-1: its structure (headings, lists, tables with
# their header cells), the document's language from <html lang> and its <title> shown in place
# of the file name, so that a screen reader can read it. What WeasyPrint 70 does not do: the page
# footer drawn from @page ("Page 2 of 5") is marked content in no structure element and not an
# artifact, so a strict PDF/UA checker (veraPDF) would still flag it (a reader that follows the
# structure tree does not reach it).
PDF_OPTIONS: dict[str, Any] = {"pdf_variant": "pdf/ua-1"}


def _refusing_fetcher() -> Any:
    """A URL fetcher that allows only ``data:`` URLs: no network, no files."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False)


# Public names for the export report (portal/exports/report.py), rendered the same way.
PDF_ENV = _ENV
in_language = _in_language
refusing_fetcher = _refusing_fetcher


def _letter_html(
    plan: ErasurePlan,
    *,
    person_name: str,
    request_id: int,
    received_at: date | datetime,
    completed_at: date | datetime,
    controller: Controller,
    language: str,
    recipients: Sequence[tuple[str, datetime | None]] = (),
) -> str:
    tz = controller.time_zone
    return _ENV.get_template(LETTER_TEMPLATE).render(
        recipients=[
            (name, i18n.format_day(i18n.local_day(at, tz), language) if at else None)
            for name, at in recipients
        ],
        language=language,
        person_name=person_name,
        reference=str(request_id),
        received=i18n.format_day(i18n.local_day(received_at, tz), language),
        letter_date=i18n.format_day(i18n.local_day(completed_at, tz), language),
        controller=controller,
        authority=controller.supervisory_authority.get(language),
        content=_letter_content(plan, language),
    )


def _write_pdf(html: str) -> bytes:
    from weasyprint import CSS, HTML

    fetcher = _refusing_fetcher()
    stylesheets = [
        CSS(string=LETTER_STYLESHEET.read_text(encoding="utf-8"), url_fetcher=fetcher),
        CSS(string=_page_css(), url_fetcher=fetcher),
    ]
    document = HTML(string=html, base_url=None, url_fetcher=fetcher)
    return document.write_pdf(stylesheets=stylesheets, **PDF_OPTIONS)


def render_outcome_letter(
    plan: ErasurePlan,
    *,
    person_name: str,
    request_id: int,
    received_at: date | datetime,
    completed_at: date | datetime,
    controller: Controller,
    language: str,
    recipients: Sequence[tuple[str, datetime | None]] = (),
) -> bytes:
    """The outcome letter as PDF bytes, in ``language`` (nb, sv or en; anything else: nb);
    ``recipients``: those asked to erase the data too (art. 19), and when they confirmed."""
    language = language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE

    def render() -> bytes:
        html = _letter_html(
            plan,
            person_name=person_name,
            request_id=request_id,
            received_at=received_at,
            completed_at=completed_at,
            controller=controller,
            language=language,
            recipients=recipients,
        )
        return _write_pdf(html)

    return _in_language(language, render)


# --- a completed request's letter ---------------------------------------------------------------

# A letter exists once the erasure is done: completed, or completed with some records kept.
LETTER_STATUSES = frozenset({RequestStatus.completed, RequestStatus.partially_completed})


@dataclass(frozen=True)
class LetterFacts:
    """What a completed erasure request's letter is made from, read in one transaction and
    rendered after it (rendering takes a while; the database need not wait)."""

    plan: ErasurePlan
    request_id: int
    received_at: datetime
    completed_at: datetime
    person_name: str
    language: str  # the request's: the language of the e-mail the person got
    # The recipients asked to erase the data too (art. 19): name, and when it confirmed.
    recipients: tuple[tuple[str, datetime | None], ...] = ()

    def render(self, controller: Controller, language: str) -> bytes:
        return render_outcome_letter(
            self.plan,
            person_name=self.person_name,
            request_id=self.request_id,
            received_at=self.received_at,
            completed_at=self.completed_at,
            controller=controller,
            language=language,
            recipients=self.recipients,
        )


def executed_plan(db: Session, request: DataRequest) -> StoredPlan | None:
    """The plan a completed erasure request was carried out by; None for any other request
    (not erasure, not completed yet, cancelled or rejected)."""
    if request.type != RequestType.erasure or request.status not in LETTER_STATUSES:
        return None
    statement = (
        select(StoredPlan)
        .where(StoredPlan.request_id == request.id, StoredPlan.status == PlanStatus.executed)
        .order_by(col(StoredPlan.version).desc())
        .limit(1)
    )
    return db.exec(statement).first()


def letter_facts(db: Session, request: DataRequest, person_name: str) -> LetterFacts | None:
    """The request's outcome letter, ready to render; None when it has none."""
    stored = executed_plan(db, request)
    if stored is None or request.id is None:
        return None
    return LetterFacts(
        plan=ErasurePlan.from_dict(stored.plan),
        request_id=request.id,
        received_at=request.received_at,
        completed_at=stored.executed_at or request.closed_at or request.received_at,
        person_name=person_name,
        language=request.language,
        recipients=tuple(
            (task.recipient_name, task.confirmed_at)
            for task in tasks_of(db, request.id)
            if task.action == TaskAction.erasure
        ),
    )


# --- the e-mail ----------------------------------------------------------------------------------


def outcome_context(
    plan: ErasurePlan,
    *,
    request_id: int,
    plan_id: int | None,
    received_at: date | datetime,
    controller: Controller,
    language: str,
) -> dict[str, Any]:
    """What the outcome e-mail needs, as JSON: references, the plan in plain words, and the
    controller (no personal data about the person beyond their own plan's lines). The e-mail
    goes out when the plan has been carried out, so its lines are in the past tense."""
    return {
        "request_id": request_id,
        "plan_id": plan_id,
        "received_on": i18n.local_day(received_at, controller.time_zone).isoformat(),
        "lines": describe_plan(plan, language, Phase.carried_out),
        "nothing_held": not plan.steps,
        "holds_anything": plan.holds_anything,
        "kept_to_a_date": any(s.action == "retain" and s.until for s in plan.steps),
        "kept_while_open": any(s.action == "retain" and s.until is None for s in plan.steps),
        "controller": {
            "name": controller.name,
            "contact": controller.contact,
            "dpo_contact": controller.dpo_contact,
            "supervisory_authority": controller.supervisory_authority.get(language),
        },
    }


def queue_outcome_message(
    db: Session,
    *,
    plan: StoredPlan,
    request: DataRequest,
    subject: Subject,
    controller: Controller,
    language: str,
    now: datetime,
) -> OutboxMessage:
    """Queue the outcome e-mail in the caller's transaction (the caller commits).

    The context holds the request and plan ids, the request's date, the controller and the
    plan's plain-words lines: no name, national ID number or address. The recipient is the
    subject id and, when they have one, the address on file now: the erasure that follows
    removes the identifiers staff linked, and the letter must still reach them (the outbox row
    outlives the erasure it reports; SET NULL clears the subject id, and sending clears the
    address). A request filed without BankID (low assurance) gets the letter attached.
    """
    if request.id is None or subject.id is None:
        raise ValueError("the request and the subject must be stored before a message is queued")
    language = language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE
    erasure = ErasurePlan.from_dict(plan.plan)
    context = outcome_context(
        erasure,
        request_id=request.id,
        plan_id=plan.id,
        received_at=request.received_at,
        controller=controller,
        language=language,
    )
    context["letter_attached"] = request.assurance == Assurance.low
    # Filed without BankID: to the address confirmed for the request, linking its follow link.
    to = notices.recipient(db, request)
    follow = to is not None and to.follow
    if follow:
        context["follow"] = True
    return queue_message(
        db,
        MESSAGE_KIND,
        language=language,
        subject_id=subject.id,
        email=to.email if follow and to is not None else contact_address(db, subject.id),
        context=context,
        now=now,
    )


def outcome_values(context: Mapping[str, Any], language: str, site: MessageSite) -> dict[str, Any]:
    """The outcome e-mail's values, from a queued message's context and where it is rendered
    (the portal's public URL, so a link is right even if the URL changed after the message was
    queued). The letter itself travels by e-mail only where the request was filed without
    BankID (``letter_attached``), whose message links the request's follow link; otherwise the
    person downloads it from the request's page after signing in."""
    return {
        **context,
        **notices.follow_values(context, language, site),
        "received": site.day(context, "received", language),
    }


def outcome_attachment(
    db: Session, context: Mapping[str, Any], language: str, controller: Controller
) -> tuple[str, bytes] | None:
    """The outcome letter (file name, PDF) for a message that carries it, else None. Rendered
    when the message is sent, from the executed plan; addressed without a name (the erasure
    blanked it)."""
    if not context.get("letter_attached"):
        return None
    request = db.get(DataRequest, int(context["request_id"]))
    facts = letter_facts(db, request, person_name="") if request is not None else None
    if facts is None:
        raise LookupError(f"request {context['request_id']} has no outcome letter")
    return f"outcome-letter-{facts.request_id}.pdf", facts.render(controller, language)
