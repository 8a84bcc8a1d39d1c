"""What the person's consent page shows: each consent with its switch, the reservations, the
objection, and the history, in the page's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from portal import i18n
from portal.datamap.model import DataMap
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.marketing.consent import (
    OBJECTION_TOPIC,
    RESERVATION_CHANNELS,
    Actor,
    ConsentState,
    TopicKind,
    Via,
)
from portal.marketing.preferences import Change, PersonChoices
from portal.views.common import day, flash, moment

CHANNELS = {
    "phone": _l("Phone calls"),
    "sms": _l("Text messages (SMS)"),
    "email": _l("E-mail"),
    "post": _l("Letters by post"),
    "all": _l("All channels"),
}
VIA = {
    Via.portal: _l("here, signed in with BankID"),
    Via.staff: _l("through customer service"),
    Via.import_: _l("recorded in our customer register"),
    Via.api: _l("through one of our systems"),
}


@dataclass(frozen=True)
class Switch:
    """One choice: its state as a label, and one button that flips it. The form posts kind,
    topic and the new state. Giving and withdrawing look alike (EDPB Guidelines 03/2022 on
    deceptive design patterns): the page never nudges either way."""

    kind: str
    topic: str
    name: str
    explanation: str
    on: bool
    state: str  # the label: given / not given, reserved / not reserved, objected / not
    status: str  # since when, until when, in words; "" when there is nothing to add
    action: str  # what the button does: withdraw consent, give consent, reserve, …
    version: str | None = None


@dataclass(frozen=True)
class HistoryRow:
    when: str
    what: str
    action: str
    via: str
    version: str | None


@dataclass(frozen=True)
class ConsentPage:
    consents: tuple[Switch, ...]
    reservations: tuple[Switch, ...]
    objection: Switch
    history: tuple[HistoryRow, ...]
    # The choice just switched ("kind-topic"): the sentence saying what was done shows beside
    # it, where the person is looking, rather than at the top of a long page.
    changed: str | None = None


def build_page(datamap: DataMap, choices: PersonChoices, changed: str | None = None) -> ConsentPage:
    language, tz = i18n.current_language(), datamap.controller.time_zone
    consents = tuple(_consent_switch(state, language, tz) for state in choices.choices.consents)
    reservations = tuple(
        _switch(
            TopicKind.reservation,
            channel,
            str(CHANNELS[channel]),
            "",
            channel in choices.choices.reserved,
        )
        for channel in RESERVATION_CHANNELS
    )
    objection = _switch(
        TopicKind.objection,
        OBJECTION_TOPIC,
        _("I object to direct marketing"),
        _(
            "We stop all marketing to you, on every channel, at once (GDPR article 21(3)). "
            "We still contact you about your orders, invoices and requests."
        ),
        choices.choices.objected,
    )
    history = tuple(
        HistoryRow(
            when=moment(item.at, language, tz),
            what=topic_name(datamap, item.kind, item.topic, language),
            action=action_words(item.kind, item.active),
            via=str(VIA.get(item.via, item.via)),
            version=item.text_version,
        )
        for item in choices.history
    )
    return ConsentPage(consents, reservations, objection, history, changed)


# Per kind: the state's label (on, off) and the button's words (when on, when off).
_STATES = {
    TopicKind.consent: (_l("Given"), _l("Not given")),
    TopicKind.reservation: (_l("Reserved"), _l("Not reserved")),
    TopicKind.objection: (_l("Objected"), _l("No objection")),
}
_ACTIONS = {
    TopicKind.consent: (_l("Withdraw consent"), _l("Give consent")),
    TopicKind.reservation: (_l("Lift the reservation"), _l("Reserve")),
    TopicKind.objection: (_l("Lift the objection"), _l("Object")),
}


def _switch(
    kind: TopicKind,
    topic: str,
    name: str,
    explanation: str,
    on: bool,
    status: str = "",
    version: str | None = None,
) -> Switch:
    state, action = _STATES[kind][not on], _ACTIONS[kind][not on]
    return Switch(kind, topic, name, explanation, on, str(state), status, str(action), version)


def _consent_switch(state: ConsentState, language: str, tz: str) -> Switch:
    if state.expired and state.expires_at is not None:
        expired = day(state.expires_at, language, tz)
        status = _("Expired on %(day)s: counts as withdrawn", day=expired)
    elif state.given and state.since is not None:
        status = _("Given on %(day)s", day=day(state.since, language, tz))
        if state.expires_at is not None:
            status += " · " + _("lasts until %(day)s", day=day(state.expires_at, language, tz))
    elif state.since is not None:
        status = _("Withdrawn on %(day)s", day=day(state.since, language, tz))
    else:
        status = ""
    return _switch(
        TopicKind.consent,
        state.purpose,
        state.name.get(language),
        state.text.get(language) if state.text else "",
        state.given,
        status,
        state.version,
    )


def topic_name(datamap: DataMap, kind: str, topic: str, language: str) -> str:
    if kind == TopicKind.consent:
        purpose = datamap.purposes.get(topic)
        return purpose.name.get(language) if purpose else topic
    if kind == TopicKind.reservation:
        return _("Reservation: %(channel)s", channel=str(CHANNELS.get(topic, topic)))
    return _("Objection to direct marketing")


def action_words(kind: str, active: bool) -> str:
    if kind == TopicKind.consent:
        return _("given") if active else _("withdrawn")
    if kind == TopicKind.reservation:
        return _("reserved") if active else _("reservation lifted")
    return _("objected") if active else _("objection lifted")


def change_from_form(form: Mapping[str, Any], subject_id: int) -> Change:
    """The person's switch as posted on this page; ValueError for a kind that does not exist."""
    return Change(
        kind=TopicKind(str(form.get("kind", ""))),
        topic=str(form.get("topic", "")),
        active=form.get("active") == "1",
        via=Via.portal,
        actor=Actor.person,
        actor_id=subject_id,
        text_version=str(form.get("text_version", ""))[:40] or None,
    )


# What a reservation is against, to finish the sentence "You have reserved yourself against …".
RESERVED_AGAINST = {
    "phone": _l("telemarketing"),
    "sms": _l("marketing by text message"),
    "email": _l("marketing by e-mail"),
    "post": _l("marketing by post"),
    "all": _l("marketing on every channel"),
}


CHANGED_KEY = "consent_changed"


def remember_change(request: Request, datamap: DataMap, item: Change) -> str:
    """After a switch: what was done, in a sentence, and which choice it was, for the page the
    redirect shows. Returns that page's address, at the choice."""
    anchor = f"{item.kind}-{item.topic}"
    flash(request, done_message(datamap, item))
    request.scope["web_session"].data[CHANGED_KEY] = anchor
    return f"/me/consent#{anchor}"


def take_changed(request: Request) -> str | None:
    return request.scope["web_session"].data.pop(CHANGED_KEY, None)


def done_message(datamap: DataMap, item: Change) -> str:
    """What the person has just done, as a sentence in their language."""
    if item.kind == TopicKind.consent:
        name = topic_name(datamap, item.kind, item.topic, i18n.current_language())
        if item.active:
            return _("You have given your consent to “%(name)s”.", name=name)
        return _(
            "You have withdrawn your consent to “%(name)s”. We have stopped, and our systems "
            "are being updated.",
            name=name,
        )
    if item.kind == TopicKind.reservation:
        against = str(RESERVED_AGAINST.get(item.topic, item.topic))
        if item.active:
            return _("You have reserved yourself against %(what)s.", what=against)
        return _("You have lifted your reservation against %(what)s.", what=against)
    if item.active:
        return _(
            "You have objected to direct marketing. We stop all marketing to you, on every channel."
        )
    return _("You have lifted your objection to direct marketing.")
