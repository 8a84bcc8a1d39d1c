"""What every page shares: the portal's own days and moments."""

from __future__ import annotations

from datetime import UTC, date, datetime

from portal.views.common import day, moment

OSLO = "Europe/Oslo"


def test_a_stored_moment_reads_the_same_from_either_database() -> None:
    # PostgreSQL hands back 00:00 UTC aware, SQLite naive: both are 01:00 in Oslo (winter),
    # never a day alone, which a naive midnight from the company's data would be.
    stored = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert moment(stored, "nb", OSLO) == "24. nov. 2026, 01:00"
    assert moment(stored.replace(tzinfo=None), "nb", OSLO) == "24. nov. 2026, 01:00"


def test_a_moments_day_is_the_controllers() -> None:
    late = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # 00:30 on the 24th in Oslo
    assert day(late, "en", OSLO) == "24 Nov 2026"
    assert day(late.replace(tzinfo=None), "sv", OSLO) == "24 nov. 2026"
    assert day(date(2026, 11, 23), "en", OSLO) == "23 Nov 2026"
