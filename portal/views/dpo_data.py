"""The person's data as the DPO sees it from a case: the records of an erasure plan named as the
DPO knows them, and, on demand, everything found for the person (as /me shows it).

Both read the company's databases through the collector (resolve, then read), holding no session
of the portal's. Showing the data found is a view of the person's data: audit-logged
(``request.data_view``), with the request's number only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from portal.audit import AuditActor, record
from portal.datamap import DataMap, Resolution, resolve
from portal.datamap.paging import read
from portal.datamap.wording import format_field, record_label
from portal.db import session_scope
from portal.identity.identifiers import person_keys
from portal.views.my_data import MyDataPage, build_page
from portal.workflows import erasure_service
from portal.workflows.erasure import ErasurePlan
from portal.workflows.kept import kept_for
from portal.workflows.requests import OPEN, DataRequest, RequestType

# At most this many of a table's ``show`` columns name a record in a choice.
LABEL_COLUMNS = 3


@dataclass(frozen=True)
class FoundDataPage:
    """dpo/request_data.html (and its fragment dpo/_data_found.html): the data found for the
    request's person; ``data`` None when the request has no person yet (filed without BankID,
    not verified)."""

    request_id: int
    data: MyDataPage | None


def _resolution(
    engine: Engine, datamap: DataMap, sources: Mapping[str, Engine], subject_id: int
) -> Resolution:
    national_id, _country, proven = person_keys(engine, subject_id)
    return resolve(datamap, sources, national_id, proven=proven)


def record_values(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    subject_id: int,
    wanted: Mapping[str, Iterable[Any]],
    language: str,
) -> dict[tuple[str, str], str]:
    """What each wanted record is, as the DPO recognises it: the table's ``label`` in the map
    ("Ordre 10234, 12.03.2025"), else the table's name and the values of its first ``show``
    columns that are not the person's identifiers ("Ordrer: 10234, 12.03.2025, levert"),
    formatted as /me formats them; keyed by (table, str(key)). Empty when a database cannot be
    read: the page then names records by their keys."""
    try:
        resolution = _resolution(engine, datamap, sources, subject_id)
        rows = read(datamap, sources, resolution, wanted)
    except (SQLAlchemyError, LookupError):
        return {}
    tz = datamap.controller.time_zone
    labels = {}
    for table, found in rows.tables.items():
        spec = datamap.tables[table]
        # What tells the records apart, not who the person is (the person panel says that).
        identifying = {link.column for link in spec.identifier_links}
        columns = [name for name in spec.shown if name not in identifying][:LABEL_COLUMNS]
        for row in found:
            labelled = record_label(spec, row.as_dict(), language, tz)
            if labelled is not None:
                labels[(table, str(row.key))] = labelled
                continue
            values = {item.name: item for item in row.fields}
            shown = [
                format_field(values[name].spec, values[name].value, language, tz, staff=True)
                for name in columns
                if name in values and values[name].value not in (None, "")
            ]
            name = spec.name.get(language)
            labels[(table, str(row.key))] = f"{name}: {', '.join(shown)}" if shown else name
    return labels


def plan_records(engine: Engine, request_id: int) -> tuple[int | None, dict[str, list[Any]]]:
    """The request's person and the records of its latest erasure plan, by table: what
    `record_values` reads for the record-hold choices."""
    with session_scope(engine) as db:
        request = db.get(DataRequest, request_id)
        if (
            request is None
            or request.type != RequestType.erasure
            or request.status not in OPEN
            or request.subject_id is None
        ):
            return None, {}
        stored = erasure_service.latest_plan(db, request_id)
        wanted: dict[str, list[Any]] = {}
        if stored is not None:
            for step in ErasurePlan.from_dict(stored.plan).steps:
                wanted.setdefault(step.table, []).append(step.key)
        return request.subject_id, wanted


def case_record_labels(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    request_id: int,
    language: str,
) -> dict[tuple[str, str], str]:
    """The record-hold choices' labels of an open erasure's latest plan (`record_values`)."""
    subject_id, wanted = plan_records(engine, request_id)
    if subject_id is None or not wanted:
        return {}
    return record_values(engine, datamap, sources, subject_id, wanted, language)


def load_found_data(
    engine: Engine,
    datamap: DataMap,
    sources: Mapping[str, Engine],
    request_id: int,
    staff_id: int,
    language: str,
    now: datetime,
) -> FoundDataPage | None:
    """Everything found for the request's person, as /me shows it (first page of each table);
    the view is audit-logged before the databases are read. None: no such request."""
    with session_scope(engine) as db:
        request = db.get(DataRequest, request_id)
        if request is None:
            return None
        subject_id = request.subject_id
        if subject_id is not None:
            record(
                db,
                actor=AuditActor.staff,
                actor_id=staff_id,
                action="request.data_view",
                subject_id=subject_id,
                details={"request_id": request_id},
                now=now,
            )
    if subject_id is None:
        return FoundDataPage(request_id, None)
    resolution = _resolution(engine, datamap, sources, subject_id)

    def reader(wanted: Any) -> Any:
        return read(datamap, sources, resolution, wanted)

    kept = kept_for(engine, subject_id).tables(resolution.keys, datamap.table_order())
    page = build_page(datamap, resolution, reader, language, now.date(), kept, staff=True)
    return FoundDataPage(request_id, page)
