"""The demo company's edge cases: people at fixed national IDs, each showing one hard case.

The mock BankID login page offers these, the tests check the collector against each, and
docs/datamap.md describes them. Every number is valid (tests check them with
portal.identity.national_id).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EdgeCase:
    key: str
    national_id: str
    given_name: str
    family_name: str
    description: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


EDGE_CASES: tuple[EdgeCase, ...] = (
    EdgeCase(
        "ordinary",
        "12038410081",
        "Kari",
        "Nordmann",
        "An ordinary customer with something in every system: address history, orders, "
        "invoices, a closed complaint, calls, e-mails, consents, newsletter.",
    ),
    EdgeCase(
        "two_systems",
        "04077910005",
        "Ola",
        "Nordmann",
        "In the CRM under one e-mail address and in the web shop under another (linked by "
        "customer number, so found); also an old shop account under a third address with no "
        "link to him, which is not shown.",
    ),
    EdgeCase(
        "ended_relationship",
        "30105610080",
        "Per",
        "Hansen",
        "Customer relationship ended two years ago; old orders and invoices remain.",
    ),
    EdgeCase(
        "deceased",
        "17024110001",
        "Ingrid",
        "Berg",
        "Deceased; the register records the date.",
    ),
    EdgeCase(
        "open_collection",
        "22059010097",
        "Jonas",
        "Lie",
        "An overdue invoice with an open debt collection case at a collection agency, and a "
        "credit check.",
    ),
    EdgeCase(
        "nothing_held",
        "28016810004",
        "Tone",
        "Fjell",
        "A valid national ID the company holds nothing about.",
    ),
    EdgeCase(
        "special_characters",
        "198711091234",
        'Zoë "Zed"',
        "O'Connor-Åström <script>alert('x')</script>",
        "Swedish personnummer; a name with quotes, accents and markup characters.",
    ),
    EdgeCase(
        "shared_phone_a",
        "14067010028",
        "Lars",
        "Dahl",
        "Shares a landline with Mette Dahl; calls from it that no agent tied to a customer "
        "are withheld from both.",
    ),
    EdgeCase(
        "shared_phone_b",
        "03097210100",
        "Mette",
        "Dahl",
        "Shares a landline with Lars Dahl.",
    ),
    EdgeCase(
        "previous_resident",
        "24129510028",
        "Erik",
        "Moe",
        "Lived at Storgata 12, Oslo, until two years ago.",
    ),
    EdgeCase(
        "current_resident",
        "01049910084",
        "Silje",
        "Moen",
        "Lives at Storgata 12, Oslo, Erik Moe's old address.",
    ),
    EdgeCase(
        "reused_email_a",
        "19086110086",
        "Anders",
        "Vik",
        "Shares a family e-mail address with Nina Vik; a newsletter sign-up and a guest order "
        "under it are withheld from both.",
    ),
    EdgeCase(
        "reused_email_b",
        "05036310040",
        "Nina",
        "Vik",
        "Shares a family e-mail address with Anders Vik.",
    ),
    EdgeCase(
        "open_complaint",
        "01128210098",
        "Hilde",
        "Strand",
        "A television delivered eight months ago with a complaint in progress.",
    ),
    EdgeCase(
        "protected_address",
        "05057510090",
        "Knut",
        "Svendsen",
        "Has a protected address (strengt fortrolig adresse).",
    ),
    EdgeCase(
        "coordination_number",
        "198804694514",
        "Jussi",
        "Virtanen",
        "Swedish samordningsnummer (day of birth + 60).",
    ),
    EdgeCase(
        "frequent_buyer",
        "15017710033",
        "Bjørn",
        "Haug",
        "150 orders: a large export, read in chunks.",
    ),
    # The two below are seeded after the generated people, so adding them changed no other row.
    EdgeCase(
        "shop_customer",
        "07038510007",
        "Marte",
        "Lund",
        "Receipts from two years ago, a television bought this year with an open complaint, a "
        "newsletter subscription and calls with customer service (erasure plan, scenario 1).",
    ),
    EdgeCase(
        "two_collection_cases",
        "14097910066",
        "Geir",
        "Bakken",
        "Two paid-up debt collection cases, one closed four years ago and one closed a year ago "
        "(erasure plan, scenario 2).",
    ),
)

EDGE_CASES_BY_KEY = {case.key: case for case in EDGE_CASES}
