"""The export pages' content. Each dataclass is the documented context (``page``) of a template:
``ExportsPage`` for exports/list.html, ``ExportPage`` for exports/detail.html and its htmx
fragment exports/_progress.html, ``RequestExports`` for exports/_for_request.html (included in
an access or portability request's page).

Download links are signed here, for the person looking at the page, and expire with the export.
Nothing here puts personal data in an address: pages and links name exports by random id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from babel.numbers import format_decimal
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal import i18n
from portal.exports import links
from portal.exports.models import Export, ExportFile, ExportScope, ExportStatus
from portal.exports.service import EXPORT_TYPES, USABLE, ExportRuntime, ask_for_export
from portal.i18n import lazy_gettext as _l
from portal.views.common import moment
from portal.workflows.requests import DataRequest, RequestStatus

STATUS_LABELS = {
    ExportStatus.queued: _l("waiting to start"),
    ExportStatus.building: _l("being made"),
    ExportStatus.ready: _l("ready to download"),
    ExportStatus.failed: _l("failed"),
    ExportStatus.expired: _l("expired and deleted"),
}

SCOPE_LABELS = {
    ExportScope.access: _l("Everything we hold about you"),
    ExportScope.portability: _l("The data you gave us, to take elsewhere"),
}

FILE_LABELS = {
    ExportFile.pdf: _l("Report to read and print (PDF)"),
    ExportFile.zip: _l("Spreadsheet files (CSV) with the JSON file and a README (ZIP)"),
    ExportFile.json: _l("Everything in one machine-readable file (JSON)"),
}


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored datetime is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _size(size: int, language: str) -> str:
    locale = i18n.babel_locale(language)
    if size < 1024 * 1024:
        return f"{format_decimal(max(size / 1024, 0.1), '#,##0.#', locale=locale)} kB"
    return f"{format_decimal(size / 1024 / 1024, '#,##0.#', locale=locale)} MB"


@dataclass(frozen=True)
class Download:
    kind: str
    label: str
    href: str
    size: str


@dataclass(frozen=True)
class ExportView:
    id: str
    href: str
    status: str  # the ExportStatus value, for the template's logic
    status_label: str
    scope_label: str
    created: str
    expires: str | None
    rows_total: int
    rows_done: int
    request_id: int
    downloads: tuple[Download, ...]

    @property
    def working(self) -> bool:
        return self.status in (ExportStatus.queued, ExportStatus.building)

    @property
    def percent(self) -> int:
        if not self.rows_total:
            return 100 if self.status == ExportStatus.ready else 0
        return min(100, self.rows_done * 100 // self.rows_total)


@dataclass(frozen=True)
class ExportsPage:
    exports: tuple[ExportView, ...]
    scopes: tuple[tuple[str, str], ...]  # (value, label) for the form
    error: str | None = None


@dataclass(frozen=True)
class ExportPage:
    export: ExportView
    link_days: int


def export_view(
    export: Export, language: str, tz: str, now: datetime, secret_key: str | None = None
) -> ExportView:
    """One export as the person sees it, its times in the controller's zone ``tz``; with
    ``secret_key``, signed links for its files."""
    downloads: tuple[Download, ...] = ()
    expires = _aware(export.expires_at) if export.expires_at else None
    if secret_key and export.status == ExportStatus.ready and expires and expires > now:
        downloads = tuple(
            Download(
                kind=str(kind),
                label=str(FILE_LABELS[kind]),
                href="/me/exports/download?link="
                + links.personal_link(
                    secret_key,
                    subject_id=export.subject_id,
                    export_id=export.id,
                    file=kind,
                    expires_at=expires,
                ),
                size=_size(int(export.files.get(kind.value, 0)), language),
            )
            for kind in (ExportFile.pdf, ExportFile.zip, ExportFile.json)
        )
    return ExportView(
        id=export.id,
        href=f"/me/exports/{export.id}",
        status=str(export.status),
        status_label=str(STATUS_LABELS[ExportStatus(export.status)]),
        scope_label=str(SCOPE_LABELS[ExportScope(export.scope)]),
        created=moment(export.created_at, language, tz),
        expires=moment(expires, language, tz) if expires else None,
        rows_total=export.rows_total,
        rows_done=export.rows_done,
        request_id=export.request_id,
        downloads=downloads,
    )


def exports_page(
    db: Session,
    subject_id: int,
    language: str,
    tz: str,
    now: datetime,
    error: str | None = None,
) -> ExportsPage:
    exports = db.exec(
        select(Export)
        .where(Export.subject_id == subject_id)
        .order_by(col(Export.created_at).desc(), col(Export.id))
    ).all()
    return ExportsPage(
        exports=tuple(export_view(export, language, tz, now) for export in exports),
        scopes=tuple((str(scope), str(label)) for scope, label in SCOPE_LABELS.items()),
        error=error,
    )


def start_export(
    engine: Engine,
    form: Mapping[str, str],
    *,
    subject_id: int,
    rt: ExportRuntime,
    now: datetime,
    language: str,
) -> Export:
    """The list page's form: an access export unless portability is chosen, for the request
    it names, if any. ExportRefused changes nothing."""
    scope = ExportScope.portability if form.get("scope") == "portability" else ExportScope.access
    return ask_for_export(
        engine,
        subject_id=subject_id,
        rt=rt,
        now=now,
        language=language,
        scope=scope,
        request_id=int(form["request"]) if form.get("request", "").isdecimal() else None,
    )


def export_page(
    db: Session,
    subject_id: int,
    export_id: str,
    language: str,
    tz: str,
    now: datetime,
    secret_key: str,
    link_days: int,
) -> ExportPage | None:
    """The person's own export, or None (someone else's looks the same as none at all)."""
    export = db.get(Export, export_id)
    if export is None or export.subject_id != subject_id:
        return None
    return ExportPage(export_view(export, language, tz, now, secret_key), link_days)


@dataclass(frozen=True)
class RequestExports:
    """The export part of an access or portability request's page (exports/_for_request.html):
    its exports, and whether the person can have one made now."""

    request_id: int
    exports: tuple[ExportView, ...]
    can_start: bool
    # Filed by e-mail and not yet verified by the DPO: no data leaves before that.
    unverified: bool


def request_exports(
    db: Session, request: DataRequest, language: str, tz: str, now: datetime
) -> RequestExports | None:
    """None for a request that does not come with an export (erasure, objection, …)."""
    if request.type not in EXPORT_TYPES or request.id is None:
        return None
    exports = db.exec(
        select(Export).where(Export.request_id == request.id).order_by(col(Export.created_at))
    ).all()
    served = any(export.status != ExportStatus.failed for export in exports)
    return RequestExports(
        request_id=request.id,
        exports=tuple(export_view(export, language, tz, now) for export in exports),
        can_start=request.status in USABLE and not served,
        unverified=request.status == RequestStatus.received,
    )
