"""The test people and staff users offered on the mock login page.

Every number below is valid (the tests check each against portal.identity.national_id and
python-stdnum).
The names exercise what a real register holds: æøå and äö, an apostrophe, and markup characters
that must come out escaped everywhere they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from portal.identity.national_id import parse_national_id

ROLES = frozenset({"staff", "dpo", "admin"})


@dataclass(frozen=True)
class TestPerson:
    __test__ = False  # not a pytest test class, despite the name

    national_id: str
    given_name: str
    family_name: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def birthdate(self) -> date | None:
        return parse_national_id(self.national_id).birth_date


@dataclass(frozen=True)
class StaffUser:
    username: str
    given_name: str
    family_name: str
    roles: tuple[str, ...]  # a subset of ROLES

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


def default_people() -> list[TestPerson]:
    return [
        TestPerson("15038512010", "Åse", "Bjørnstad"),  # fødselsnummer, 1985
        TestPerson("02079425381", "Ærlend", "Østby"),  # fødselsnummer, 1994
        TestPerson("28023104042", "Sigrid", "Lie Håland"),  # fødselsnummer, 1931
        TestPerson("52088815157", "Seán", "O'Brien"),  # D-number, 1988
        TestPerson("11070352119", "<b>Bold</b>", "Nordmann"),  # fødselsnummer, 2003
        TestPerson("199001182303", "Märta", "Åkesson"),  # personnummer, 1990
        TestPerson("192009051216", "Björn", "Öberg"),  # personnummer, 1920: "+" in 10 digits
        TestPerson("198503744511", "Jussi", "Mäkinen"),  # samordningsnummer, 1985
    ]


def default_staff() -> list[StaffUser]:
    return [
        StaffUser("kundeservice", "Kari", "Kundeservice", ("staff",)),
        StaffUser("personvern", "Per", "Personvernombud", ("dpo",)),
        StaffUser("admin", "Ada", "Administrator", ("admin",)),
        StaffUser("superbruker", "Siri", "Superbruker", ("staff", "dpo", "admin")),
    ]
