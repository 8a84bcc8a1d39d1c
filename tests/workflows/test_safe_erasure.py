"""Erasure against the small company's unsafe maps (issue #18), on the --db kind.

Each unsafe map (tests/small_company.py) passed the old check and then broke erasure: on
PostgreSQL a foreign-key error left the request in progress for ever while the worker exited 0;
on SQLite the customer was deleted under kept invoices; pseudonymised columns were left as they
were or emptied while the plan said "pseudonymised". Now execution checks what it writes: the
step fails, its source changes nothing, the job is parked at once, the request "needs attention"
with the reason (no personal data), `portal worker --burst` exits 1; and running it again after
the fix (of the map, or of the database) completes the erasure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session
from sqlmodel import select as sm_select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.audit import AuditEntry
from portal.datamap import collect, load_datamap
from portal.db import session_scope
from portal.jobs import queue as jobs
from portal.jobs import worker as worker_module
from portal.jobs.queue import Job, JobStatus
from portal.models import (
    Assurance,
    StaffMember,
    StaffRole,
    StaffRoleName,
    Subject,
    SubjectIdentifier,
)
from portal.workflows import attention, erasure_run
from portal.workflows.erasure import ErasurePlan
from portal.workflows.erasure_run import Runtime
from portal.workflows.erasure_service import approve_plan, plan_request, set_case_hold
from portal.workflows.records import PlanStatus, StoredPlan
from portal.workflows.requests import Actor, DataRequest, RequestType, file_request
from tests.conftest import TEST_SECRET, make_settings
from tests.small_company import (
    CUSTOMERS,
    INVOICES,
    KARI,
    NOW,
    OLA_EMAIL,
    URL_ENV,
    company,
    write_map,
)
from tests.support import Clock, signed_in_client

KEY = "test-pseudonym-key-0123456789abcdef"
PERSONAL = (KARI, "Kari", "kari@example.no", "Nordmann", "4711", "A1")

# What each unsafe map makes execution say, after "ErasureError: ".
REASONS = {
    "kept_child": "table 'Customers': 2 rows of 'Invoices' (column 'CustomerId') point at rows "
    "to be deleted and are kept, so those rows cannot be deleted; fix the data map (`portal "
    "datamap check` says how), then run the erasure again",
    "integer_pseudonym": "table 'Invoices', column 'Reference': a pseudonym cannot be written "
    "here (the column is INTEGER, not text); fix the data map (`portal datamap check` says "
    "how), then run the erasure again",
    "short_pseudonym": "table 'Invoices', column 'Code': a pseudonym cannot be written here "
    "(the column holds at most 8 characters and a pseudonym needs 11 ('ps:' and at least 8 "
    "digits of its keyed hash)); fix the data map (`portal datamap check` says how), then run "
    "the erasure again",
}


@pytest.fixture
def small(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with company(db_kind, tmp_path) as engine:
        yield engine


@pytest.fixture
def use_map(
    small: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str | None], Runtime]:
    """Point the job handlers at the small company under the safe map or an unsafe one."""
    monkeypatch.setenv("INNSYN_PSEUDONYM_KEY", KEY)

    def use(unsafe: str | None) -> Runtime:
        found = Runtime(load_datamap(write_map(tmp_path, unsafe)), {"billing": small})
        monkeypatch.setattr(erasure_run, "_RUNTIME", found)
        return found

    return use


@pytest.fixture
def dpo(engine: Engine) -> int:
    with session_scope(engine) as db:
        staff = StaffMember(issuer="test", sub="dpo", name="DPO")
        db.add(staff)
        db.flush()
        return staff.id or 0


@pytest.fixture
def burst(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], int]:
    """`portal worker --burst` in this process, at NOW + an offset; returns its exit code."""
    jobs.load_handler_modules()
    monkeypatch.setattr(jobs, "SCHEDULE", [])  # no periodic jobs: only the erasure's
    monkeypatch.setattr(worker_module, "stop_on_signals", lambda stop: None)

    def run(offset: timedelta = timedelta(minutes=1)) -> int:
        return worker_module.main(database_url, burst=True, now=lambda: NOW + offset)

    return run


def file_and_approve(engine: Engine, rt: Runtime, dpo: int, **person: Any) -> tuple[int, int]:
    request_id = file_erasure(engine, **person)
    with session_scope(engine) as db:
        stored = plan_request(db, request_id, datamap=rt.datamap, sources=rt.sources, now=NOW)
        approve_plan(db, stored.id or 0, staff_id=dpo, now=NOW)
        return request_id, stored.id or 0


def file_erasure(engine: Engine, national_id: str = KARI, email: str | None = None) -> int:
    with session_scope(engine) as db:
        subject = Subject(national_id=national_id, country="NO")
        db.add(subject)
        db.flush()
        if email is not None:  # an address staff linked to the person
            db.add(
                SubjectIdentifier(
                    subject_id=subject.id, kind="email", value=email, assurance=Assurance.high
                )
            )
        request = file_request(
            db,
            subject_id=subject.id,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            language="en",
            now=NOW,
        )
        return request.id or 0


def request_of(engine: Engine, request_id: int) -> DataRequest:
    with Session(engine) as db:
        found = db.get(DataRequest, request_id)
        assert found is not None
        return found


def plans_of(engine: Engine, request_id: int) -> list[StoredPlan]:
    with Session(engine) as db:
        statement = sm_select(StoredPlan).where(StoredPlan.request_id == request_id)
        return list(db.exec(statement.order_by(StoredPlan.version)))


def execute_jobs(engine: Engine) -> list[Job]:
    with Session(engine) as db:
        statement = select(Job).where(Job.kind == "erasure.execute").order_by(Job.id)
        return list(db.execute(statement).scalars())


def company_rows(small: Engine) -> dict[str, list[dict]]:
    with small.connect() as connection:
        return {
            table.name: [
                dict(row)
                for row in connection.execute(select(table).order_by(table.c.Id)).mappings()
            ]
            for table in (CUSTOMERS, INVOICES)
        }


def audit_actions(engine: Engine) -> list[str]:
    with Session(engine) as db:
        return [e.action for e in db.exec(sm_select(AuditEntry).order_by(AuditEntry.id))]


def run_again(engine: Engine, request_id: int, rt: Runtime, dpo: int) -> None:
    with session_scope(engine) as db:
        request = db.get(DataRequest, request_id)
        assert request is not None
        attention.run_request_again(
            db,
            request,
            staff_id=dpo,
            now=NOW + timedelta(minutes=2),
            datamap=rt.datamap,
            sources=rt.sources,
        )


# --- a step that cannot be carried out --------------------------------------------------------


@pytest.mark.parametrize("unsafe", sorted(REASONS))
def test_an_unsafe_map_stops_the_erasure_visibly_and_changes_nothing(
    engine: Engine,
    small: Engine,
    use_map: Callable[[str | None], Runtime],
    burst: Callable[..., int],
    dpo: int,
    unsafe: str,
) -> None:
    rt = use_map(unsafe)
    before = company_rows(small)
    request_id, _ = file_and_approve(engine, rt, dpo)

    assert burst() == 1  # the worker says a job failed

    [job] = execute_jobs(engine)
    assert job.status == JobStatus.parked and job.attempts == 1  # parked at once
    assert job.last_error == f"ErasureError: {REASONS[unsafe]}"
    request = request_of(engine, request_id)
    assert request.status == "in_progress"  # the work is still owed
    assert request.attention == job.last_error and request.attention_job_id == job.id
    assert request.attention_at == NOW + timedelta(minutes=1)
    assert not any(value in request.attention for value in PERSONAL)
    assert [p.status for p in plans_of(engine, request_id)] == [PlanStatus.approved]
    # The source's transaction rolled back: nothing of the company's data changed.
    assert company_rows(small) == before
    assert "request.needs_attention" in audit_actions(engine)


@pytest.mark.parametrize(
    ("unsafe", "column", "values"),
    [
        ("integer_pseudonym", "Reference", [4711, 4712, 4713]),
        ("short_pseudonym", "Code", ["A1", "A2", "B1"]),
    ],
)
def test_a_plan_that_says_pseudonymised_never_leaves_the_column_unchanged_or_empty(
    engine: Engine,
    small: Engine,
    use_map: Callable[[str | None], Runtime],
    burst: Callable[..., int],
    dpo: int,
    unsafe: str,
    column: str,
    values: list[Any],
) -> None:
    """The issue's findings 2 and 3: the plan claims a pseudonym for the column; before, an
    INTEGER column was left as it was and a short one emptied. Now neither happens: the step
    fails and says why (above)."""
    request_id, plan_id = file_and_approve(engine, use_map(unsafe), dpo)
    with Session(engine) as db:
        stored = db.get(StoredPlan, plan_id)
        assert stored is not None
        steps = ErasurePlan.from_dict(stored.plan).steps
    assert [column in s.pseudonymise for s in steps if s.table == "Invoices"] == [True, True]
    assert burst() == 1
    assert [row[column] for row in company_rows(small)["Invoices"]] == values
    assert plans_of(engine, request_id)[0].status == PlanStatus.approved  # never "executed"


# --- running it again after the fix -----------------------------------------------------------


@pytest.mark.parametrize("unsafe", sorted(REASONS))
def test_running_it_again_after_fixing_the_map_completes(
    engine: Engine,
    small: Engine,
    use_map: Callable[[str | None], Runtime],
    burst: Callable[..., int],
    dpo: int,
    unsafe: str,
) -> None:
    request_id, first_plan = file_and_approve(engine, use_map(unsafe), dpo)
    assert burst() == 1
    [stopped] = execute_jobs(engine)

    fixed = use_map(None)  # the integrator fixed the map; the portal and worker restarted
    run_again(engine, request_id, fixed, dpo)
    # The rows not yet done are planned again under the fixed map, approved by the DPO.
    old, new = plans_of(engine, request_id)
    assert (old.id, old.status) == (first_plan, PlanStatus.superseded)
    assert new.status == PlanStatus.approved and new.approved_by == dpo
    assert new.datamap_version == fixed.datamap.version
    request = request_of(engine, request_id)
    assert request.attention is None and request.attention_job_id is None

    assert burst(timedelta(minutes=3)) == 0

    assert execute_jobs(engine)[0].status == JobStatus.done  # settled, not run again
    request = request_of(engine, request_id)
    assert request.status == "partially_completed"  # the invoices are kept for bookkeeping
    assert [p.status for p in plans_of(engine, request_id)][-1] == PlanStatus.executed
    rows = company_rows(small)
    [kari] = [row for row in rows["Customers"] if row["Id"] == 1]
    # Kept with her invoices (the hold covers her row), no longer found by her: pseudonymised.
    assert kari["NationalId"].startswith("ps:") and len(kari["NationalId"]) == 11
    assert kari["Email"].startswith("ps:")
    kept = [row for row in rows["Invoices"] if row["CustomerId"] == 1]
    assert [row["BillingName"][:3] for row in kept] == ["ps:", "ps:"]
    assert [row["Reference"] for row in kept] == [4711, 4712]  # the fixed map keeps them
    assert collect(fixed.datamap, fixed.sources, KARI).empty
    assert audit_actions(engine).count("job.run_again") == 1
    with Session(engine) as db:
        entry = db.exec(sm_select(AuditEntry).where(AuditEntry.action == "job.run_again")).one()
    assert entry.actor_id == dpo and entry.details["job_id"] == stopped.id
    assert entry.details["new_plan_id"] == new.id and entry.details["requests"] == [request_id]


def test_running_it_again_unfixed_stops_again(
    engine: Engine,
    use_map: Callable[[str | None], Runtime],
    burst: Callable[..., int],
    dpo: int,
) -> None:
    rt = use_map("kept_child")
    request_id, _ = file_and_approve(engine, rt, dpo)
    assert burst() == 1
    run_again(engine, request_id, rt, dpo)  # same map: the same plan, the same job
    assert request_of(engine, request_id).attention is None
    assert len(plans_of(engine, request_id)) == 1
    assert burst(timedelta(minutes=3)) == 1
    [job] = execute_jobs(engine)
    assert job.status == JobStatus.parked
    assert request_of(engine, request_id).attention == job.last_error
    with pytest.raises(attention.RunAgainRefused), session_scope(engine) as db:
        attention.run_again(
            db, job.id or 0, staff_id=dpo, now=NOW, datamap=rt.datamap, sources=rt.sources
        )
        attention.run_again(  # a second click: the job is no longer parked
            db, job.id or 0, staff_id=dpo, now=NOW, datamap=rt.datamap, sources=rt.sources
        )


def test_a_case_hold_set_since_makes_running_it_again_plan_anew(
    engine: Engine,
    small: Engine,
    use_map: Callable[[str | None], Runtime],
    burst: Callable[..., int],
    dpo: int,
) -> None:
    """The map unchanged, the DPO keeps Kari's customer record with her kept invoices by a
    hold on it (the fix a map cannot express for one person): running it again plans anew."""
    rt = use_map("kept_child")
    request_id, _ = file_and_approve(engine, rt, dpo)
    assert burst() == 1
    with session_scope(engine) as db:
        request = db.get(DataRequest, request_id)
        assert request is not None and request.subject_id is not None
        set_case_hold(
            db,
            subject_id=request.subject_id,
            kind="other",
            reason="Kept with the invoices that point at it",
            scope="record",
            table_name="Customers",
            row_key=1,
            staff_id=dpo,
            now=NOW + timedelta(minutes=2),
            datamap=rt.datamap,
        )
    run_again(engine, request_id, rt, dpo)
    assert [p.status for p in plans_of(engine, request_id)] == [
        PlanStatus.superseded,
        PlanStatus.approved,
    ]
    assert burst(timedelta(minutes=3)) == 0
    assert request_of(engine, request_id).status == "partially_completed"
    [kari] = [row for row in company_rows(small)["Customers"] if row["Id"] == 1]
    assert kari["NationalId"] == KARI  # kept as it is while the case hold lasts


def test_a_stopped_deferred_erasure_marks_its_request_and_runs_again_with_its_siblings(
    engine: Engine,
    small: Engine,
    tmp_path: Path,
    use_map: Callable[[str | None], Runtime],
    burst: Callable[..., int],
    dpo: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After Kari's kept invoices' bookkeeping hold ends, the deferred erasure judges them again
    under the map of that day. Here the map changed meanwhile into one that cannot be carried
    out: the invoices' job and her customer record's job stop, and her closed request needs
    attention. Running one again runs both."""
    request_id, _ = file_and_approve(engine, use_map(None), dpo)
    assert burst() == 0
    assert request_of(engine, request_id).status == "partially_completed"
    later = write_map(tmp_path).read_text()
    invoices = 'name = { nb = "Fakturaer", sv = "Fakturor", en = "Invoices" }\n'
    later = later.replace(invoices + 'erasure = "delete_row"', invoices + 'erasure = "fields"')
    later = later.replace("Code = {}", 'Code = { erasure = "pseudonymise" }')
    path = tmp_path / "later.toml"
    path.write_text(later)
    monkeypatch.setattr(erasure_run, "_RUNTIME", Runtime(load_datamap(path), {"billing": small}))
    hold_over = datetime(2031, 1, 1, 1, tzinfo=UTC) - NOW

    assert burst(hold_over) == 1
    with Session(engine) as db:
        stopped = list(
            db.execute(select(Job).where(Job.kind == "erasure.deferred").order_by(Job.id)).scalars()
        )
    assert [job.status for job in stopped] == [JobStatus.parked, JobStatus.parked]
    request = request_of(engine, request_id)
    assert request.status == "partially_completed"  # closed, and still needs attention
    assert request.attention_job_id in {job.id for job in stopped}

    run_again(engine, request_id, use_map(None), dpo)  # the map is fixed again
    assert burst(hold_over + timedelta(minutes=1)) == 0
    rows = company_rows(small)
    assert [row["Id"] for row in rows["Customers"]] == [2]  # Kari's record is gone
    assert [row["Id"] for row in rows["Invoices"]] == [20]  # and her invoices


def test_running_it_again_after_fixing_the_database_runs_the_same_plan(
    engine: Engine,
    small: Engine,
    use_map: Callable[[str | None], Runtime],
    burst: Callable[..., int],
    dpo: int,
) -> None:
    rt = use_map("short_pseudonym")
    request_id, plan_id = file_and_approve(engine, rt, dpo)
    assert burst() == 1
    widen_code(small)  # a database administrator makes the column long enough

    run_again(engine, request_id, rt, dpo)
    assert burst(timedelta(minutes=3)) == 0

    assert [p.id for p in plans_of(engine, request_id)] == [plan_id]
    assert request_of(engine, request_id).status == "partially_completed"
    kept = [row for row in company_rows(small)["Invoices"] if row["CustomerId"] == 1]
    assert all(row["Code"].startswith("ps:") and len(row["Code"]) == 20 for row in kept)


def widen_code(small: Engine) -> None:
    """Invoices.Code as VARCHAR(20), the rows kept (a table rebuilt: SQLite cannot alter it)."""
    with small.begin() as connection:
        connection.execute(text('ALTER TABLE "Invoices" RENAME TO "InvoicesOld"'))
        connection.execute(
            text(
                'CREATE TABLE "Invoices" ("Id" INTEGER PRIMARY KEY, "CustomerId" INTEGER NOT '
                'NULL REFERENCES "Customers" ("Id"), "InvoiceNumber" VARCHAR(20) NOT NULL, '
                '"IssuedOn" DATE NOT NULL, "BillingName" VARCHAR(100) NOT NULL, '
                '"Reference" INTEGER, "Code" VARCHAR(20))'
            )
        )
        connection.execute(text('INSERT INTO "Invoices" SELECT * FROM "InvoicesOld"'))
        connection.execute(text('DROP TABLE "InvoicesOld"'))


# --- an identifier link that can never find a row ----------------------------------------------


def test_a_customer_number_on_the_key_makes_a_linked_email_find_nothing(
    engine: Engine, use_map: Callable[[str | None], Runtime], dpo: int
) -> None:
    """The issue's finding 4, reproduced (the check refuses this map: test_safe_maps.py): Ola
    has no national ID in the company's records; staff linked his e-mail address. Under the
    unsafe map every customer row carries a "customer number" (its key) that Ola is not known
    to have, so his row is someone else's, and the erasure "completes" with nothing done."""
    somebody = "01019012345"  # his BankID number, which the company does not hold
    unsafe = use_map("key_as_customer_number")
    assert collect(unsafe.datamap, unsafe.sources, somebody, proven={"email": [OLA_EMAIL]}).empty
    safe = use_map(None)
    found = collect(safe.datamap, safe.sources, somebody, proven={"email": [OLA_EMAIL]})
    assert [row.key for row in found.tables["Customers"]] == [2]
    assert [row.key for row in found.tables["Invoices"]] == [20]


# --- the DPO's pages ------------------------------------------------------------------------------


@pytest.fixture
def dpo_client(
    database_url: str,
    var_dir: Path,
    engine: Engine,
    small: Engine,
    tmp_path: Path,
    use_map: Callable[[str | None], Runtime],
) -> Iterator[TestClient]:
    """The portal after the fix: the safe map (the integrator fixed the file and restarted the
    portal), a DPO signed in, its clock just after the stopped erasure."""
    use_map(None)
    settings = make_settings(
        database_url, var_dir, DATAMAP_FILE=str(write_map(tmp_path)), **{URL_ENV: "unused"}
    )
    clock = Clock()
    clock.now = NOW + timedelta(minutes=2)
    app = create_app(settings, now=clock, sources={"billing": small})
    with TestClient(app, follow_redirects=False) as client:
        with session_scope(engine) as db:
            staff = db.exec(sm_select(StaffMember)).one()
            db.add(StaffRole(staff_id=staff.id, role=StaffRoleName.dpo))
            staff_id = staff.id
        signed_in_client(client, secret_key=TEST_SECRET, staff_id=staff_id, now=clock.now)
        client.cookies.set("lang", "en")
        yield client


def stopped_erasure(
    engine: Engine, use_map: Callable[[str | None], Runtime], burst: Callable[..., int], dpo: int
) -> int:
    request_id, _ = file_and_approve(engine, use_map("kept_child"), dpo)
    assert burst() == 1
    use_map(None)  # the worker, too, restarted with the fixed map
    return request_id


def test_the_queue_and_the_case_page_show_what_needs_attention(
    engine: Engine,
    use_map: Callable[[str | None], Runtime],
    burst: Callable[..., int],
    dpo: int,
    dpo_client: TestClient,
) -> None:
    request_id = stopped_erasure(engine, use_map, burst, dpo)
    [job] = execute_jobs(engine)

    queue = dpo_client.get("/dpo")
    assert queue.status_code == 200
    assert queue.context["page"].attention == 1
    [row] = [row for row in queue.context["page"].requests if row.id == request_id]
    assert row.attention and "needs attention" in queue.text
    flagged = dpo_client.get("/dpo?status=attention")
    assert [row.id for row in flagged.context["page"].requests] == [request_id]

    case = dpo_client.get(f"/dpo/requests/{request_id}")
    page = case.context["page"]
    assert page.attention.reason == job.last_error and page.attention.job_id == job.id
    assert "run_again" in page.actions
    assert "Needs attention" in case.text and 'id="run-again-form"' in case.text
    assert "Invoices" in case.text and KARI not in case.text  # the reason, never her data


def test_run_it_again_from_the_case_page(
    engine: Engine,
    use_map: Callable[[str | None], Runtime],
    burst: Callable[..., int],
    dpo: int,
    dpo_client: TestClient,
) -> None:
    request_id = stopped_erasure(engine, use_map, burst, dpo)
    path = f"/dpo/requests/{request_id}/run_again"
    # A state-changing form: without its CSRF token it is refused and changes nothing.
    assert dpo_client.post(path).status_code == 403
    assert request_of(engine, request_id).attention is not None

    token = dpo_client.get(f"/dpo/requests/{request_id}").context["csrf_token"]
    done = dpo_client.post(path, data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == f"/dpo/requests/{request_id}"
    assert request_of(engine, request_id).attention is None
    with Session(engine) as db:
        entry = db.exec(sm_select(AuditEntry).where(AuditEntry.action == "job.run_again")).one()
    assert entry.actor_id == dpo and entry.details["requests"] == [request_id]
    assert "run_again" not in dpo_client.get(f"/dpo/requests/{request_id}").context["page"].actions

    assert burst(timedelta(minutes=3)) == 0
    assert request_of(engine, request_id).status == "partially_completed"
    # A second click finds nothing to run: refused, with the reason on the page.
    refused = dpo_client.post(path, data={"csrf_token": token})
    assert refused.status_code == 409 and "does not need attention" in refused.text


def test_run_it_again_from_the_stopped_jobs_page_clears_the_request(
    engine: Engine,
    use_map: Callable[[str | None], Runtime],
    burst: Callable[..., int],
    dpo: int,
    dpo_client: TestClient,
) -> None:
    request_id = stopped_erasure(engine, use_map, burst, dpo)
    [job] = execute_jobs(engine)
    token = dpo_client.get("/dpo/jobs").context["csrf_token"]
    assert (
        dpo_client.post(f"/dpo/jobs/{job.id}/retry", data={"csrf_token": token}).status_code == 303
    )
    assert request_of(engine, request_id).attention is None
    assert burst(timedelta(minutes=3)) == 0
    assert request_of(engine, request_id).status == "partially_completed"
    assert (
        dpo_client.post(f"/dpo/jobs/{job.id}/retry", data={"csrf_token": token}).status_code == 404
    )
