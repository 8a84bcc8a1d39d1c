"""Customer service files an access request for a caller, without HTTP: the copy goes only to an
address the person proved (never one staff linked or typed), by e-mailed download links; the
person is told the request was received, there; it is filed once, audit-logged with the
look-up's reason, and the DPO's case page says how it was filed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import portal.exports.jobs  # noqa: F401 - registers the handlers
from portal.audit import AuditEntry
from portal.datamap import DataMap
from portal.exports import on_behalf, service
from portal.exports.message import LINKS_KIND
from portal.exports.models import ExportStatus
from portal.exports.on_behalf import OnBehalfRefused, file_access_request, proven_addresses
from portal.exports.store import ExportStore
from portal.jobs.outbox import OutboxMessage
from portal.models import Assurance, IdentifierKind, SubjectIdentifier
from portal.views.dpo_case import case_page
from portal.workflows.contacts import RequestContact
from portal.workflows.notices import RECEIVED
from portal.workflows.requests import Actor, DataRequest, RequestStatus, RequestType, file_request
from tests.support import add_demo_subject, email_text

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PROVEN = "kari@example.org"

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def rt(datamap: DataMap, demo_sources, tmp_path: Path) -> Iterator[service.ExportRuntime]:
    runtime = service.ExportRuntime(
        datamap=datamap,
        sources=demo_sources,
        store=ExportStore(tmp_path / "exports"),
        schema_url="http://testserver/schemas/export-v1.json",
        link_days=7,
        background_rows=500,
        secret_key="x" * 40,
        base_url="http://testserver",
    )
    service.set_runtime(runtime)
    yield runtime
    service.set_runtime(None)


@pytest.fixture
def kari(engine: Engine) -> int:
    subject_id = add_demo_subject(engine, "ordinary")
    with Session(engine) as db:
        for value, assurance in ((PROVEN, Assurance.low), ("typed@example.org", Assurance.staff)):
            db.add(
                SubjectIdentifier(
                    subject_id=subject_id,
                    kind=IdentifierKind.email,
                    value=value,
                    assurance=assurance,
                    created_at=NOW - timedelta(days=3),
                )
            )
        db.commit()
    return subject_id


def file(engine: Engine, rt, kari: int, agent: int, address: str = PROVEN):
    return file_access_request(
        engine,
        rt,
        subject_id=kari,
        address=address,
        staff_id=agent,
        reason="right: wants a copy",
        lookup_id=41,
        now=NOW,
    )


def test_only_addresses_the_person_proved_are_offered(engine: Engine, kari: int) -> None:
    with Session(engine) as db:
        assert proven_addresses(db, kari) == (PROVEN,)


def test_the_copy_goes_to_the_proven_address_by_links_and_the_request_completes(
    engine: Engine, rt, kari: int, agent: int
) -> None:
    filed = file(engine, rt, kari, agent)
    assert filed.export is not None and filed.export.status == ExportStatus.ready
    with Session(engine) as db:
        request = db.get(DataRequest, filed.request_id)
        contact = db.get(RequestContact, filed.request_id)
        messages = db.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        [entry] = db.exec(select(AuditEntry).where(AuditEntry.action == on_behalf.AUDIT_ACTION))
    assert request.assurance == Assurance.staff and request.status == RequestStatus.completed
    assert contact.email == PROVEN and contact.verified_by == agent
    # Told at the proven address: received (filed on the call), then the links.
    assert [(m.kind, m.email) for m in messages] == [(RECEIVED, PROVEN), (LINKS_KIND, PROVEN)]
    _subject, received = email_text(RECEIVED, messages[0].context, "en", "http://testserver")
    assert "Customer service filed this request for you" in received
    assert "confirming your e-mail address" not in received
    _subject, links = email_text(LINKS_KIND, messages[1].context, "en", "http://testserver")
    assert "http://testserver/requests/download?" in links
    assert "You asked us on the phone" in links and "We have checked who you are" not in links
    assert (entry.subject_id, entry.actor_id, entry.reason) == (kari, agent, "right: wants a copy")
    assert entry.details == {"request_id": filed.request_id, "lookup": 41}
    assert PROVEN not in str(entry.details)
    # The DPO's case page says how it was filed, and by whom.
    with Session(engine) as db:
        case = case_page(db, db.get(DataRequest, filed.request_id), "en", "Europe/Oslo", NOW)
    assert case.assurance == "Customer service, the copy to an address the person proved"
    assert case.identity.method == "Filed by customer service on the person's call"
    assert case.identity.verified_by == "Kim Kundeservice"


@pytest.mark.parametrize("address", ["typed@example.org", "someone.else@example.org", ""])
def test_an_address_the_person_did_not_prove_is_refused_and_nothing_is_filed(
    engine: Engine, rt, kari: int, agent: int, address: str
) -> None:
    with pytest.raises(OnBehalfRefused, match="addresses the person has proven"):
        file(engine, rt, kari, agent, address)
    with Session(engine) as db:
        assert db.exec(select(DataRequest)).all() == []
        assert db.exec(select(OutboxMessage)).all() == []


def test_a_second_access_request_while_one_is_open_is_refused(
    engine: Engine, rt, kari: int, agent: int
) -> None:
    with Session(engine) as db:
        open_one = file_request(
            db,
            subject_id=kari,
            type=RequestType.access,
            assurance=Assurance.high,
            actor=Actor.person,
            now=NOW - timedelta(days=1),
        )
        db.commit()
        number = open_one.id
    with pytest.raises(OnBehalfRefused, match=f"open access request \\(number {number}\\)"):
        file(engine, rt, kari, agent)


def test_an_address_confirmed_with_a_request_the_dpo_verified_is_proven(
    engine: Engine, kari: int
) -> None:
    with Session(engine) as db:
        request = DataRequest(
            subject_id=kari,
            type=RequestType.access,
            status=RequestStatus.completed,
            assurance=Assurance.low,
            received_at=NOW - timedelta(days=90),
            due_at=NOW - timedelta(days=60),
        )
        db.add(request)
        db.flush()
        db.add(
            RequestContact(
                request_id=request.id,
                name="Kari",
                email="Kari.Old@Example.org",
                confirmed_at=NOW - timedelta(days=90),
                verified_at=NOW - timedelta(days=89),
                verified_by=None,
            )
        )
        db.commit()
        assert proven_addresses(db, kari) == (PROVEN, "kari.old@example.org")
