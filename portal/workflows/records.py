"""Stored erasure plans, their execution progress, and the DPO's case holds.

A plan is computed by `portal.workflows.erasure.plan_erasure` and stored here as JSON, one
version per (re)planning of a request: the DPO approves a version, never a moving target.
Execution records each source it has finished, so a restart after a crash resumes where it
stopped and a finished source is never run twice.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, String, Text, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from portal.datamap.retention import CaseHold
from portal.db import utcnow


class PlanStatus(StrEnum):
    # Computed, waiting for the DPO (or auto-approved if it holds nothing and the setting says so).
    proposed = "proposed"
    # A newer version replaced it (the DPO set or released a hold and re-planned).
    superseded = "superseded"
    approved = "approved"
    # Every source is done; kept rows wait for their deferred jobs.
    executed = "executed"


class StoredPlan(SQLModel, table=True):
    __tablename__ = "erasure_plan"
    __table_args__ = (UniqueConstraint("request_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="data_request.id", index=True)
    version: int
    status: PlanStatus = Field(sa_type=String(20))
    datamap_version: str = Field(max_length=80)
    plan: dict = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    approved_at: datetime | None = None
    approved_by: int | None = Field(default=None, foreign_key="staff_member.id")
    executed_at: datetime | None = None


class PlanSourceDone(SQLModel, table=True):
    """One source of a plan, finished: written after that source's transaction committed."""

    __tablename__ = "erasure_plan_source_done"
    __table_args__ = (UniqueConstraint("plan_id", "source"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="erasure_plan.id", index=True)
    source: str = Field(max_length=100)
    done_at: datetime = Field(default_factory=utcnow)
    rows: int = 0


class DeferredDone(SQLModel, table=True):
    """One deferred erasure carried out: the kept rows of a plan it judged again (``keys``), and
    those a hold still keeps, as plan steps with their new date (``kept``). What a plan still
    keeps is its retained steps, minus these keys, plus these steps (workflows/kept.py): the
    person sees it without the portal reading, or re-identifying, any kept row."""

    __tablename__ = "erasure_deferred_done"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="erasure_plan.id", index=True)
    table_name: str = Field(max_length=100)
    # The rows' keys in the company's table (internal ids, as in the plan), never values.
    keys: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    kept: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    done_at: datetime = Field(default_factory=utcnow)


class CaseHoldKind(StrEnum):
    litigation = "litigation"
    complaint = "complaint"
    authority_request = "authority_request"
    # Set when a person asks for restriction (art. 18); lifted by the DPO after telling them.
    restriction = "restriction"
    other = "other"


class CaseHoldRecord(SQLModel, table=True):
    """A hold the DPO sets on a person or on one record, with a reason and a review date
    (workflows/holds.py: the holds page, the review reminders)."""

    __tablename__ = "case_hold"

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subject.id", index=True)
    kind: CaseHoldKind = Field(sa_type=String(30))
    reason: str = Field(sa_type=Text)
    scope: str = Field(sa_type=String(10))  # "person" or "record"
    table_name: str | None = Field(default=None, max_length=100)
    row_key: str | None = Field(default=None, max_length=200)
    # The request it was set from (a case page, a restriction request); None: set on the person
    # from the holds page by national ID, or before the portal kept it.
    request_id: int | None = Field(default=None, foreign_key="data_request.id", index=True)
    set_at: datetime = Field(default_factory=utcnow)
    set_by: int | None = Field(default=None, foreign_key="staff_member.id")
    review_at: date | None = None
    released_at: datetime | None = None
    released_by: int | None = Field(default=None, foreign_key="staff_member.id")
    release_reason: str | None = Field(default=None, sa_type=Text)

    def as_case_hold(self) -> CaseHold:
        return CaseHold(
            key=str(self.id),
            kind=str(self.kind),  # type: ignore[arg-type]
            reason=self.reason,
            scope=self.scope,  # type: ignore[arg-type]
            table=self.table_name,
            row_key=self.row_key,
            set_at=self.set_at,
            review_at=self.review_at,
            released_at=self.released_at,
        )


def case_holds_for(db: Session, subject_id: int) -> list[CaseHold]:
    rows = db.exec(select(CaseHoldRecord).where(CaseHoldRecord.subject_id == subject_id))
    return [row.as_case_hold() for row in rows]
