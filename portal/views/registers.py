"""What the register import page shows: the registers on the block list (entries, last import,
the file's date), the form, and what an import did, in the page's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from babel.numbers import format_decimal
from sqlalchemy.engine import Engine
from starlette.datastructures import UploadFile

from portal import i18n
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.i18n import lazy_gettext as _l
from portal.i18n import ngettext
from portal.marketing import registers
from portal.marketing.registers import ImportResult, RegisterError
from portal.views.common import Done, Refused, day, moment
from portal.views.washing import source_name

IMPORT_PATH = "/staff/block-list/import"

# The country a register's numbers belong to when written without a country code: NIX-Telefon
# is Swedish even where the portal's PHONE_REGION is Norway.
REGIONS = {
    "NO": _l("Norway (+47)"),
    "SE": _l("Sweden (+46)"),
    "DK": _l("Denmark (+45)"),
    "FI": _l("Finland (+358)"),
}


@dataclass(frozen=True)
class RegisterRow:
    source: str
    name: str
    entries: str
    imported: str
    file_date: str


@dataclass(frozen=True)
class ImportPage:
    registers: list[RegisterRow]
    suggestions: list[str]  # register names for the source field's list
    regions: dict[str, Any]
    max_mb: int = registers.MAX_UPLOAD_BYTES // 2**20
    form: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def import_page(
    engine: Engine,
    phone_region: str,
    tz: str,
    form: dict[str, str] | None = None,
    error: str | None = None,
) -> ImportPage:
    """The registers with their import times in the controller's time zone ``tz``, and the
    form."""
    language = i18n.current_language()
    with session_scope(engine) as db:
        sources = registers.register_sources(db)
    rows = [
        RegisterRow(
            source=item.source,
            name=source_name(item.source),
            entries=_number(item.entries),
            imported=moment(item.imported_at, language, tz),
            file_date=day(item.file_date, language, tz) if item.file_date else "–",
        )
        for item in sources
    ]
    names = sorted({*registers.KNOWN_REGISTERS, *(item.source for item in sources)})
    typed = {"region": phone_region, **(form or {})}
    return ImportPage(rows, names, regions_for(phone_region), form=typed, error=error)


def submit_import(
    engine: Engine,
    form: Mapping[str, Any],
    *,
    phone_region: str,
    tz: str,
    staff_id: int,
    now: datetime,
) -> Done | Refused:
    """The import form's POST: the register replaced by the file, or the form again with the
    reason (and what was typed)."""
    source = str(form.get("source", "")).strip().lower()
    typed_date = str(form.get("source_date", "")).strip()
    region = str(form.get("region", "")) or phone_region
    file = form.get("file")
    try:
        source_date = registers.parse_file_date(typed_date, now.date())
        if region not in regions_for(phone_region):
            raise RegisterError("region")
        if not isinstance(file, UploadFile) or not file.filename:
            registers.check_source_name(source)  # the name's problem first, if it has one
            raise RegisterError("no_file")
        # session_scope rolls back on RegisterError, so a refused file leaves the old entries.
        with session_scope(engine) as db:
            result = registers.import_register(
                db,
                source,
                file.file,
                region=region,
                source_date=source_date,
                now=now,
                staff_id=staff_id,
                max_bytes=registers.MAX_UPLOAD_BYTES,
            )
    except RegisterError as exc:
        typed = {"source": source, "source_date": typed_date, "region": region}
        return Refused(import_page(engine, phone_region, tz, typed, exc.message()))
    return Done(IMPORT_PATH, import_message(result))


def regions_for(phone_region: str) -> dict[str, Any]:
    """The form's choice of country, with the portal's own region when it is not listed."""
    return REGIONS if phone_region in REGIONS else {phone_region: phone_region, **REGIONS}


def import_message(result: ImportResult) -> str:
    """What the import did, for the flash: counts and the bad lines' numbers, never a value."""
    parts = [
        ngettext(
            "%(count)s number was imported into %(source)s.",
            "%(count)s numbers were imported into %(source)s.",
            result.imported,
            count=_number(result.imported),
            source=source_name(result.source),
        )
    ]
    if result.bad_count:
        lines = ", ".join(str(line) for line in result.bad_lines)
        parts.append(
            ngettext(
                "%(count)s line was not a phone number: line %(lines)s.",
                "%(count)s lines were not phone numbers: lines %(lines)s.",
                result.bad_count,
                count=_number(result.bad_count),
                lines=lines,
            )
        )
        if result.bad_count > len(result.bad_lines):
            parts.append(_("Only the first %(listed)s are listed.", listed=len(result.bad_lines)))
    return " ".join(parts)


def _number(value: int) -> str:
    return format_decimal(value, locale=i18n.babel_locale(i18n.current_language()))
