"""/dpo/dashboard: the DPO's key figures. Requests per week by type (charts, and the same numbers
in a table), how long completing a request takes, what is open and overdue, holds that end
soon, stopped jobs, and when the audit log was last verified. The numbers are
``workflows.statistics.overview``'s; this module only puts them in words and pictures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from babel.numbers import format_decimal
from markupsafe import Markup
from sqlalchemy.engine import Engine

from portal import i18n
from portal.audit.chain import last_verification
from portal.db import session_scope
from portal.i18n import gettext as _
from portal.i18n import ngettext
from portal.views.audit_log import Verification, verification_of
from portal.views.charts import Bar, bar_chart
from portal.views.labels import TYPE_NAMES
from portal.workflows.requests import RequestType
from portal.workflows.statistics import Overview, Week, overview


@dataclass(frozen=True)
class Chart:
    title: str
    svg: Markup


@dataclass(frozen=True)
class WeekRow:
    week: str  # "Week 47"
    starts: str  # its Monday, as a day
    counts: tuple[int, ...]  # per type, in the order of DashboardPage.types
    total: int


@dataclass(frozen=True)
class DashboardPage:
    """``charts``: every request, then one per type that had any in the twelve weeks;
    ``quiet_types`` had none. ``weeks`` is the same in a table, oldest first."""

    charts: tuple[Chart, ...]
    quiet_types: tuple[str, ...]
    types: tuple[str, ...]
    weeks: tuple[WeekRow, ...]
    completed: int
    median_days: str | None  # in words, such as "10" or "9.5"; None: none completed
    p90_days: str | None
    open: int
    overdue: int
    kept_ending: int
    kept_ending_erasures: int
    case_holds_review_soon: int
    case_holds_review_passed: int
    parked_jobs: int
    verification: Verification | None


def dashboard_page(
    numbers: Overview, verification: Verification | None, language: str
) -> DashboardPage:
    kinds = tuple(RequestType)
    week_rows = tuple(_week_row(week, kinds, language) for week in numbers.weeks)
    period = _("from %(first)s to %(last)s", first=week_rows[0].starts, last=week_rows[-1].starts)
    charts = [_chart(_("Every request"), None, numbers.weeks, week_rows, period, "chart-all")]
    quiet = []
    for kind in kinds:
        if any(week.counts[kind] for week in numbers.weeks):
            name = str(TYPE_NAMES[kind])
            charts.append(_chart(name, kind, numbers.weeks, week_rows, period, f"chart-{kind}"))
        else:
            quiet.append(str(TYPE_NAMES[kind]))
    return DashboardPage(
        charts=tuple(charts),
        quiet_types=tuple(quiet),
        types=tuple(str(TYPE_NAMES[kind]) for kind in kinds),
        weeks=week_rows,
        completed=numbers.completed,
        median_days=_days(numbers.median_days, language),
        p90_days=_days(numbers.p90_days, language),
        open=numbers.open,
        overdue=numbers.overdue,
        kept_ending=numbers.kept_ending,
        kept_ending_erasures=numbers.kept_ending_erasures,
        case_holds_review_soon=numbers.case_holds_review_soon,
        case_holds_review_passed=numbers.case_holds_review_passed,
        parked_jobs=numbers.parked_jobs,
        verification=verification,
    )


def _week_row(week: Week, kinds: tuple[RequestType, ...], language: str) -> WeekRow:
    return WeekRow(
        week=_("Week %(num)d", num=week.start.isocalendar().week),
        starts=i18n.format_day(week.start, language),
        counts=tuple(week.counts[kind] for kind in kinds),
        total=week.total,
    )


def _chart(
    name: str,
    kind: RequestType | None,
    weeks: tuple[Week, ...],
    rows: tuple[WeekRow, ...],
    period: str,
    chart_id: str,
) -> Chart:
    values = [week.total if kind is None else week.counts[kind] for week in weeks]
    bars = [
        Bar(
            label=str(week.start.isocalendar().week),
            value=value,
            description=_(
                "%(week)s, from %(day)s: %(num)d", week=row.week, day=row.starts, num=value
            ),
        )
        for week, row, value in zip(weeks, rows, values, strict=True)
    ]
    title = _("%(type)s: requests received per week", type=name)
    busiest = max(range(len(values)), key=lambda index: (values[index], index))
    if not values[busiest]:
        description = _("No requests in twelve weeks, %(period)s.", period=period)
        return Chart(name, bar_chart(bars, title=title, description=description, chart_id=chart_id))
    description = ngettext(
        "%(num)d request in twelve weeks, %(period)s; the most, %(most)d, in %(week)s.",
        "%(num)d requests in twelve weeks, %(period)s; the most, %(most)d, in %(week)s.",
        sum(values),
        period=period,
        most=values[busiest],
        week=rows[busiest].week,
    )
    return Chart(name, bar_chart(bars, title=title, description=description, chart_id=chart_id))


def _days(value: float | None, language: str) -> str | None:
    if value is None:
        return None
    return format_decimal(round(value, 1), format="#,##0.#", locale=i18n.babel_locale(language))


def load_dashboard(engine: Engine, language: str, tz: str, now: datetime) -> DashboardPage:
    with session_scope(engine) as db:
        numbers = overview(db, now, tz)
        verification = verification_of(last_verification(db), language, tz)
    return dashboard_page(numbers, verification, language)
