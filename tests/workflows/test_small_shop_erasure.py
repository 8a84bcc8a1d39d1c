"""Erasure in a company without national IDs (issue #18), on docs/datamap.md's web shop.

Kari proved her e-mail address by a link. Her erasure anonymises her customer row (the invoices
point at it through a NOT NULL foreign key, so it stays), keeps the invoices and their lines for
bookkeeping with the billing name pseudonymised, and /me goes on listing what is kept from the
stored plan, found by the rows' own keys: her address, which found them, is gone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from portal.app import create_app
from portal.datamap import collect, load_datamap
from portal.db import session_scope
from portal.jobs import queue as jobs
from portal.jobs import worker as worker_module
from portal.models import Assurance, IdentifierKind, StaffMember, Subject, SubjectIdentifier
from portal.workflows import erasure_run
from portal.workflows.erasure_run import Runtime
from portal.workflows.erasure_service import approve_plan, plan_request
from portal.workflows.kept import kept_records
from portal.workflows.requests import Actor, DataRequest, RequestType, file_request
from tests.conftest import TEST_SECRET, make_settings
from tests.small_company import company
from tests.small_shop import CUSTOMER, INVOICE, INVOICE_LINE, KARI_EMAIL, NOW, create, write_map
from tests.support import Clock, signed_in_client

SIGNED_IN_AS = "12038410081"


@pytest.fixture
def shop(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with company(db_kind, tmp_path, create) as engine:
        yield engine


@pytest.fixture
def runtime(shop: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("INNSYN_PSEUDONYM_KEY", "test-pseudonym-key-0123456789abcdef")
    found = Runtime(load_datamap(write_map(tmp_path)), {"shop": shop})
    monkeypatch.setattr(erasure_run, "_RUNTIME", found)
    return found


@pytest.fixture
def burst(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    jobs.load_handler_modules()
    monkeypatch.setattr(jobs, "SCHEDULE", [])
    monkeypatch.setattr(worker_module, "stop_on_signals", lambda stop: None)
    return lambda: worker_module.main(
        database_url, burst=True, now=lambda: NOW + timedelta(minutes=1)
    )


@pytest.fixture
def client(
    database_url: str, var_dir: Path, shop: Engine, runtime: Runtime, tmp_path: Path
) -> Iterator[TestClient]:
    """The portal on the web shop's map (people start from nothing: no one has signed in)."""
    settings = make_settings(
        database_url, var_dir, DATAMAP_FILE=str(write_map(tmp_path)), SHOP_DATABASE_URL="unused"
    )
    clock = Clock()
    clock.now = NOW + timedelta(minutes=5)
    app = create_app(settings, now=clock, sources={"shop": shop})
    with TestClient(app, follow_redirects=False) as found:
        yield found


def file_erasure(engine: Engine) -> tuple[int, int]:
    """Kari, signed in, with the address she proved by a link; her erasure request."""
    with session_scope(engine) as db:
        subject = Subject(national_id=SIGNED_IN_AS, country="NO")
        staff = StaffMember(issuer="test", sub="dpo", name="DPO")
        db.add_all([subject, staff])
        db.flush()
        db.add(
            SubjectIdentifier(
                subject_id=subject.id,
                kind=IdentifierKind.email,
                value=KARI_EMAIL,
                assurance=Assurance.low,
            )
        )
        request = file_request(
            db,
            subject_id=subject.id or 0,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            language="en",
            now=NOW,
        )
        return request.id or 0, staff.id or 0


def rows(shop: Engine) -> dict[str, dict[int, dict]]:
    with shop.connect() as connection:
        return {
            table.name: {
                row["Id"]: dict(row) for row in connection.execute(select(table)).mappings()
            }
            for table in (CUSTOMER, INVOICE, INVOICE_LINE)
        }


def test_her_erasure_anonymises_her_row_and_keeps_her_invoices_for_bookkeeping(
    engine: Engine, shop: Engine, runtime: Runtime, burst: Callable[[], int]
) -> None:
    before = rows(shop)
    request_id, dpo = file_erasure(engine)
    with session_scope(engine) as db:
        stored = plan_request(
            db, request_id, datamap=runtime.datamap, sources=runtime.sources, now=NOW
        )
        approve_plan(db, stored.id or 0, staff_id=dpo, now=NOW)
    assert burst() == 0

    after = rows(shop)
    kari = after["Customer"][1]
    assert kari["Name"].startswith("ps:") and kari["Email"] is None and kari["Phone"] is None
    for key in (10, 11):  # kept for bookkeeping, no longer hers by name
        invoice = after["Invoice"][key]
        assert invoice["BillingName"].startswith("ps:")
        assert {k: v for k, v in invoice.items() if k != "BillingName"} == {
            k: v for k, v in before["Invoice"][key].items() if k != "BillingName"
        }
    assert after["InvoiceLine"] == before["InvoiceLine"]  # kept as they are
    for name in ("Customer", "Invoice", "InvoiceLine"):  # nobody else's row changed
        others = {k for k in before[name] if k not in (1, 10, 11, 100, 101, 110)}
        assert {k: after[name][k] for k in others} == {k: before[name][k] for k in others}

    with Session(engine) as db:
        request = db.get(DataRequest, request_id)
        assert request is not None and request.status == "partially_completed"
        subject_id = request.subject_id or 0
        kept = kept_records(db, subject_id, order=list(runtime.datamap.tables))
    # Her address no longer finds anything; what is kept is listed from the stored plan.
    found = collect(runtime.datamap, runtime.sources, SIGNED_IN_AS, proven={"email": [KARI_EMAIL]})
    assert found.empty
    listed = {(t.table, g.until, g.count) for t in kept for g in t.groups}
    assert listed == {
        ("Invoice", date(2030, 12, 31), 1),
        ("Invoice", date(2031, 12, 31), 1),
        ("InvoiceLine", date(2030, 12, 31), 2),
        ("InvoiceLine", date(2031, 12, 31), 1),
    }


def test_my_data_names_what_she_proved_and_after_her_erasure_what_is_kept(
    engine: Engine, client: TestClient, runtime: Runtime, burst: Callable[[], int]
) -> None:
    request_id, dpo = file_erasure(engine)
    with Session(engine) as db:
        request = db.get(DataRequest, request_id)
        assert request is not None
        subject_id = request.subject_id
    signed_in_client(client, secret_key=TEST_SECRET, subject_id=subject_id, now=NOW)
    client.cookies.set("lang", "en")
    page = client.get("/me")
    assert page.status_code == 200
    assert "Our systems do not hold national identity numbers" in page.text
    assert "national identity number, and for the customer numbers" not in page.text
    identifiers = [(i.kind, i.value) for i in page.context["page"].identifiers]
    assert identifiers == [("email", KARI_EMAIL)]  # never the national ID nothing was searched by
    counts = {table.key: table.total for table in page.context["page"].tables}
    assert counts == {"Customer": 1, "Invoice": 2, "InvoiceLine": 3}
    assert page.context["page"].total == 6 and "Kari Hansen" not in page.text

    with session_scope(engine) as db:
        stored = plan_request(
            db, request_id, datamap=runtime.datamap, sources=runtime.sources, now=NOW
        )
        approve_plan(db, stored.id or 0, staff_id=dpo, now=NOW)
    assert burst() == 0
    # The erasure ended her sessions and forgot the address she proved: she signs in again.
    signed_in_client(client, secret_key=TEST_SECRET, subject_id=subject_id, now=NOW)
    client.cookies.set("lang", "nb")
    after = client.get("/me")
    assert after.status_code == 200, after.headers
    assert after.context["page"].tables == ()  # her address finds nothing now
    assert after.context["page"].total == after.context["page"].kept_total == 5
    assert "31. des. 2031" in after.text and "Regnskapsbilag" in after.text
