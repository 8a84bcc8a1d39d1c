"""The "my data" page against the seeded demo company."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, insert, select, update
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from portal import i18n
from portal.app import create_app
from portal.datamap import collect, load_datamap
from portal.datamap.wording import format_value
from portal.demo import DATAMAP_PATH, EDGE_CASES, EDGE_CASES_BY_KEY
from portal.demo.schema import metadata as demo_metadata
from portal.demo.seed import seed
from portal.settings import Settings
from portal.views.my_data import INLINE_ROWS, PAGE_SIZE
from tests.conftest import DEMO_TODAY, TEST_SECRET
from tests.support import add_demo_subject, signed_in_client


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    with TestClient(create_app(settings, sources=demo_sources), follow_redirects=False) as c:
        yield c


def sign_in_as(client: TestClient, key: str) -> None:
    subject_id = add_demo_subject(client.app.state.engine, key)
    signed_in_client(client, secret_key=TEST_SECRET, subject_id=subject_id)


def expected_total(client: TestClient, key: str) -> int:
    state = client.app.state
    collection = collect(state.datamap, state.sources, EDGE_CASES_BY_KEY[key].national_id)
    return sum(len(rows) for rows in collection.tables.values())


def test_ordinary_customer_sees_each_table_once_as_the_thing_it_is(client: TestClient) -> None:
    sign_in_as(client, "ordinary")
    response = client.get("/me")
    assert response.status_code == 200
    page = response.context["page"]
    assert page.total == expected_total(client, "ordinary") > 10
    assert page.total == sum(table.total for table in page.tables)
    names = [table.name for table in page.tables]
    assert len(names) == len(set(names))
    assert {"Kundekort", "Ordrer", "Fakturaer og kvitteringer", "Samtykker"} <= set(names)
    assert f"Vi har {page.total} oppføringer om deg." in response.text
    assert "Hei, Kari Nordmann" in response.text
    # The summary at the top (art. 15(1)(a)-(d), (g)): kinds of data, purposes with their
    # legal bases, origins, recipients, retention.
    summary = page.summary
    assert {"Identitet", "Kontaktopplysninger", "Kjøp"} <= {c.name for c in summary.categories}
    assert "Levering av kjøp" in [purpose.name for purpose in summary.purposes]
    assert len({purpose.name for purpose in summary.purposes}) == len(summary.purposes)
    assert any("bokføringsloven § 13 andre ledd" in line for line in summary.retention)
    text = response.text
    assert "personvernforordningen art. 6(1)(b)" in text
    assert "Fra deg" in text
    assert "Posten Bring" in text
    assert "Datatilsynet" in text
    assert 'id="rights"' in text
    # Every field of a table, with its kind of data, purposes and legal basis; keys are fields.
    orders = next(table for table in page.tables if table.key == "shop_orders")
    facts = {field.name: field for field in orders.fields}
    assert facts["order_number"].category == "Interne referanser"
    assert facts["total"].category == "Betaling og faktura"
    assert facts["delivery_street"].purposes[0].legal_basis.endswith("Avtale")
    assert facts["delivery_street"].recipients == ("Posten Bring",)
    # The national ID is masked among the identifiers used.
    assert EDGE_CASES_BY_KEY["ordinary"].national_id not in [i.value for i in page.identifiers]


@pytest.mark.parametrize("key", [case.key for case in EDGE_CASES])
def test_the_headline_is_the_sum_of_the_tables_counts(client: TestClient, key: str) -> None:
    sign_in_as(client, key)
    response = client.get("/me")
    page = response.context["page"]
    assert page.total == expected_total(client, key)
    counts = re.findall(r'<span class="count">(\d+) oppføring(?:er)?</span>', response.text)
    assert sum(int(count) for count in counts) == page.total == sum(t.total for t in page.tables)
    if page.total:
        headline = re.search(r"Vi har (\d+) oppføring(?:er)? om deg\.", response.text)
        assert headline is not None and int(headline[1]) == page.total
    else:
        assert "Vi har ingen personopplysninger om deg." in response.text


def test_orders_show_their_number_date_and_total_newest_first(client: TestClient) -> None:
    sign_in_as(client, "ordinary")
    page = client.get("/me").context["page"]
    orders = next(table for table in page.tables if table.key == "shop_orders")
    columns = [column.name for column in orders.columns]
    assert {"order_number", "ordered_at", "total"} <= set(columns)
    state = client.app.state
    raw = collect(state.datamap, state.sources, EDGE_CASES_BY_KEY["ordinary"].national_id)
    newest = sorted(raw.tables["shop_orders"], key=lambda r: r.value("ordered_at"), reverse=True)
    number = columns.index("order_number")
    assert [row.shown[number] for row in orders.rows] == [r.value("order_number") for r in newest]
    # Every other field is there too, under the row.
    labels = [label for label, _value in orders.rows[0].fields]
    assert "Leveringsadresse" in labels and "Intern ordre-ID" in labels


def test_person_with_nothing_held_is_told_so(client: TestClient) -> None:
    sign_in_as(client, "nothing_held")
    response = client.get("/me")
    assert response.context["page"].empty
    assert "Vi har ingen personopplysninger om deg." in response.text


def test_markup_in_names_is_escaped(client: TestClient) -> None:
    sign_in_as(client, "special_characters")
    response = client.get("/me")
    assert response.status_code == 200
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in response.text


@pytest.mark.parametrize(("me", "other"), [("shared_phone_a", "shared_phone_b"),
                                           ("previous_resident", "current_resident"),
                                           ("reused_email_a", "reused_email_b")])  # fmt: skip
def test_a_person_never_sees_another_persons_rows(client: TestClient, me: str, other: str) -> None:
    sign_in_as(client, me)
    response = client.get("/me")
    page = response.context["page"]
    assert page.total == expected_total(client, me)
    theirs = EDGE_CASES_BY_KEY[other]
    assert theirs.national_id not in response.text
    assert f"{theirs.given_name} {theirs.family_name}" not in response.text


def test_withheld_rows_under_a_shared_phone_are_explained(client: TestClient) -> None:
    sign_in_as(client, "shared_phone_a")
    page = client.get("/me").context["page"]
    assert page.withheld > 0
    assert page.may_hold_more


def test_address_history_is_a_timeline_newest_first(client: TestClient) -> None:
    sign_in_as(client, "previous_resident")
    page = client.get("/me").context["page"]
    history = next(t for t in page.tables if t.key == "crm_addresses")
    assert history.timeline
    column = [c.name for c in history.columns].index("valid_from")
    assert len(history.rows) >= 2
    state = client.app.state
    raw = collect(state.datamap, state.sources, EDGE_CASES_BY_KEY["previous_resident"].national_id)
    newest = sorted((row.value("valid_from") for row in raw.tables["crm_addresses"]), reverse=True)
    tz = state.datamap.controller.time_zone
    assert [row.shown[column] for row in history.rows] == [
        format_value(d, "nb", tz) for d in newest
    ]


def test_many_records_are_counted_first_and_read_a_table_at_a_time(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client.app.state.memory, "seconds", 0)  # two first views
    sign_in_as(client, "frequent_buyer")
    response = client.get("/me")
    page = response.context["page"]
    assert page.total == expected_total(client, "frequent_buyer") > INLINE_ROWS
    # Every table closed and counted, none of its rows read; a link reads them.
    assert page.tables and not any(table.loaded or table.rows for table in page.tables)
    orders = next(t for t in page.tables if t.key == "shop_orders")
    assert f'<a href="/me/data/shop_orders">Vis de {orders.total} oppføringene</a>' in response.text
    assert 'hx-get="/me/data/shop_orders" hx-trigger="toggle once"' in response.text
    # The same tables, counts and words as the page that reads every table's first rows.
    monkeypatch.setattr("portal.views.my_data.INLINE_ROWS", 10_000)
    whole = client.get("/me").context["page"]
    assert all(table.loaded and table.rows for table in whole.tables)
    assert [(t.key, t.total, t.pages) for t in page.tables] == [
        (t.key, t.total, t.pages) for t in whole.tables
    ]
    assert (page.total, page.summary, page.identifiers, page.withheld) == (
        whole.total,
        whole.summary,
        whole.identifiers,
        whole.withheld,
    )
    assert page.automated_decisions == whole.automated_decisions


def test_large_tables_are_paged_with_and_without_javascript(client: TestClient) -> None:
    sign_in_as(client, "frequent_buyer")
    page = client.get("/me").context["page"]
    orders = next(t for t in page.tables if t.key == "shop_orders")
    assert orders.total >= 150
    assert orders.pages == -(-orders.total // PAGE_SIZE)
    opened = client.get("/me/data/shop_orders", headers={"HX-Request": "true"})
    assert len(opened.context["table"].rows) == PAGE_SIZE
    assert opened.context["table"].total == orders.total

    full = client.get("/me/data/shop_orders?page=2")
    assert full.status_code == 200
    assert full.template.name == "me/table.html"
    assert full.context["table"].page == 2
    assert full.context["table"].first_row_number == PAGE_SIZE + 1

    fragment = client.get("/me/data/shop_orders?page=2", headers={"HX-Request": "true"})
    assert fragment.template.name == "me/_table.html"
    assert "<html" not in fragment.text
    assert fragment.context["table"].rows == full.context["table"].rows
    assert full.context["table"].rows != opened.context["table"].rows
    assert 'hx-target="#rows-shop_orders"' in fragment.text

    assert client.get("/me/data/no_such_table").status_code == 404


def test_the_page_is_in_the_chosen_language(client: TestClient) -> None:
    sign_in_as(client, "ordinary")
    client.cookies.set("lang", "sv", domain="testserver.local")
    response = client.get("/me")
    assert "Kontaktuppgifter" in response.text
    assert "Hej, Kari Nordmann" in response.text


def test_me_pages_need_sign_in(client: TestClient) -> None:
    assert client.get("/me").status_code == 303
    assert client.get("/me/data/shop_orders").status_code == 303


def test_page_renders_for_a_subject_with_5000_rows(
    settings: Settings, tmp_path, engine: Engine
) -> None:
    big = create_engine(f"sqlite:///{tmp_path / 'big.db'}")
    seed(big, 20, today=DEMO_TODAY)
    buyer = EDGE_CASES_BY_KEY["frequent_buyer"]
    lines = demo_metadata.tables["shop_order_lines"]
    datamap = load_datamap(DATAMAP_PATH)
    sources = dict.fromkeys(datamap.sources, big)
    order_ids = [
        row.key for row in collect(datamap, sources, buyer.national_id).tables["shop_orders"]
    ]
    with big.begin() as connection:
        template = connection.execute(select(lines).limit(1)).mappings().one()
        first_id = connection.execute(select(func.max(lines.c.id))).scalar_one() + 1
        rows = [
            {**template, "id": first_id + n, "order_id": order_ids[n % len(order_ids)]}
            for n in range(5000)
        ]
        connection.execute(insert(lines), rows)
    with TestClient(create_app(settings, sources=sources), follow_redirects=False) as client:
        sign_in_as(client, "frequent_buyer")
        total = expected_total(client, "frequent_buyer")
        response = client.get("/me")
    big.dispose()
    assert total > 5000
    assert response.status_code == 200
    assert response.context["page"].total == total
    shown = len(re.findall(r"<tr>", response.text))
    assert shown < 1000  # paged: the page stays small however much is held
    assert len(response.text) < 1_000_000


def test_each_row_says_how_long_it_is_kept_and_under_which_law(client: TestClient) -> None:
    sign_in_as(client, "ordinary")
    page = client.get("/me").context["page"]
    invoices = next(t for t in page.tables if t.key == "billing_invoices")
    state = client.app.state
    raw = collect(state.datamap, state.sources, EDGE_CASES_BY_KEY["ordinary"].national_id)
    paid = {
        row.key: row.value("issued_on")
        for row in raw.tables["billing_invoices"]
        if row.value("status") == "paid"
    }
    assert paid
    # Bookkeeping Act § 13: five years after the end of the fiscal year (31 Dec here).
    expected = {
        f"Oppbevares til 31. des. {issued.year + 5} etter bokføringsloven § 13 andre ledd"
        for issued in paid.values()
        if issued.year + 5 >= DEMO_TODAY.year
    }
    assert expected <= {row.kept for row in invoices.rows}


def test_an_open_complaint_is_kept_while_open(client: TestClient) -> None:
    sign_in_as(client, "open_complaint")
    page = client.get("/me").context["page"]
    complaints = next(t for t in page.tables if t.key == "shop_complaints")
    kept = {row.kept for row in complaints.rows}
    assert any(text.startswith("Oppbevares så lenge saken er åpen") for text in kept), kept


def test_moments_read_to_the_minute_in_oslo_and_a_midnight_as_its_day(
    settings: Settings, tmp_path
) -> None:
    """No "00:00:00" and no seconds on /me: a call held at midnight (a date-only source) reads
    as its day, and one at 16:58:37 UTC reads as its day and Oslo's hours and minutes."""
    own = create_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    seed(own, 5, today=DEMO_TODAY)
    datamap = load_datamap(DATAMAP_PATH)
    sources = dict.fromkeys(datamap.sources, own)
    person = EDGE_CASES_BY_KEY["ordinary"]
    calls = collect(datamap, sources, person.national_id).tables["contact_calls"]
    assert len(calls) >= 2
    midnight = datetime.combine(calls[0].value("started_at").date(), time(0))
    seconds = datetime.combine(calls[1].value("started_at").date(), time(16, 58, 37))
    table = demo_metadata.tables["contact_calls"]
    with own.begin() as connection:
        for row, at in ((calls[0], midnight), (calls[1], seconds)):
            connection.execute(update(table).where(table.c.id == row.key).values(started_at=at))
    with TestClient(create_app(settings, sources=sources), follow_redirects=False) as client:
        sign_in_as(client, "ordinary")
        response = client.get("/me")
    own.dispose()
    assert response.status_code == 200
    text = response.text
    assert "00:00:00" not in text
    assert re.findall(r"\b\d{1,2}:\d{2}:\d{2}\b", text) == []
    oslo = seconds.replace(tzinfo=UTC).astimezone(ZoneInfo("Europe/Oslo"))
    assert f">{i18n.format_day(oslo.date(), 'nb')}, {oslo:%H:%M}</td>" in text
    assert f">{i18n.format_day(midnight.date(), 'nb')}</td>" in text
    calls_shown = next(t for t in response.context["page"].tables if t.key == "contact_calls")
    assert i18n.format_day(midnight.date(), "nb") in [row.shown[0] for row in calls_shown.rows]


@pytest.mark.parametrize("key", ["ordinary", "frequent_buyer"])
def test_the_demo_peoples_pages_have_no_seconds(client: TestClient, key: str) -> None:
    sign_in_as(client, key)
    response = client.get("/me")
    text = response.text
    # A person of many records has each table read as it opens: those pages too.
    for table in response.context["page"].tables:
        if not table.loaded:
            text += client.get(f"/me/data/{table.key}", headers={"HX-Request": "true"}).text
    assert re.findall(r"\b\d{1,2}:\d{2}:\d{2}\b", text) == []
    assert re.search(r"\d{4}, \d{2}:\d{2}</td>", text)  # the orders' and calls' times
