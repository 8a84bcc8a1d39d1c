"""What the staff pages for the block list and washing show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.datastructures import UploadFile

from portal import audit, i18n
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.marketing import block_list, washing
from portal.marketing.block_list import BlockEntry, Kind
from portal.marketing.consent import consent_purposes
from portal.marketing.registers import KNOWN_REGISTERS
from portal.marketing.washing import Options, Wash, WashError, WashStatus
from portal.views.common import Refused, day
from portal.views.consent import CHANNELS

KINDS = {
    "phone": _l("Phone number"),
    "email": _l("E-mail address"),
    "national_id": _l("National identity number"),
}
REASONS = {
    "reserved": _l("reserved"),
    "objected": _l("objected to direct marketing"),
    "consent_withdrawn": _l("consent withdrawn"),
    "consent_expired": _l("consent expired"),
    "external_register": _l("external register"),
    "deceased": _l("deceased"),
}
SOURCES = {
    block_list.PERSON: _l("the person, in the portal"),
    block_list.STAFF: _l("customer service"),
    block_list.CONSENT: _l("the person's consents"),
    block_list.DECEASED: _l("our register of deceased customers"),
}
STATUSES = {
    WashStatus.uploaded: _l("waiting for your choices"),
    WashStatus.queued: _l("waiting to start"),
    WashStatus.running: _l("washing"),
    WashStatus.done: _l("done"),
    WashStatus.failed: _l("failed"),
    WashStatus.expired: _l("deleted"),
}


def source_name(source: str) -> str:
    return str(SOURCES.get(source) or KNOWN_REGISTERS.get(source, source))


@dataclass(frozen=True)
class EntryRow:
    id: int
    reason: str
    channel: str
    source: str
    added: str
    note: str | None
    removable: bool


@dataclass(frozen=True)
class BlockListPage:
    sources: list[tuple[str, int]]
    kinds: dict[str, Any]
    channels: dict[str, Any]
    searched: bool = False
    results: list[EntryRow] = field(default_factory=list)
    search_form: dict[str, str] = field(default_factory=dict)
    add_form: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    max_note: int = block_list.MAX_NOTE


def block_list_page(
    engine: Engine,
    *,
    search: tuple[str, str] | None = None,
    staff_id: int | None = None,
    region: str = "NO",
    tz: str,
    now: datetime,
    add_error: str | None = None,
    add_form: Mapping[str, Any] | None = None,
    remove_error: str | None = None,
) -> BlockListPage:
    """The page; with ``search``, also the entries for that identifier (the look-up is logged)."""
    language = i18n.current_language()
    errors: dict[str, str] = {}
    if add_error:
        errors["add"] = add_error
    if remove_error:
        errors["remove"] = remove_error
    results: list[EntryRow] = []
    with session_scope(engine) as db:
        counts = block_list.source_counts(db)
        if search is not None:
            kind, value = search
            normal = block_list.normalise(kind, value, region) if kind in set(Kind) else None
            if normal is None:
                errors["search"] = _("Enter a phone number, e-mail address or national ID.")
            else:
                entries = block_list.active_entries(db, Kind(kind), normal)
                audit.record(
                    db,
                    actor=audit.AuditActor.staff,
                    actor_id=staff_id,
                    action="block_list.search",
                    details={"kind": kind, "found": len(entries)},
                    now=now,
                )
                results = [
                    EntryRow(
                        id=entry.id or 0,
                        reason=str(REASONS[entry.reason]),
                        channel=str(CHANNELS[entry.channel]),
                        source=source_name(entry.source),
                        added=day(entry.created_at, language, tz),
                        note=entry.note,
                        removable=entry.source == block_list.STAFF,
                    )
                    for entry in entries
                ]
    return BlockListPage(
        sources=[(source_name(s), n) for s, n in counts.items()],
        kinds=KINDS,
        channels=CHANNELS,
        searched=search is not None and "search" not in errors,
        results=results,
        search_form={"kind": search[0], "value": search[1]} if search else {},
        add_form={k: str(v) for k, v in (add_form or {}).items() if k != "csrf_token"},
        errors=errors,
    )


def add_form_entry(
    db: Session, form: Mapping[str, Any], *, staff_id: int, region: str, now: datetime
) -> BlockEntry:
    """The add form's caller on the block list; BlockRefused says why not (nothing added)."""
    return block_list.add_staff_entry(
        db,
        kind=str(form.get("kind", "")),
        value=str(form.get("value", "")),
        channel=str(form.get("channel", "")),
        note=str(form.get("note", "")),
        staff_id=staff_id,
        region=region,
        now=now,
    )


# --- washing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WashRow:
    id: str
    created: str
    status: str
    rows: int


@dataclass(frozen=True)
class WashPage:
    recent: list[WashRow]
    wash: Wash | None = None
    status: str = ""
    reasons: list[tuple[str, int]] = field(default_factory=list)
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    channels: dict[str, Any] = field(default_factory=dict)
    purposes: list[tuple[str, str]] = field(default_factory=list)
    upload_error: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    keep_hours: int = int(washing.KEEP_FILES.total_seconds() // 3600)


def wash_page(
    state: Any,
    wash_id: str | None,
    *,
    staff_id: int,
    roles: tuple[str, ...],
    upload_error: str | None = None,
    options_errors: dict[str, str] | None = None,
) -> WashPage | None:
    """The upload page (no ``wash_id``), or one wash: its choices, progress or outcome."""
    language, tz = i18n.current_language(), state.datamap.controller.time_zone
    with session_scope(state.engine) as db:
        recent = [
            WashRow(w.id, day(w.created_at, language, tz), str(STATUSES[w.status]), w.rows_done)
            for w in washing.recent(db, roles, staff_id)
        ]
        wash = db.get(Wash, wash_id) if wash_id else None
    if wash_id is not None and (wash is None or not washing.may_see(wash, staff_id, roles)):
        return None
    language = i18n.current_language()
    purposes = [
        (name, purpose.name.get(language))
        for name, purpose in consent_purposes(state.datamap).items()
    ]
    summary = wash.summary if wash else {}
    return WashPage(
        recent=recent,
        wash=wash,
        status=str(STATUSES[wash.status]) if wash else "",
        reasons=[(str(REASONS[r]), n) for r, n in summary.get("reasons", {}).items()],
        bad_rows=[(b["line"], washing.problem_message(b)) for b in (wash.bad_rows if wash else [])],
        channels={k: v for k, v in CHANNELS.items() if k != "all"},
        purposes=purposes,
        upload_error=upload_error,
        errors=options_errors or {},
    )


def upload_list(
    state: Any, file: Any, *, staff_id: int, roles: tuple[str, ...], role: str
) -> Wash | Refused:
    """The upload form's POST: the call list stored for washing under ``role``, or the upload
    page again with the reason."""
    if not isinstance(file, UploadFile) or not file.filename:
        error = _("Choose a CSV file to upload.")
    else:
        try:
            with session_scope(state.engine) as db:
                return washing.store_upload(
                    db,
                    file.file,
                    directory=state.settings.var_dir / "washing",
                    staff_id=staff_id,
                    role=role,
                    region=state.settings.phone_region,
                    now=state.now(),
                )
        except WashError as exc:
            error = exc.message()
    return Refused(wash_page(state, None, staff_id=staff_id, roles=roles, upload_error=error))


def start_washing(
    state: Any, wash_id: str, options: Options | None, *, staff_id: int, roles: tuple[str, ...]
) -> dict[str, str] | None:
    """The choices form's POST. Problems by field, {} when started (and, for a small file,
    done), None if not found."""
    now = state.now()
    with session_scope(state.engine) as db:
        wash = db.get(Wash, wash_id)
        if wash is None or not washing.may_see(wash, staff_id, roles):
            return None
        if wash.status != WashStatus.uploaded:
            return {}
        if options is None:
            return {"columns": _("Choose at least one column to wash by.")}
        language = i18n.current_language()
        purposes = {
            key: purpose.name.get(language)
            for key, purpose in consent_purposes(state.datamap).items()
        }
        errors = washing.configure(wash, replace(options, language=language), purposes=purposes)
        if errors:
            return errors
        inline = washing.start(db, wash, staff_id=staff_id, now=now)
    if inline:
        with session_scope(state.engine) as db:
            washing.run_and_finish(db, db.get(Wash, wash_id), now=now)
    return {}


def parse_options(form: Mapping[str, Any]) -> Options | None:
    """The staff's choices from the form; None when a column number is not a number."""

    def column(name: str) -> int | None:
        value = str(form.get(name, "")).strip()
        return int(value) if value else None

    try:
        return Options(
            phone_column=column("phone_column"),
            email_column=column("email_column"),
            national_id_column=column("national_id_column"),
            channel=str(form.get("channel", "")),
            mode=str(form.get("mode", "")),
            encoding=str(form.get("encoding", "")),
            delimiter={"comma": ",", "semicolon": ";", "tab": "\t"}.get(
                str(form.get("delimiter", "")), ""
            ),
            has_header=form.get("has_header") == "yes",
            purpose=str(form.get("purpose", "")) or None,
        )
    except ValueError:
        return None
