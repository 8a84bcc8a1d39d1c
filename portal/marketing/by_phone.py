"""Customer service records a caller's choice, given on the phone (seed 002: staff add a
block-list entry when someone asks on the phone): a consent given or withdrawn, a reservation
against marketing on a channel, an objection to direct marketing.

Each is the person's own choice in their consent history (portal/marketing/consent.py), through
channel ``staff``, with the member of staff as its actor and the moment it was recorded, so the
history says who took it and when; the block list and the company's systems follow as they do
for a choice made on /me (``preferences.change``). A consent given by phone is recorded with the
version of the text the agent read out (the data map's). Lifting a reservation or an objection
is not taken on a caller's word: it would let marketing reach someone who asked for none, on
the say-so of whoever is on the line. The person lifts it themselves, signed in.

Every choice recorded is an audit entry (``consent.by_phone``) with the look-up's reason, in
the transaction that records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.audit import AuditActor, record
from portal.datamap.model import DataMap
from portal.i18n import gettext as _
from portal.marketing import preferences
from portal.marketing.consent import (
    Actor,
    ConsentEvent,
    ConsentRefused,
    TopicKind,
    Via,
    check_topic,
    consent_purposes,
)
from portal.marketing.preferences import Change, PersonChoices

AUDIT_ACTION = "consent.by_phone"


def record_by_phone(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    subject_id: int,
    *,
    kind: str,
    topic: str,
    active: bool,
    staff_id: int,
    reason: str,
    lookup_id: int,
    region: str,
    now: datetime,
) -> PersonChoices:
    """Record the caller's choice (see the module docstring). ConsentRefused, with nothing
    recorded, for a topic the map does not know or a reservation or objection to lift."""
    try:
        topic_kind = TopicKind(kind)
    except ValueError:
        raise ConsentRefused(_("There is no such choice.")) from None
    check_topic(datamap, topic_kind, topic)
    if topic_kind != TopicKind.consent and not active:
        raise ConsentRefused(
            _("A reservation or an objection is lifted by the person, signed in with BankID.")
        )
    version = None
    if topic_kind == TopicKind.consent:
        consent = consent_purposes(datamap)[topic].consent
        version = consent.version if consent is not None else None
    change = Change(topic_kind, topic, active, Via.staff, Actor.staff, staff_id, version)

    def audit(db: Session, event: ConsentEvent) -> None:
        details = {"kind": kind, "topic": topic, "active": active, "event_id": event.id}
        record(
            db,
            actor=AuditActor.staff,
            actor_id=staff_id,
            action=AUDIT_ACTION,
            subject_id=subject_id,
            reason=reason,
            details={**details, "lookup": lookup_id},
            now=now,
        )

    return preferences.change(
        engine, datamap, sources, subject_id, change, region=region, now=now, also=audit
    )
