"""The records of processing (GDPR art. 30) built from a data map, without HTTP: the demo map's
every purpose, category, processor and rule appears; transfers outside the EEA show their
safeguard; what a map leaves out is said, never filled in; the PDF carries the same."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from portal.datamap import DataMap, load_datamap, parse_datamap
from portal.demo import DATAMAP_PATH
from portal.settings import _demo_security_measures
from portal.views.records_of_processing import (
    RecordsOfProcessing,
    TextBlock,
    country_name,
    records_html,
    records_of_processing,
    render_records_pdf,
    text_blocks,
)
from tests.support import tagged_pdf_structure

MINIMAL = Path(__file__).parents[1] / "datamap" / "datamaps" / "minimal.toml"
# Late in the evening UTC: the day in Oslo is already the next one.
NOW = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo() -> DataMap:
    return load_datamap(DATAMAP_PATH)


def records(
    datamap: DataMap, language: str = "en", security: str = "Locks."
) -> RecordsOfProcessing:
    return records_of_processing(datamap, security, language, NOW)


def edited(path: Path, old: str, new: str) -> DataMap:
    text = path.read_text(encoding="utf-8")
    assert old in text
    return parse_datamap(text.replace(old, new, 1).encode(), path.name)


def test_every_purpose_category_processor_and_people_of_the_demo_map_appears(demo: DataMap) -> None:
    result = records(demo)
    assert [a.key for a in result.activities] == list(demo.purposes)
    assert [c.key for c in result.categories] == list(demo.categories)
    assert [r.key for r in result.recipients] == list(demo.processors)
    assert [p.key for p in result.data_subjects] == list(demo.data_subjects)
    # Every purpose of the demo names its categories of people.
    assert all(activity.data_subjects for activity in result.activities)
    html = records_html(result)
    for item in (*demo.purposes.values(), *demo.categories.values(), *demo.data_subjects.values()):
        assert item.name.en in html
    for processor in demo.processors.values():
        assert processor.name in html


def test_an_activity_says_what_its_fields_say(demo: DataMap) -> None:
    activities = {a.key: a for a in records(demo).activities}
    bookkeeping = activities["bookkeeping"]
    assert bookkeeping.legal_bases == (
        "GDPR art. 6(1)(b) – Contract",
        "GDPR art. 6(1)(c) – Legal obligation",
    )
    assert bookkeeping.data_subjects == (
        "Customers",
        "Former customers",
        "Web shop users",
        "Payers",
    )
    assert "Payments and invoices" in bookkeeping.categories
    assert bookkeeping.recipients == ("Posten Bring (Norway)", "Nets (Denmark)")
    assert "Billing: Invoices and receipts, Payments" in bookkeeping.systems
    assert any("Norwegian Bookkeeping Act section 13(2)" in line for line in bookkeeping.retention)
    # Sweden's rules are not the controller's (a Norwegian company): left out, as on /me.
    assert not any("Sweden" in line for line in bookkeeping.retention)
    assert bookkeeping.transfers == ()
    credit = activities["credit_assessment"]
    assert credit.automated_decision is not None and "credit score" in credit.automated_decision
    assert credit.recipients == ("Experian (Norway)",)
    assert activities["newsletter"].consent and not activities["bookkeeping"].consent
    assert activities["debt_collection"].data_subjects == ("Debtors",)


def test_a_recipient_outside_the_eea_shows_its_safeguard(demo: DataMap) -> None:
    result = records(demo, "nb")
    by_key = {r.key: r for r in result.recipients}
    mailchimp = by_key["mailchimp"]
    assert (mailchimp.country_code, mailchimp.country, mailchimp.outside_eea) == ("US", "USA", True)
    assert mailchimp.safeguard == (
        "EUs standardkontraktsbestemmelser (personvernforordningen artikkel 46 nr. 2 bokstav c)"
    )
    assert mailchimp.purposes == ("Nyhetsbrev",)
    # Denmark and Norway are in the EEA: no transfer.
    assert not by_key["nets"].outside_eea and not by_key["bring"].outside_eea
    assert result.transfers == (mailchimp,)
    newsletter = next(a for a in result.activities if a.key == "newsletter")
    assert newsletter.transfers == ("Mailchimp (The Rocket Science Group LLC) (USA)",)
    html = records_html(result)
    transfers = html[html.index('id="transfers"') :]
    assert "sikret med EUs standardkontraktsbestemmelser" in transfers
    assert result.gaps == (
        "Ingen felt i datakartet behandles for formålet «Tilpassede tilbud (profilering)».",
    )


def test_a_transfer_without_a_safeguard_is_a_gap() -> None:
    result = records(_without_safeguard())
    mailchimp = next(r for r in result.recipients if r.key == "mailchimp")
    assert mailchimp.outside_eea and mailchimp.safeguard is None
    assert (
        "Mailchimp (The Rocket Science Group LLC) is outside the EEA (United States), and the "
        "data map gives no safeguard for the transfer (transfer_safeguard)." in result.gaps
    )
    html = records_html(result)
    assert "no safeguard given in the data map." in html[html.index('id="transfers"') :]


def _without_safeguard() -> DataMap:
    text = DATAMAP_PATH.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("transfer_safeguard =")]
    assert len(lines) == len(text.splitlines()) - 1
    return parse_datamap("\n".join(lines).encode(), "no_safeguard.toml")


def test_a_map_without_a_dpo_or_categories_of_people_says_so() -> None:
    result = records(load_datamap(MINIMAL))
    assert result.controller.dpo_contact is None
    assert result.gaps == (
        "The data map names no data protection officer (dpo_contact under [controller]).",
        "The purpose “Customer service” names no categories of people (data_subjects).",
    )
    (activity,) = result.activities
    assert activity.data_subjects == ()
    assert result.data_subjects == () and result.recipients == () and result.transfers == ()
    html = records_html(result)
    assert "None named in the data map." in html
    assert "Not given in the data map." in html
    assert "None: every recipient is in the EEA." in html
    # The demo map names its DPO.
    demo = records(load_datamap(DATAMAP_PATH))
    assert demo.controller.dpo_contact == "personvernombud@nordlys.example"
    assert not any("data protection officer" in gap for gap in demo.gaps)


def test_retention_rules_and_holds_in_words_with_where_they_apply(demo: DataMap) -> None:
    result = records(demo)
    rules = {rule.key: rule for rule in result.retention_rules}
    holds = {hold.key: hold for hold in result.holds}
    assert "bookkeeping_se" not in rules and "aml_se" not in holds  # Sweden's
    bookkeeping = rules["bookkeeping_no"]
    assert bookkeeping.period == "5 years after the end of the fiscal year"
    assert bookkeeping.then == "The records are deleted."
    assert bookkeeping.citation == "Norwegian Bookkeeping Act section 13(2)"
    assert [(u.table, u.counted_from) for u in bookkeeping.uses][:2] == [
        ("Orders", "Ordered"),
        ("Order lines", "Orders: Ordered"),
    ]
    assert rules["collection_link"].then == (
        "The records are anonymised: kept without the link to the person."
    )
    (complaint,) = holds["open_complaint"].uses
    assert holds["open_complaint"].period == "while its condition holds"
    assert (complaint.table, complaint.counted_from) == ("Complaints", None)
    assert complaint.condition == "Status is open or being handled"  # the map's value labels
    assert complaint.covers == ("Orders", "Order lines")  # the tables it keeps with it
    assert holds["bookkeeping_no"].uses[0].covers == ()
    ended = rules["customer_relationship_ended"].uses[0]
    assert ended.condition == "Customer relationship ended is set"
    durable = holds["complaint_period_durable_no"].uses[0]
    assert durable.condition == "Meant to last (longer complaint period) is yes"
    # Every rule and hold of the controller's country or the EU is there, and nothing else.
    assert set(rules) == {k for k, r in demo.retention_rules.items() if r.jurisdiction != "SE"}
    assert set(holds) == {k for k, h in demo.holds.items() if h.jurisdiction != "SE"}


def test_conditions_name_fields_and_codes_as_staff_read_them(demo: DataMap) -> None:
    """The records are the DPO's: a condition on a field the person reads as "Number you called
    from" names it as "Number the person called from", and a code "from you" as "from the
    person" (the map's staff wording)."""
    calls = 'retention = [{ rule = "customer_service_log", from = "started_at" }]'
    mails = 'retention = [{ rule = "customer_service_log", from = "received_at" }]'
    text = DATAMAP_PATH.read_text(encoding="utf-8")
    text = text.replace(calls, calls[:-3] + ', when_null = ["caller_phone"] }]', 1)
    text = text.replace(mails, mails[:-3] + ', when = { direction = ["in"] } }]', 1)
    edited_map = parse_datamap(text.encode(), DATAMAP_PATH.name)
    rule = {r.key: r for r in records(edited_map).retention_rules}["customer_service_log"]
    conditions = {use.table: use.condition for use in rule.uses}
    assert conditions["Calls with customer service"] == "Number the person called from is empty"
    assert conditions["E-mails with customer service"] == (
        "From the person or from us is from the person"
    )


def test_a_citation_not_verified_is_shown_to_the_dpo_marked_as_such() -> None:
    datamap = edited(
        DATAMAP_PATH,
        'period = "P5Y"\ncounts_from = "end_of_fiscal_year"\nthen = "delete_row"',
        'period = "P5Y"\ncounts_from = "end_of_fiscal_year"\nthen = "delete_row"\n'
        "citation_verified = false",
    )
    result = records(datamap)
    rule = next(rule for rule in result.retention_rules if rule.key == "bookkeeping_no")
    assert not rule.citation_verified
    assert rule.citation == "Norwegian Bookkeeping Act section 13(2)"
    html = records_html(result)
    limit = html[html.index('id="retention"') :]
    assert "citation not verified: people are never shown it" in limit


def test_in_every_language(demo: DataMap) -> None:
    nb, sv = records(demo, "nb"), records(demo, "sv")
    assert nb.made_on == "2. mars 2026"  # the controller's day (Oslo), not UTC's
    assert nb.controller.country == "Norge" and sv.controller.country == "Norge"
    assert nb.controller.supervisory_authority == "Datatilsynet"
    assert [p.name for p in nb.data_subjects][:2] == ["Kunder", "Tidligere kunder"]
    assert [p.name for p in sv.data_subjects][:2] == ["Kunder", "Tidigare kunder"]
    assert nb.activities[2].legal_bases[1] == (
        "personvernforordningen art. 6(1)(c) – Rettslig forpliktelse"
    )
    nb_html, sv_html = records_html(nb), records_html(sv)
    assert 'lang="nb"' in nb_html and "Protokoll over behandlingsaktiviteter" in nb_html
    assert 'lang="sv"' in sv_html and "Register över behandlingar" in sv_html
    assert records(demo, "xx").language == "nb"


def test_security_measures_come_as_paragraphs_and_lists(demo: DataMap) -> None:
    assert text_blocks("One.\nStill one.\n\n- a\n- b\n  more b\n\nEnd.") == (
        TextBlock(("One. Still one.",), is_list=False),
        TextBlock(("a", "b more b"), is_list=True),
        TextBlock(("End.",), is_list=False),
    )
    measures = _demo_security_measures()
    result = records(demo, "nb", measures.get("nb"))
    assert result.security_measures[0].items == (
        "Nordlys Handel AS beskytter personopplysningene med disse tiltakene:",
    )
    assert result.security_measures[1].is_list and len(result.security_measures[1].items) == 8
    assert "<script>" not in records_html(records(demo, "en", "<script>alert(1)</script>"))


def test_country_names() -> None:
    assert country_name("se", "nb") == "Sverige"
    assert country_name("US", "en") == "United States"
    assert country_name("QQ", "en") == "QQ"


def test_the_pdf_carries_the_records(demo: DataMap) -> None:
    result = records(demo, "en", _demo_security_measures().get("en"))
    pdf = render_records_pdf(result)
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)
    assert len(reader.pages) > 5
    assert "Records of processing activities" in text
    assert f"Page 2 of {len(reader.pages)}" in text
    for purpose in demo.purposes.values():
        assert purpose.name.en in text
    for processor in demo.processors.values():
        assert processor.name.split(" (")[0] in text
    assert "The EU standard contractual clauses" in text
    assert "Staff are bound by confidentiality" in text
    structure = tagged_pdf_structure(pdf, language="en", title="Records of processing activities")
    assert {"H1", "H2", "Table", "TH", "TD"} <= structure, structure
