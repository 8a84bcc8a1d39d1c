"""/dpo: the DPO's request queue, ordered by deadline, with a status filter, and the data map's
law citations that nobody has verified yet (people never read those)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.datamap import DataMap
from portal.datamap.wording import UnverifiedCitation, unverified_citations
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.views.request_summary import RequestRow, request_row
from portal.workflows.requests import OPEN, STATUS_LABELS, DataRequest, RequestStatus

QUEUE_FILTERS = ("open", "attention", *[str(status) for status in RequestStatus], "all")


@dataclass(frozen=True)
class StatusFilter:
    value: str
    label: str
    selected: bool


@dataclass(frozen=True)
class QueuePage:
    """Requests ordered by deadline, soonest (and overdue) first. `status` is the filter:
    "open" (the default), "attention" (a step stopped for good, open or not), "all", or one
    status. `attention` counts every request that needs attention, whatever the filter."""

    status: str
    filters: tuple[StatusFilter, ...]
    requests: tuple[RequestRow, ...]
    attention: int = 0
    # The map's rules and holds whose citation is marked not verified: for the DPO to check.
    citations: tuple[UnverifiedCitation, ...] = ()

    @property
    def overdue(self) -> int:
        return sum(row.overdue for row in self.requests)


def queue(db: Session, status: str | None, language: str, tz: str, now: datetime) -> QueuePage:
    status = status if status in QUEUE_FILTERS else "open"
    statement = select(DataRequest).order_by(col(DataRequest.due_at), col(DataRequest.id))
    if status == "open":
        statement = statement.where(col(DataRequest.status).in_([str(s) for s in OPEN]))
    elif status == "attention":
        statement = statement.where(col(DataRequest.attention_job_id).is_not(None))
    elif status != "all":
        statement = statement.where(DataRequest.status == status)
    labels = {"open": _("Open"), "attention": _("Needs attention"), "all": _("All")}
    filters = tuple(
        StatusFilter(
            value,
            labels.get(value) or str(STATUS_LABELS[RequestStatus(value)]).capitalize(),
            value == status,
        )
        for value in QUEUE_FILTERS
    )
    rows = tuple(
        request_row(item, language, tz, now, f"/dpo/requests/{item.id}")
        for item in db.exec(statement)
    )
    flagged = db.exec(
        select(func.count())
        .select_from(DataRequest)
        .where(col(DataRequest.attention_job_id).is_not(None))
    ).one()
    return QueuePage(status, filters, rows, flagged)


def load_queue(
    engine: Engine, datamap: DataMap, status: str | None, language: str, now: datetime
) -> QueuePage:
    with session_scope(engine) as db:
        page = queue(db, status, language, datamap.controller.time_zone, now)
    return replace(page, citations=unverified_citations(datamap, language))
