"""Seeding the demo company: the edge cases (people.py) and any number of generated customers.

Deterministic: the same ``seed``, ``people`` and ``today`` give the same rows. Names and places
come from Faker (no_NO, its Bokmål locale, and sv_SE), drawn once into pools so that 100,000
people take seconds, not minutes; rows go in with bulk inserts, ``_FLUSH_EVERY`` people at a time.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from faker import Faker
from sqlalchemy import Table, event, func, select
from sqlalchemy.engine import Connection, Engine

from portal.demo import schema as s
from portal.demo.national_ids import no_fodselsnummer, no_individual_range, se_personnummer
from portal.demo.people import EDGE_CASES, EDGE_CASES_BY_KEY

_FLUSH_EVERY = 5000
COLLECTION_AGENCY = "Alektum Group"
CREDIT_BUREAU = "Experian"
CONSENT_PURPOSES = (
    "newsletter",
    "email_marketing",
    "sms_marketing",
    "phone_marketing",
    "profiling",
)
PRODUCTS = (  # sku, name, unit price, meant to last (five-year complaint period)
    ("TV-55", 'Fjernsyn 55" 4K', Decimal("8990.00"), True),
    ("WM-8", "Vaskemaskin 8 kg", Decimal("6490.00"), True),
    ("FR-200", "Kjøleskap 200 l", Decimal("7990.00"), True),
    ("HP-3", "Hodetelefoner", Decimal("1290.00"), False),
    ("CB-1", "USB-C-kabel", Decimal("149.00"), False),
    ("KB-2", "Tastatur", Decimal("599.00"), False),
    ("LP-14", 'Bærbar PC 14"', Decimal("11990.00"), True),
    ("VC-1", "Støvsuger", Decimal("2490.00"), True),
)
AGENTS = ("Agent 101", "Agent 102", "Agent 117", "Agent 205", "Agent 230")
CALL_TOPICS = (
    "Spurte om leveringstid.",
    "Ville endre leveringsadresse.",
    "Spørsmål om faktura.",
    "Reklamasjon, ba om retur.",
    "Ville melde seg av nyhetsbrev.",
)
MAIL_SUBJECTS = ("Spørsmål om ordre", "Faktura", "Retur", "Endring av adresse", "Reklamasjon")


class AlreadySeeded(RuntimeError):
    """The demo database already has data; seed again with reset=True."""


@dataclass
class _Pool:
    first: list[str]
    last: list[str]
    streets: list[str]
    places: list[tuple[str, str]]


@dataclass
class _Customer:
    id: int
    number: str
    name: str
    email: str | None
    phone: str | None
    country: str
    address: str
    since: date


@dataclass
class _Writer:
    """Rows waiting for the next bulk insert, with the next id per table."""

    connection: Connection
    pending: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    next_id: dict[str, int] = field(default_factory=lambda: defaultdict(lambda: 1))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, table: Table, **values: Any) -> int:
        row_id = self.next_id[table.name]
        self.next_id[table.name] = row_id + 1
        row = dict.fromkeys(table.c.keys())
        row.update(values, id=row_id)
        self.pending[table.name].append(row)
        return row_id

    def flush(self) -> None:
        for table in s.TABLES:
            rows = self.pending.pop(table.name, None)
            if rows:
                self.connection.execute(table.insert(), rows)
                self.counts[table.name] += len(rows)


def seed(
    engine: Engine,
    people: int,
    seed: int = 1,
    *,
    today: date,
    reset: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Create the demo schema and fill it: the edge cases and ``people`` generated customers.

    Returns the number of rows per table. Refuses to add to a database that already has demo
    data unless ``reset`` (which drops and recreates the demo tables).
    """
    if reset:
        s.metadata.drop_all(engine)
    s.metadata.create_all(engine)
    if engine.dialect.name == "sqlite":
        # A seed is a one-off bulk load: skip the per-transaction fsync.
        event.listen(engine, "connect", _fast_sqlite)
        engine.dispose()
    try:
        with engine.begin() as connection:
            if connection.execute(select(func.count()).select_from(s.crm_customers)).scalar():
                raise AlreadySeeded("the demo database already has data; use reset")
            writer = _Writer(connection)
            rng = random.Random(seed)  # noqa: S311 - fake data, not secrets
            _Seeder(writer, rng, _pools(seed), today).run(people, progress)
            return dict(writer.counts)
    finally:
        if engine.dialect.name == "sqlite":
            event.remove(engine, "connect", _fast_sqlite)
            engine.dispose()


def _fast_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def _pools(seed: int) -> dict[str, _Pool]:
    pools = {}
    # Faker calls Norwegian Bokmål "no_NO" (there is no nb_NO locale).
    for locale, country in (("no_NO", "NO"), ("sv_SE", "SE")):
        fake = Faker(locale)
        fake.seed_instance(seed)
        pools[country] = _Pool(
            first=sorted({fake.first_name() for _ in range(600)}),
            last=sorted({fake.last_name() for _ in range(600)}),
            streets=sorted({fake.street_name() for _ in range(600)}),
            places=sorted({(fake.postcode(), fake.city()) for _ in range(400)}),
        )
    return pools


def generated_customer_number(index: int) -> str:
    """Six digits from 100000 for the first 800,000 generated people, then seven from 1000000:
    never one of the edge cases' 9000xx, however many people a benchmark seeds."""
    return f"{100_000 + index}" if index < 800_000 else f"{200_000 + index}"


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", ascii_text.lower()) or "x"


class _Seeder:
    def __init__(
        self, writer: _Writer, rng: random.Random, pools: dict[str, _Pool], today: date
    ) -> None:
        self.w = writer
        self.rng = rng
        self.pools = pools
        self.today = today
        self.used_ids: set[str] = {case.national_id for case in EDGE_CASES}

    def run(self, people: int, progress: Callable[[int], None] | None) -> None:
        _EdgeCases(self).add_all()
        self.w.flush()
        for index in range(1, people + 1):
            self.random_person(index)
            if index % _FLUSH_EVERY == 0:
                self.w.flush()
                if progress:
                    progress(index)
        _EdgeCases(self).add_late()
        self.w.flush()

    # --- helpers ----------------------------------------------------------------------------

    def ago(self, days: int) -> date:
        return self.today - timedelta(days=days)

    def at(self, day: date) -> datetime:
        return datetime.combine(day, time(8 + self.rng.randrange(10), self.rng.randrange(60)))

    def street(self, country: str) -> tuple[str, str, str]:
        pool = self.pools[country]
        postcode, city = self.rng.choice(pool.places)
        return f"{self.rng.choice(pool.streets)} {self.rng.randrange(1, 120)}", postcode, city

    def national_id(self, country: str) -> tuple[str, date]:
        # Serials 200+ keep generated numbers apart from the edge cases (serials 100-199).
        while True:
            birth = self.ago(self.rng.randrange(18 * 365, 85 * 365))
            if country == "SE":
                number: str | None = se_personnummer(birth, self.rng.randrange(200, 1000))
            else:
                span = no_individual_range(birth)
                number = no_fodselsnummer(
                    birth, self.rng.randrange(max(span.start, 200), span.stop)
                )
            if number and number not in self.used_ids:
                self.used_ids.add(number)
                return number, birth

    # --- building blocks, shared by generated people and the edge cases ----------------------

    def customer(
        self,
        *,
        number: str,
        national_id: str | None,
        given: str,
        family: str,
        email: str | None,
        phone: str | None,
        country: str = "NO",
        birth: date | None = None,
        since: date,
        addresses: list[tuple[str, str, str, date]] | None = None,
        **extra: Any,
    ) -> _Customer:
        """A CRM customer with an address history: (street, postcode, city, moved in)."""
        if addresses is None:
            addresses = self.address_history(country, since)
        customer_id = self.w.add(
            s.crm_customers,
            customer_number=number,
            national_id=national_id,
            given_name=given,
            family_name=family,
            email=email,
            phone=phone,
            birth_date=birth,
            country=country,
            language="sv" if country == "SE" else "nb",
            customer_since=since,
            protected_address=extra.pop("protected_address", False),
            **extra,
        )
        for index, (street, postcode, city, moved_in) in enumerate(addresses):
            moved_out = (
                addresses[index + 1][3] - timedelta(days=1) if index + 1 < len(addresses) else None
            )
            self.w.add(
                s.crm_addresses,
                customer_id=customer_id,
                street=street,
                postal_code=postcode,
                city=city,
                country=country,
                valid_from=moved_in,
                valid_to=moved_out,
            )
        street, postcode, city, _ = addresses[-1]
        return _Customer(
            customer_id,
            number,
            f"{given} {family}",
            email,
            phone,
            country,
            f"{street}, {postcode} {city}",
            since,
        )

    def address_history(self, country: str, since: date) -> list[tuple[str, str, str, date]]:
        """Up to five years back (seed 000): one to three addresses."""
        start = max(since, self.ago(5 * 365))
        moves = sorted(self.rng.sample(range(30, 5 * 365), self.rng.randrange(0, 3)), reverse=True)
        dates = [start, *(self.ago(days) for days in moves if self.ago(days) > start)]
        return [(*self.street(country), moved_in) for moved_in in dates]

    def consent(
        self, customer: _Customer, purpose: str, given: date, withdrawn: date | None
    ) -> None:
        self.w.add(
            s.crm_consents,
            customer_id=customer.id,
            purpose=purpose,
            given_at=self.at(given),
            withdrawn_at=self.at(withdrawn) if withdrawn else None,
            channel=self.rng.choice(("web", "app", "phone")),
            text_version="2024-01",
        )

    def credit_check(self, customer: _Customer, day: date, decision: str = "approved") -> None:
        self.w.add(
            s.crm_credit_checks,
            customer_id=customer.id,
            checked_on=day,
            bureau=CREDIT_BUREAU,
            score=self.rng.randrange(300, 900),
            decision=decision,
            reason="Kjøp på faktura",
        )

    def account(
        self, customer: _Customer | None, email: str, phone: str | None, name: str, created: date
    ) -> int:
        return self.w.add(
            s.shop_accounts,
            customer_number=customer.number if customer else None,
            email=email,
            phone=phone,
            display_name=name,
            created_at=self.at(created),
            last_login_at=self.at(
                min(self.today, created + timedelta(days=self.rng.randrange(400)))
            ),
        )

    def order(
        self,
        *,
        account_id: int | None,
        email: str,
        name: str,
        country: str,
        day: date,
        products: list[tuple[str, str, Decimal, bool]] | None = None,
        customer: _Customer | None = None,
        invoice_status: str | None = None,
        note: str | None = None,
        invoice_kind: str | None = None,
    ) -> tuple[int, str, date | None]:
        """An order with its lines, and (for a customer) its invoice or receipt and payment."""
        products = products or self.rng.sample(PRODUCTS, self.rng.randrange(1, 4))
        delivered = day + timedelta(days=3) if day + timedelta(days=3) <= self.today else None
        street, postcode, city = self.street(country)
        quantities = [1 if durable else self.rng.randrange(1, 3) for *_, durable in products]
        total = sum((p[2] * q for p, q in zip(products, quantities, strict=True)), Decimal("0"))
        order_number = f"O{self.w.next_id[s.shop_orders.name]:08d}"
        order_id = self.w.add(
            s.shop_orders,
            order_number=order_number,
            account_id=account_id,
            email=email,
            ordered_at=self.at(day),
            delivered_on=delivered,
            status="delivered" if delivered else "placed",
            delivery_name=name,
            delivery_street=street,
            delivery_postal_code=postcode,
            delivery_city=city,
            delivery_note=note,
            total=total,
            currency="SEK" if country == "SE" else "NOK",
        )
        for (sku, product, price, durable), quantity in zip(products, quantities, strict=True):
            self.w.add(
                s.shop_order_lines,
                order_id=order_id,
                sku=sku,
                product_name=product,
                quantity=quantity,
                unit_price=price,
                durable=durable,
            )
        if customer is not None:
            self.invoice(customer, order_number, day, total, invoice_status, invoice_kind)
        return order_id, order_number, delivered

    def invoice(
        self,
        customer: _Customer,
        order_number: str | None,
        day: date,
        amount: Decimal,
        status: str | None = None,
        kind: str | None = None,
    ) -> str:
        kind = kind or ("receipt" if status is None and self.rng.random() < 0.5 else "invoice")
        due = day + timedelta(days=14)
        status = status or ("paid" if due < self.today or kind == "receipt" else "unpaid")
        number = f"F{self.w.next_id[s.billing_invoices.name]:08d}"
        invoice_id = self.w.add(
            s.billing_invoices,
            invoice_number=number,
            customer_number=customer.number,
            order_number=order_number,
            kind=kind,
            issued_on=day,
            due_on=due,
            amount=amount,
            currency="SEK" if customer.country == "SE" else "NOK",
            status=status,
            billing_name=customer.name,
            billing_address=customer.address,
        )
        if status == "paid":
            card = kind == "receipt"
            self.w.add(
                s.billing_payments,
                invoice_id=invoice_id,
                paid_on=day if card else min(due, self.today),
                amount=amount,
                method="card" if card else self.rng.choice(("bank", "vipps")),
                card_last4=f"{self.rng.randrange(10000):04d}" if card else None,
                payer_name=customer.name,
            )
        return number

    def complaint(self, order_id: int, opened: date, status: str, text: str) -> None:
        closed = status in ("closed", "rejected")
        self.w.add(
            s.shop_complaints,
            order_id=order_id,
            opened_on=opened,
            closed_on=min(self.today, opened + timedelta(days=20)) if closed else None,
            status=status,
            description=text,
            resolution="Byttet vare." if status == "closed" else None,
        )

    def collection_case(
        self,
        customer: _Customer,
        national_id: str,
        invoice: str,
        opened: date,
        status: str,
        closed: date | None = None,
    ) -> None:
        if closed is None and status == "closed":
            closed = opened + timedelta(days=120)
        case_id = self.w.add(
            s.collection_cases,
            case_number=f"C{self.w.next_id[s.collection_cases.name]:07d}",
            invoice_number=invoice,
            debtor_national_id=national_id,
            debtor_name=customer.name,
            debtor_address=customer.address,
            agency=COLLECTION_AGENCY,
            opened_on=opened,
            closed_on=closed,
            status=status,
            amount_due=Decimal("1290.00") if status != "closed" else Decimal("0.00"),
        )
        for offset, kind in (
            (0, "inkassovarsel"),
            (14, "betalingsoppfordring"),
            (30, "kredittopplysning"),
        ):
            if opened + timedelta(days=offset) <= self.today:
                self.w.add(
                    s.collection_events,
                    case_id=case_id,
                    happened_on=opened + timedelta(days=offset),
                    kind=kind,
                    note=None,
                )

    def call(self, customer: _Customer | None, phone: str | None, day: date) -> None:
        self.w.add(
            s.contact_calls,
            customer_id=customer.id if customer else None,
            caller_phone=phone,
            started_at=self.at(day),
            duration_seconds=self.rng.randrange(30, 1200),
            agent=self.rng.choice(AGENTS),
            summary=self.rng.choice(CALL_TOPICS),
        )

    def mail(
        self, customer: _Customer | None, address: str, day: date, body: str | None = None
    ) -> None:
        self.w.add(
            s.contact_emails,
            customer_id=customer.id if customer else None,
            from_address=address,
            direction="in",
            received_at=self.at(day),
            subject=self.rng.choice(MAIL_SUBJECTS),
            body=body or "Hei, jeg har et spørsmål om min siste ordre.",
        )

    def newsletter(self, email: str, day: date, unsubscribed: date | None = None) -> None:
        self.w.add(
            s.marketing_newsletter,
            email=email,
            subscribed_at=self.at(day),
            unsubscribed_at=self.at(unsubscribed) if unsubscribed else None,
            signup_source=self.rng.choice(("checkout", "web_form", "store")),
            confirmed=True,
        )

    def list_member(
        self,
        customer_number: str | None,
        email: str | None,
        phone: str | None,
        channel: str,
        day: date,
    ) -> None:
        self.w.add(
            s.marketing_list_members,
            list_name=f"Kampanje {day:%Y-%m}",
            customer_number=customer_number,
            email=email,
            phone=phone,
            channel=channel,
            added_on=day,
            removed_on=None,
        )

    # --- a generated customer ------------------------------------------------------------------

    def random_person(self, index: int) -> None:
        rng = self.rng
        country = "SE" if rng.random() < 0.25 else "NO"
        pool = self.pools[country]
        national_id, birth = self.national_id(country)
        given, family = rng.choice(pool.first), rng.choice(pool.last)
        email = (
            f"{_slug(given)}.{_slug(family)}.{index}@example.{rng.choice(('com', 'net', 'org'))}"
        )
        # Unique by construction, and apart from the edge cases' numbers (+479..., +4673...).
        phone = f"+474{index:07d}" if country == "NO" else f"+4670{index:07d}"
        since = self.ago(rng.randrange(60, 15 * 365))
        ended = self.ago(rng.randrange(30, 700)) if rng.random() < 0.05 else None
        customer = self.customer(
            number=generated_customer_number(index),
            national_id=national_id,
            given=given,
            family=family,
            email=email,
            phone=phone,
            country=country,
            birth=birth,
            since=since,
            relationship_ended_on=ended,
        )
        active_from = max(since, self.ago(5 * 365))
        span = max((self.today - active_from).days, 1)
        for purpose in rng.sample(CONSENT_PURPOSES, rng.randrange(0, 3)):
            given_on = active_from + timedelta(days=rng.randrange(span))
            withdrawn = given_on + timedelta(days=30) if rng.random() < 0.2 else None
            self.consent(
                customer,
                purpose,
                given_on,
                withdrawn if withdrawn and withdrawn <= self.today else None,
            )
        if rng.random() < 0.2:
            self.credit_check(customer, active_from + timedelta(days=rng.randrange(span)))
        if rng.random() < 0.7:
            # Some shops keep the address as typed: matched regardless of case.
            shop_email = email.capitalize() if rng.random() < 0.3 else email
            account_id = self.account(customer, shop_email, phone, given, active_from)
            for _ in range(rng.randrange(0, 4)):
                day = active_from + timedelta(days=rng.randrange(span))
                order_id, _, delivered = self.order(
                    account_id=account_id,
                    email=shop_email,
                    name=customer.name,
                    country=country,
                    day=day,
                    customer=customer,
                )
                if delivered and rng.random() < 0.05:
                    self.complaint(
                        order_id,
                        delivered + timedelta(days=10),
                        rng.choice(("open", "closed")),
                        "Varen virket ikke.",
                    )
        if rng.random() < 0.1:
            day = active_from + timedelta(days=rng.randrange(span))
            self.order(
                account_id=None,
                email=email,
                name=customer.name,
                country=country,
                day=day,
                customer=customer,
            )
        if rng.random() < 0.01:
            opened = self.ago(rng.randrange(40, 900))
            invoice = self.invoice(
                customer, None, opened - timedelta(days=30), Decimal("1290.00"), "overdue"
            )
            self.collection_case(
                customer, national_id, invoice, opened, rng.choice(("open", "closed"))
            )
        for _ in range(rng.randrange(0, 3)):
            day = active_from + timedelta(days=rng.randrange(span))
            self.call(customer if rng.random() < 0.8 else None, phone, day)
        for _ in range(rng.randrange(0, 2)):
            day = active_from + timedelta(days=rng.randrange(span))
            self.mail(customer if rng.random() < 0.8 else None, email, day)
        if rng.random() < 0.3:
            self.newsletter(email, active_from + timedelta(days=rng.randrange(span)))
        if rng.random() < 0.3:
            channel = rng.choice(("email", "sms", "phone"))
            self.list_member(
                customer.number if rng.random() < 0.5 else None,
                email if channel == "email" else None,
                phone if channel != "email" else None,
                channel,
                active_from + timedelta(days=rng.randrange(span)),
            )


# Seeded after the generated people: see _EdgeCases.add_late.
_LATE = frozenset({"shop_customer", "two_collection_cases"})


class _EdgeCases:
    """The people of people.py, built row by row so that each case is exactly what it says."""

    def __init__(self, seeder: _Seeder) -> None:
        self.s = seeder

    def add_all(self) -> None:
        for case in EDGE_CASES:
            if case.key not in _LATE:
                getattr(self, case.key)()

    def add_late(self) -> None:
        """Edge cases added after the generated people, with their own random numbers, so that
        adding them left every earlier row (ids, names, dates) as it was."""
        shared = self.s.rng
        self.s.rng = random.Random("late edge cases")  # noqa: S311 - fake data, not secrets
        try:
            for case in EDGE_CASES:
                if case.key in _LATE:
                    getattr(self, case.key)()
        finally:
            self.s.rng = shared

    def _customer(
        self, key: str, number: str, email: str | None, phone: str | None, **extra: Any
    ) -> _Customer:
        case = EDGE_CASES_BY_KEY[key]
        country = "SE" if len(case.national_id) == 12 else "NO"
        since = extra.pop("since", self.s.ago(8 * 365))
        return self.s.customer(
            number=number,
            national_id=case.national_id,
            given=case.given_name,
            family=case.family_name,
            email=email,
            phone=phone,
            country=country,
            since=since,
            **extra,
        )

    def _orders(
        self, customer: _Customer, account_id: int | None, email: str, count: int, first_day: int
    ) -> None:
        for index in range(count):
            self.s.order(
                account_id=account_id,
                email=email,
                name=customer.name,
                country=customer.country,
                day=self.s.ago(first_day - index * 7),
                customer=customer,
            )

    def ordinary(self) -> None:
        email = "kari.nordmann@example.com"
        c = self._customer("ordinary", "900001", email, "+4791000001")
        self.s.consent(c, "newsletter", self.s.ago(900), None)
        self.s.consent(c, "sms_marketing", self.s.ago(800), self.s.ago(400))
        account = self.s.account(c, email, c.phone, "Kari", self.s.ago(1000))
        self._orders(c, account, email, 3, 600)
        order_id, _, _ = self.s.order(
            account_id=account,
            email=email,
            name=c.name,
            country="NO",
            day=self.s.ago(300),
            customer=c,
        )
        self.s.complaint(order_id, self.s.ago(280), "closed", "Skjermen hadde en død piksel.")
        self.s.call(c, c.phone, self.s.ago(200))
        self.s.call(c, c.phone, self.s.ago(20))
        self.s.mail(c, email, self.s.ago(150))
        self.s.mail(c, email, self.s.ago(10))
        self.s.newsletter(email, self.s.ago(900))
        self.s.list_member(c.number, None, c.phone, "sms", self.s.ago(100))

    def two_systems(self) -> None:
        c = self._customer("two_systems", "900002", "ola.nordmann@example.com", "+4791000002")
        shop_email = "Ola.N@Example.net"
        account = self.s.account(c, shop_email, None, "Ola N", self.s.ago(700))
        self._orders(c, account, shop_email, 2, 500)
        self.s.newsletter("ola.n@example.net", self.s.ago(650))
        # An old account under an address nothing links to him: not his to see until proven.
        old = self.s.account(None, "ola1979@example.org", None, "ola79", self.s.ago(2000))
        self.s.order(
            account_id=old,
            email="ola1979@example.org",
            name=c.name,
            country="NO",
            day=self.s.ago(1900),
        )
        self.s.newsletter("ola1979@example.org", self.s.ago(1900))

    def ended_relationship(self) -> None:
        c = self._customer(
            "ended_relationship",
            "900003",
            "per.hansen@example.com",
            "+4791000003",
            relationship_ended_on=self.s.ago(730),
        )
        account = self.s.account(c, c.email or "", c.phone, "Per", self.s.ago(2000))
        self._orders(c, account, c.email or "", 2, 1500)
        self.s.credit_check(c, self.s.ago(1600))

    def deceased(self) -> None:
        c = self._customer(
            "deceased",
            "900004",
            "ingrid.berg@example.com",
            "+4791000004",
            deceased_on=self.s.ago(200),
            relationship_ended_on=self.s.ago(200),
        )
        self.s.consent(c, "phone_marketing", self.s.ago(1200), None)
        self.s.call(c, c.phone, self.s.ago(400))

    def open_collection(self) -> None:
        c = self._customer("open_collection", "900005", "jonas.lie@example.com", "+4791000005")
        self.s.credit_check(c, self.s.ago(220))
        account = self.s.account(c, c.email or "", c.phone, "Jonas", self.s.ago(400))
        self.s.order(
            account_id=account,
            email=c.email or "",
            name=c.name,
            country="NO",
            day=self.s.ago(200),
            customer=c,
            invoice_status="overdue",
        )
        invoice = f"F{self.s.w.next_id[s.billing_invoices.name] - 1:08d}"
        self.s.collection_case(
            c, EDGE_CASES_BY_KEY["open_collection"].national_id, invoice, self.s.ago(150), "open"
        )
        self.s.mail(c, c.email or "", self.s.ago(140), "Jeg bestrider kravet.")

    def nothing_held(self) -> None:
        """Nothing: the company has never had anything to do with this person."""

    def special_characters(self) -> None:
        case = EDGE_CASES_BY_KEY["special_characters"]
        email = "zoe.oconnor@example.se"
        c = self._customer("special_characters", "900007", email, "+46730000007")
        account = self.s.account(c, email, c.phone, case.given_name, self.s.ago(300))
        order_id, _, _ = self.s.order(
            account_id=account,
            email=email,
            name=c.name,
            country="SE",
            day=self.s.ago(100),
            customer=c,
            note='Lämna vid dörren; "portkod" 1234 & <b>ring</b>',
        )
        self.s.complaint(
            order_id,
            self.s.ago(90),
            "open",
            'Trasig vid leverans <img src=x onerror=alert(1)> "igen"',
        )

    def shared_phone_a(self) -> None:
        self._shared_phone("shared_phone_a", "900008", "lars.dahl@example.com")

    def shared_phone_b(self) -> None:
        self._shared_phone("shared_phone_b", "900009", "mette.dahl@example.com")
        # Calls from the family phone that no agent tied to either of them.
        self.s.call(None, "+4722334455", self.s.ago(60))
        self.s.call(None, "+4722334455", self.s.ago(30))

    def _shared_phone(self, key: str, number: str, email: str) -> None:
        c = self._customer(key, number, email, "+4722334455")
        self.s.call(c, c.phone, self.s.ago(100))
        self.s.mail(c, email, self.s.ago(90))

    def previous_resident(self) -> None:
        addresses = [
            ("Storgata 12", "0155", "Oslo", self.s.ago(5 * 365)),
            ("Kirkeveien 3", "0368", "Oslo", self.s.ago(730)),
        ]
        self._customer(
            "previous_resident",
            "900010",
            "erik.moe@example.com",
            "+4791000010",
            addresses=addresses,
        )

    def current_resident(self) -> None:
        addresses = [
            ("Fjordveien 8", "5003", "Bergen", self.s.ago(6 * 365)),
            ("Storgata 12", "0155", "Oslo", self.s.ago(729)),
        ]
        self._customer(
            "current_resident",
            "900011",
            "silje.moen@example.com",
            "+4791000011",
            addresses=addresses,
        )

    def reused_email_a(self) -> None:
        self._customer("reused_email_a", "900012", "familien.vik@example.com", "+4791000012")

    def reused_email_b(self) -> None:
        c = self._customer("reused_email_b", "900013", "familien.vik@example.com", "+4791000013")
        self.s.newsletter("familien.vik@example.com", self.s.ago(300))
        self.s.order(
            account_id=None,
            email="Familien.Vik@example.com",
            name=c.name,
            country="NO",
            day=self.s.ago(250),
        )
        self.s.call(c, c.phone, self.s.ago(50))

    def open_complaint(self) -> None:
        c = self._customer("open_complaint", "900014", "hilde.strand@example.com", "+4791000014")
        account = self.s.account(c, c.email or "", c.phone, "Hilde", self.s.ago(500))
        order_id, _, _ = self.s.order(
            account_id=account,
            email=c.email or "",
            name=c.name,
            country="NO",
            day=self.s.ago(243),
            customer=c,
            products=[PRODUCTS[0]],
        )
        self.s.complaint(
            order_id, self.s.ago(30), "in_progress", "Bildet slukker etter ti minutter."
        )

    def protected_address(self) -> None:
        self._customer(
            "protected_address",
            "900015",
            "knut.svendsen@example.com",
            "+4791000015",
            protected_address=True,
        )

    def coordination_number(self) -> None:
        c = self._customer(
            "coordination_number", "900016", "jussi.virtanen@example.se", "+46730000016"
        )
        self.s.newsletter(c.email or "", self.s.ago(100))

    def frequent_buyer(self) -> None:
        c = self._customer("frequent_buyer", "900017", "bjorn.haug@example.com", "+4791000017")
        account = self.s.account(c, c.email or "", c.phone, "Bjørn", self.s.ago(1800))
        self._orders(c, account, c.email or "", 150, 1500)

    # --- seeded after the generated people (add_late) ----------------------------------------

    def shop_customer(self) -> None:
        """Erasure scenario 1: receipts kept for bookkeeping, an open complaint kept while open,
        newsletter and calls erased."""
        email = "marte.lund@example.com"
        c = self._customer("shop_customer", "900018", email, "+4791000018")
        account = self.s.account(c, email, c.phone, "Marte", self.s.ago(900))
        for day, product in ((800, PRODUCTS[3]), (790, PRODUCTS[4])):
            self.s.order(
                account_id=account,
                email=email,
                name=c.name,
                country="NO",
                day=self.s.ago(day),
                products=[product],
                customer=c,
                invoice_kind="receipt",
            )
        order_id, _, _ = self.s.order(
            account_id=account,
            email=email,
            name=c.name,
            country="NO",
            day=self.s.ago(100),
            products=[PRODUCTS[0]],
            customer=c,
            invoice_kind="receipt",
        )
        self.s.complaint(order_id, self.s.ago(20), "open", "Lyden faller ut.")
        self.s.newsletter(email, self.s.ago(400))
        self.s.call(c, c.phone, self.s.ago(300))
        self.s.call(c, c.phone, self.s.ago(40))

    def two_collection_cases(self) -> None:
        """Erasure scenario 2: a case closed four years ago, another closed a year ago."""
        case = EDGE_CASES_BY_KEY["two_collection_cases"]
        c = self._customer("two_collection_cases", "900019", "geir.bakken@example.com", None)
        for closed_days_ago in (4 * 365 + 1, 365):  # 2022-11-24 and 2025-11-24 from 2026-11-24
            closed = self.s.ago(closed_days_ago)
            opened = closed - timedelta(days=120)
            invoice = self.s.invoice(
                c, None, opened - timedelta(days=30), Decimal("1290.00"), "paid"
            )
            self.s.collection_case(c, case.national_id, invoice, opened, "closed", closed=closed)
