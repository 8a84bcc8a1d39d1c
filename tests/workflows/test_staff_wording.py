"""Staff read about the person, not to them (#19): the caller look-up and the DPO's data found
show the records in the data map's staff wording ("Nummeret personen ringte fra", "fra
personen"), /me keeps the person's ("Nummeret du ringte fra", "fra deg"); the map's
``staff_label`` and ``staff_values`` load, fall back to the person's words and are checked."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from portal.datamap import DataMapError, FieldSpec, Text, parse_datamap
from portal.datamap.wording import field_label, format_field, record_label
from portal.models import StaffRoleName
from portal.workflows.requests import RequestType
from tests.conftest import TEST_SECRET
from tests.datamap.test_datamap_loader import MAPS, _edit
from tests.support import add_demo_subject, csrf_token_from, sign_in_staff, signed_in_client
from tests.workflows.test_dpo_pages import add_staff
from tests.workflows.test_request_pages import file_by_hand

LANGUAGES = ("nb", "sv", "en")
# The demo map's words for Kari's calls and e-mails to customer service, in each language:
# (the person's, staff's) for the number she called from, the e-mail's direction and its value.
CALLED_FROM = {
    "nb": ("Nummeret du ringte fra", "Nummeret personen ringte fra"),
    "sv": ("Numret du ringde från", "Numret personen ringde från"),
    "en": ("Number you called from", "Number the person called from"),
}
DIRECTION = {
    "nb": ("Fra deg eller fra oss", "Fra personen eller fra oss"),
    "sv": ("Från dig eller från oss", "Från personen eller från oss"),
    "en": ("From you or from us", "From the person or from us"),
}
FROM_THEM = {
    "nb": ("fra deg", "fra personen"),
    "sv": ("från dig", "från personen"),
    "en": ("from you", "from the person"),
}
OSLO = "Europe/Oslo"


def _words(html: str, language: str, who: int) -> tuple[bool, bool, bool]:
    """Whether the page shows each of the three texts in the person's (0) or staff's (1) words;
    a value as a cell's or a field's whole text."""
    return (
        CALLED_FROM[language][who] in html,
        DIRECTION[language][who] in html,
        f">{FROM_THEM[language][who]}<" in html,
    )


def assert_staff_words(html: str, language: str) -> None:
    assert _words(html, language, 1) == (True, True, True)
    assert _words(html, language, 0) == (False, False, False)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_caller_look_up_shows_the_data_in_staffs_words(
    client: TestClient, language: str
) -> None:
    sign_in_staff(client, StaffRoleName.staff, sub="kundeservice")
    token = csrf_token_from(client.get("/staff/lookup").text)
    found = client.post(
        "/staff/lookup",
        data={
            "csrf_token": token,
            "kind": "phone",
            "value": "+47 910 00 001",
            "reason": "own_data",
        },
    )
    assert found.status_code == 303
    client.cookies.set("lang", language)
    page = client.get(found.headers["location"])
    assert page.status_code == 200 and page.template.name == "staff/lookup_person.html"
    assert_staff_words(page.text, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_dpos_data_found_shows_the_data_in_staffs_words(
    client: TestClient, language: str
) -> None:
    person = add_demo_subject(client.app.state.engine, "ordinary")
    request_id = file_by_hand(client, person, RequestType.access)
    staff_id = add_staff(client, StaffRoleName.dpo)
    signed_in_client(client, secret_key=TEST_SECRET, staff_id=staff_id, now=client.app.state.now())
    client.cookies.set("lang", language)
    for headers in ({"HX-Request": "true"}, {}):  # the case page's fragment, and the whole page
        page = client.get(f"/dpo/requests/{request_id}/data", headers=headers)
        assert page.status_code == 200
        assert_staff_words(page.text, language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_my_data_keeps_the_persons_own_words(client: TestClient, language: str) -> None:
    person = add_demo_subject(client.app.state.engine, "ordinary")
    signed_in_client(client, secret_key=TEST_SECRET, subject_id=person, now=client.app.state.now())
    client.cookies.set("lang", language)
    page = client.get("/me")
    assert page.status_code == 200
    assert _words(page.text, language, 0) == (True, True, True)
    assert _words(page.text, language, 1) == (False, False, False)


def _spec(**staff: object) -> FieldSpec:
    return FieldSpec(
        category="c",
        purposes=["p"],
        legal_basis="b",
        origin="o",
        erasure="keep",
        label=Text(nb="Fra deg eller fra oss", sv="Från dig eller från oss", en="From you or us"),
        values={
            "in": Text(nb="fra deg", sv="från dig", en="from you"),
            "out": Text(nb="fra oss", sv="från oss", en="from us"),
        },
        **staff,
    )


def test_staff_words_fall_back_to_the_persons_where_the_map_gives_none() -> None:
    plain = _spec()
    assert field_label("direction", plain, "nb", staff=True) == "Fra deg eller fra oss"
    assert format_field(plain, "in", "nb", OSLO, staff=True) == "fra deg"
    worded = _spec(
        staff_label=Text(nb="Fra personen eller oss", sv="Från personen eller oss", en="Who"),
        staff_values={"in": Text(nb="fra personen", sv="från personen", en="from the person")},
    )
    assert field_label("direction", worded, "nb", staff=True) == "Fra personen eller oss"
    assert field_label("direction", worded, "nb") == "Fra deg eller fra oss"
    assert format_field(worded, "in", "sv", OSLO, staff=True) == "från personen"
    assert format_field(worded, "in", "sv", OSLO) == "från dig"
    # A code without a staff wording reads as the person's; one without any label, as it is.
    assert format_field(worded, "out", "en", OSLO, staff=True) == "from us"
    assert format_field(worded, "other", "en", OSLO, staff=True) == "other"


_STAFF_WORDED = (
    'text = { values = { in = { nb = "fra deg", sv = "från dig", en = "from you" } }, '
    'staff_label = { nb = "Personens tekst", sv = "Personens text", en = "Their text" }, '
    'staff_values = { in = { nb = "fra personen", sv = "från personen", en = "from them" } } }'
)


def test_the_map_loads_staff_labels_and_values() -> None:
    text = (MAPS / "minimal.toml").read_text().replace("text = {}", _STAFF_WORDED, 1)
    spec = parse_datamap(text.encode(), "m.toml").tables["notes"].fields["text"]
    assert spec.staff_label is not None and spec.staff_label.get("sv") == "Personens text"
    assert spec.staff_values["in"].get("en") == "from them"
    plain = parse_datamap((MAPS / "minimal.toml").read_bytes(), "m.toml")
    assert plain.tables["notes"].fields["text"].staff_label is None


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            (', en = "Their text"', ""),
            "m.toml: table 'notes', field 'text': missing en text in staff_label",
        ),
        (
            ("staff_values = { in = {", "staff_values = { inn = {"),
            "m.toml: table 'notes', field 'text': staff_values: inn not in values (staff_values "
            "words a value the person's values already label)",
        ),
        (
            ('staff_values = { in = { nb = "fra personen", ', "staff_values = { in = { "),
            "m.toml: table 'notes', field 'text': missing nb text in staff_values.in",
        ),
    ],
)
def test_a_bad_staff_wording_names_the_file_and_the_field(
    edit: tuple[str, str], problem: str
) -> None:
    worded = _STAFF_WORDED.replace(*edit)
    assert _edit([("text = {}", worded)]) == [problem]


def test_staff_wording_belongs_to_a_field_not_to_the_defaults() -> None:
    with pytest.raises(DataMapError) as caught:
        parse_datamap(
            (MAPS / "minimal.toml")
            .read_text()
            .replace(
                'origin = "subject", erasure = "delete_row" }\n[tables.notes.fields]',
                'origin = "subject", erasure = "delete_row", staff_label = {} }\n'
                "[tables.notes.fields]",
                1,
            )
            .encode(),
            "m.toml",
        )
    assert caught.value.problems == ["m.toml: table 'notes', defaults: staff_label: unknown key"]


def test_a_record_label_names_a_record_in_staffs_words() -> None:
    text = (MAPS / "minimal.toml").read_text().replace("text = {}", _STAFF_WORDED, 1)
    datamap = parse_datamap(text.encode(), "m.toml")
    table = datamap.tables["notes"].model_copy(
        update={"label": Text(nb="Notat {text}", sv="Anteckning {text}", en="Note {text}")}
    )
    assert record_label(table, {"text": "in"}, "nb", OSLO) == "Notat fra personen"
