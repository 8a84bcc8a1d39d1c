"""The words the request pages use for types, states, events, actors and holds."""

from __future__ import annotations

from portal.i18n import lazy_gettext as _l

# The kinds of case hold are named where holds are (workflows/holds.py); re-exported here.
from portal.workflows.holds import HOLD_KIND_LABELS  # noqa: F401
from portal.workflows.records import PlanStatus
from portal.workflows.requests import STATUS_LABELS, Actor, RequestStatus, RequestType

TYPE_LABELS = {
    RequestType.access: _l("Access: a copy of your data"),
    RequestType.portability: _l("Portability: your data in a machine-readable file"),
    RequestType.erasure: _l("Erasure: delete your data"),
    RequestType.rectification: _l("Rectification: correct your data"),
    RequestType.restriction: _l("Restriction: limit how we use your data"),
    RequestType.objection: _l("Objection: object to how we use your data"),
}

# One short name per type, for tables.
TYPE_NAMES = {
    RequestType.access: _l("Access"),
    RequestType.portability: _l("Portability"),
    RequestType.erasure: _l("Erasure"),
    RequestType.rectification: _l("Rectification"),
    RequestType.restriction: _l("Restriction"),
    RequestType.objection: _l("Objection"),
}

# What the text box asks for, per type; a type not here has no text.
DETAILS_LABELS = {
    RequestType.rectification: _l("What is wrong, and what should it say?"),
    RequestType.restriction: _l("Why should we limit the use of your data?"),
    RequestType.objection: _l("Which use of your data do you object to, and why?"),
}

# What happened, as the person reads it: "Request sent (by you)".
EVENT_LABELS = {
    "file": _l("Request sent"),
    "verify": _l("Identity verified"),
    "submit_plan": _l("Erasure plan made and sent for approval"),
    "approve": _l("Erasure plan approved"),
    "start": _l("Work started"),
    "ask_subject": _l("We asked you a question"),
    "subject_replied": _l("Answer sent"),
    "complete": _l("Completed"),
    "complete_partially": _l("Partially completed"),
    "reject": _l("Rejected"),
    "cancel": _l("Cancelled"),
    "extend": _l("Deadline extended"),
    "merge": _l("Closed as a repeat of another request"),
    "merged_in": _l("A repeat of this request was closed into it"),
    "export_started": _l("Export started"),
    "export_ready": _l("Export ready"),
    "export_downloaded": _l("Export downloaded"),
    "export_deleted": _l("Export files deleted"),
}

# The DPO reads the same history about someone else: "We asked the person a question".
DPO_EVENT_LABELS = {
    **EVENT_LABELS,
    "ask_subject": _l("We asked the person a question"),
    "subject_replied": _l("The person answered"),
    "merge": _l("Merged into another request as a duplicate"),
    "merged_in": _l("A duplicate was merged into this request"),
    # Staff only (workflows/assignment.py): the person's timeline leaves these out.
    "assign": _l("Assigned"),
    "unassign": _l("Assignment removed"),
}

# The DPO reads a request's status about someone else: "waiting for the person's answer".
DPO_STATUS_LABELS = {
    **STATUS_LABELS,
    RequestStatus.waiting_for_subject: _l("waiting for the person's answer"),
}

ACTOR_LABELS = {
    Actor.person: _l("you"),
    Actor.staff: _l("customer service"),
    Actor.dpo: _l("the data protection officer"),
    Actor.system: _l("Innsyn"),
}

# The DPO sees "the person", not "you".
DPO_ACTOR_LABELS = {**ACTOR_LABELS, Actor.person: _l("the person")}

PLAN_STATUS_LABELS = {
    PlanStatus.proposed: _l("waiting for approval"),
    PlanStatus.superseded: _l("replaced by a newer version, never carried out"),
    PlanStatus.approved: _l("approved, being carried out"),
    PlanStatus.executed: _l("carried out"),
}

# A proposed plan whose request closed without it (erasure_service.plan_phase), by the
# request's status; None: closed some other way.
NEVER_CARRIED_OUT_LABELS = {
    RequestStatus.cancelled: _l("never carried out: the request was cancelled"),
    RequestStatus.rejected: _l("never carried out: the request was rejected"),
    None: _l("never carried out"),
}
