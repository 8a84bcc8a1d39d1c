"""What the person's consent page shows: each consent with its switch, the reservations, the
objection, and the history, in the page's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portal import i18n
from portal.datamap.model import DataMap
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.marketing.consent import (
    OBJECTION_TOPIC,
    RESERVATION_CHANNELS,
    Actor,
    TopicKind,
    Via,
)
from portal.marketing.preferences import Change, PersonChoices
from portal.views.common import day

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
    """One choice with its switch: the form posts kind, topic and the new state."""

    kind: str
    topic: str
    name: str
    explanation: str
    on: bool
    status: str  # in words: given on …, withdrawn on …, expired on …
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


def build_page(datamap: DataMap, choices: PersonChoices) -> ConsentPage:
    language = i18n.current_language()
    consents = []
    for state in choices.choices.consents:
        if state.expired and state.expires_at is not None:
            status = _(
                "Expired on %(day)s: counts as withdrawn", day=day(state.expires_at, language)
            )
        elif state.given and state.since is not None:
            status = _("Given on %(day)s", day=day(state.since, language))
            if state.expires_at is not None:
                status += " · " + _("lasts until %(day)s", day=day(state.expires_at, language))
        elif state.since is not None:
            status = _("Withdrawn on %(day)s", day=day(state.since, language))
        else:
            status = _("Not given")
        text = state.text.get(language) if state.text else ""
        consents.append(
            Switch(
                TopicKind.consent,
                state.purpose,
                state.name.get(language),
                text,
                state.given,
                status,
                state.version,
            )
        )
    reservations = tuple(
        Switch(
            TopicKind.reservation,
            channel,
            str(CHANNELS[channel]),
            "",
            channel in choices.choices.reserved,
            _("Reserved") if channel in choices.choices.reserved else _("Not reserved"),
        )
        for channel in RESERVATION_CHANNELS
    )
    objected = choices.choices.objected
    objection = Switch(
        TopicKind.objection,
        OBJECTION_TOPIC,
        _("I object to direct marketing"),
        _(
            "We stop all marketing to you, on every channel, at once (GDPR article 21(3)). "
            "We still contact you about your orders, invoices and requests."
        ),
        objected,
        _("You have objected") if objected else _("No objection"),
    )
    history = tuple(
        HistoryRow(
            when=day(item.at, language),
            what=_topic_name(datamap, item.kind, item.topic, language),
            action=_action(item.kind, item.active),
            via=str(VIA.get(item.via, item.via)),
            version=item.text_version,
        )
        for item in choices.history
    )
    return ConsentPage(tuple(consents), reservations, objection, history)


def _topic_name(datamap: DataMap, kind: str, topic: str, language: str) -> str:
    if kind == TopicKind.consent:
        purpose = datamap.purposes.get(topic)
        return purpose.name.get(language) if purpose else topic
    if kind == TopicKind.reservation:
        return _("Reservation: %(channel)s", channel=str(CHANNELS.get(topic, topic)))
    return _("Objection to direct marketing")


def _action(kind: str, active: bool) -> str:
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


def done_message(datamap: DataMap, item: Change) -> str:
    language = i18n.current_language()
    name = _topic_name(datamap, item.kind, item.topic, language)
    if item.kind == TopicKind.consent and not item.active:
        return _(
            "%(name)s: consent withdrawn. We have stopped, and our systems are being updated.",
            name=name,
        )
    return _("%(name)s: %(action)s.", name=name, action=_action(item.kind, item.active))
