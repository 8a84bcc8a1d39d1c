"""Law citations a person reads (#16 item 7): never a citation with a doubt in it, never one the
data map marks as not verified; the DPO sees those, flagged, on the queue and the case page.

The demo map's citations are confirmed ("hvitvaskingsloven § 30", "penningtvättslagen
(2017:630) 5 kap. 3 §"): every page and file a person gets, for demo people in nb, sv and en, is
free of doubt words. A copy of the map marking the anti-money-laundering and Norwegian
bookkeeping citations as not verified shows that such a citation is left out everywhere a person
looks (pages, plan, letter, exports, what an erasure keeps), the rule or hold named alone, and
that the DPO is shown it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from pypdf import PdfReader
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from portal.app import create_app
from portal.datamap import load_datamap
from portal.db import session_scope
from portal.demo import DATAMAP_PATH
from portal.exports.build import build_files
from portal.exports.csv_zip import ENCODING, KEPT_CSV
from portal.exports.document import SCHEMA_FILE
from portal.exports.models import ExportFile, ExportScope
from portal.exports.service import person_of
from portal.exports.store import ExportStore
from portal.models import Assurance, StaffRoleName, Subject
from portal.settings import Settings
from portal.workflows.erasure import ErasurePlan, Reason, describe_plan
from portal.workflows.erasure_run import execute_plan
from portal.workflows.erasure_service import approve_plan, latest_plan, plan_request
from portal.workflows.letters import render_outcome_letter
from portal.workflows.requests import Actor, RequestType, file_request
from tests.conftest import make_settings
from tests.erasure_support import seeded_demo
from tests.support import Clock, add_demo_subject, sign_in_staff, signed_in_client

LANGUAGES = ("nb", "sv", "en")
DOUBT = re.compile(
    r"unconfirmed|not confirmed|unverified|not verified|ikke bekreftet|ej bekräfta", re.I
)
MADE_AT = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
SCHEMA_URL = "http://testserver/schemas/export-v1.json"
# The citations the test map marks not verified, in every language: anti-money laundering
# (the SE ones name "5 kap. 3 §") and Norwegian bookkeeping.
HIDDEN = (
    "§ 30",
    "section 30",
    "5 kap. 3 §",
    "chapter 5 section 3",
    "bokføringsloven § 13",
    "(bokføringsloven) § 13",
    "Bookkeeping Act section 13",
)
AML_NAMES = {"nb": "Kundekontroll", "sv": "Kundkännedom (Norge)", "en": "Customer due diligence"}


def flat(text: str) -> str:
    return " ".join(text.replace("&#39;", "'").split())


def pdf_text(content: bytes | Path) -> str:
    reader = PdfReader(io.BytesIO(content) if isinstance(content, bytes) else content)
    return flat(" ".join(page.extract_text() for page in reader.pages))


def zip_text(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return flat(" ".join(archive.read(name).decode("utf-8-sig") for name in archive.namelist()))


def file_erasure(client: TestClient, subject_id: int, language: str) -> tuple[int, ErasurePlan]:
    state = client.app.state
    now = state.now()
    with session_scope(state.engine) as db:
        filed = file_request(
            db,
            subject_id=subject_id,
            type=RequestType.erasure,
            assurance=Assurance.high,
            actor=Actor.person,
            now=now,
            language=language,
        )
        stored = plan_request(db, filed.id, datamap=state.datamap, sources=state.sources, now=now)
        return filed.id, ErasurePlan.from_dict(stored.plan)


def letter(client: TestClient, plan: ErasurePlan, request_id: int, language: str) -> str:
    now = client.app.state.now()
    return pdf_text(
        render_outcome_letter(
            plan,
            person_name="Test Person",
            request_id=request_id,
            received_at=now,
            completed_at=now,
            controller=client.app.state.datamap.controller,
            language=language,
        )
    )


def export(client: TestClient, store: ExportStore, subject_id: int, name: str, language: str):
    state = client.app.state
    with Session(state.engine) as db:
        person = person_of(db, db.get(Subject, subject_id))
    build_files(
        state.datamap,
        state.sources,
        store,
        export_id=name,
        person=person,
        scope=ExportScope.access,
        language=language,
        made_at=MADE_AT,
        schema_url=SCHEMA_URL,
    )
    return store.directory(name)


def person_pages(client: TestClient, request_id: int) -> dict[str, str]:
    """Every page a signed-in person reads, by address (the erasure request's page too)."""
    pages = {}
    for address in (
        "/me",
        "/me/requests",
        "/me/requests/new",
        f"/me/requests/{request_id}",
        "/me/consent",
        "/me/exports",
    ):
        response = client.get(address)
        assert response.status_code == 200, address
        pages[address] = flat(response.text)
    return pages


# --- what was stored before the map could say so -----------------------------------------------


def test_a_stored_plans_citation_with_a_doubt_in_it_is_not_shown() -> None:
    """Plans stored before ``citation_verified`` carried the doubt in the citation itself."""
    legacy = {
        "kind": "hold",
        "key": "aml_no",
        "name": {"nb": "Kundekontroll", "sv": "Kundkännedom", "en": "Customer due diligence"},
        "citation": {
            "nb": "hvitvaskingsloven § 30 (ikke bekreftet)",
            "sv": "hvitvaskingsloven § 30 (ej bekräftat)",
            "en": "Anti-Money Laundering Act section 30 (unconfirmed)",
        },
        "source": "rule",
        "until": "2031-11-24",
    }
    reason = Reason.from_dict(legacy)
    assert not reason.citation_verified and reason.citation_for_person("nb") is None
    assert Reason.from_dict(reason.to_dict()) == reason
    verified = {**legacy, "citation": {"nb": "hvitvaskingsloven § 30"}}
    assert Reason.from_dict(verified).citation_for_person("nb") == "hvitvaskingsloven § 30"
    step = {
        "table": "crm_credit_checks",
        "key": 1,
        "action": "retain",
        "delete_row": False,
        "null": [],
        "pseudonymise": [],
        "until": "2031-11-24",
        "then": "erase",
        "reasons": [legacy],
    }
    plan = ErasurePlan.from_dict(
        {
            "format": 1,
            "datamap_version": "sha256:x",
            "planned_on": "2026-11-24",
            "jurisdiction": "NO",
            "case_holds": [],
            "tables": [{"table": "crm_credit_checks", "name": {"nb": "Kredittvurderinger"},
                        "erase": 0, "anonymise": 0, "retain": 1}],
            "steps": [step],
            "withheld": {},
        }
    )  # fmt: skip
    [line] = describe_plan(plan, "nb")
    assert "Kundekontroll" in line and "§ 30" not in line and not DOUBT.search(line)
    assert plan.unverified_reasons() == (reason,)


# --- the demo map: nothing a person gets carries a doubt ----------------------------------------


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    app = create_app(settings, now=Clock(), sources=demo_sources)
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_page_plan_letter_or_export_a_person_gets_carries_a_doubt(
    client: TestClient, language: str, tmp_path: Path
) -> None:
    store = ExportStore(tmp_path / "exports")
    # Credit checks kept for anti-money laundering (an ended relationship), bookkeeping and an
    # open complaint, and a Swede.
    for key in ("ended_relationship", "shop_customer", "coordination_number"):
        subject_id = add_demo_subject(client.app.state.engine, key)
        request_id, plan = file_erasure(client, subject_id, language)
        signed_in_client(client, secret_key=client.app.state.settings.secret_key,
                         subject_id=subject_id)  # fmt: skip
        client.cookies.set("lang", language)
        texts = person_pages(client, request_id)
        texts["letter"] = letter(client, plan, request_id, language)
        texts["plan"] = " ".join(describe_plan(plan, language))
        if key == "ended_relationship":
            built = export(client, store, subject_id, f"{key}-{language}", language)
            texts["json"] = (built / ExportFile.json.filename).read_text(encoding="utf-8")
            texts["zip"] = zip_text(built / ExportFile.zip.filename)
            texts["pdf"] = pdf_text(built / ExportFile.pdf.filename)
        for where, text in texts.items():
            assert not DOUBT.search(text), (key, where, DOUBT.search(text))
        if key == "ended_relationship":
            # The confirmed citation is what the person reads now.
            cited = {"nb": "hvitvaskingsloven § 30", "sv": "(hvitvaskingsloven) § 30",
                     "en": "Anti-Money Laundering Act section 30"}[language]  # fmt: skip
            assert cited in texts["/me"] and cited in texts["letter"]


def test_the_dpo_queue_flags_nothing_when_every_citation_is_verified(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.dpo)
    queue = client.get("/dpo")
    assert queue.status_code == 200
    assert queue.context["page"].citations == ()
    assert "Law citations not verified" not in queue.text


# --- a map with citations not verified ----------------------------------------------------------


def unverified_map(directory: Path) -> Path:
    """The demo map with its anti-money-laundering and Norwegian bookkeeping rules and holds
    marked not verified."""
    text = Path(DATAMAP_PATH).read_text(encoding="utf-8")
    for section in ("retention_rules.bookkeeping_no", "retention_rules.aml_no",
                    "retention_rules.aml_se", "holds.bookkeeping_no", "holds.aml_no",
                    "holds.aml_se"):  # fmt: skip
        header = f"[{section}]\n"
        assert text.count(header) == 1
        text = text.replace(header, header + "citation_verified = false\n")
    path = directory / "unverified.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def unverified(
    db_kind: str,
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    """The portal on that map, over a demo company of its own (the test erases a person)."""
    monkeypatch.setenv("INNSYN_PSEUDONYM_KEY", "k" * 32)
    var = tmp_path / "var"
    var.mkdir()
    settings = make_settings(database_url, var, DATAMAP_FILE=str(unverified_map(tmp_path)))
    with seeded_demo(db_kind, tmp_path) as demo:
        sources = dict.fromkeys(load_datamap(DATAMAP_PATH).sources, demo)
        app = create_app(settings, now=Clock(), sources=sources)
        with TestClient(app, follow_redirects=False) as c:
            yield c


def assert_no_hidden_citation(where: str, text: str) -> None:
    for citation in HIDDEN:
        assert citation not in text, (where, citation)


def test_an_unverified_citation_is_hidden_from_the_person_and_flagged_for_the_dpo(
    unverified: TestClient, tmp_path: Path
) -> None:
    client = unverified
    state = client.app.state
    assert not state.datamap.holds["aml_no"].citation_verified
    store = ExportStore(tmp_path / "exports")
    subject_id = add_demo_subject(state.engine, "ended_relationship")
    request_id, plan = file_erasure(client, subject_id, "nb")
    # The plan keeps the credit checks under the anti-money-laundering hold.
    assert any(r.key == "aml_no" for s in plan.steps for r in s.reasons)
    for language in LANGUAGES:
        signed_in_client(client, secret_key=state.settings.secret_key, subject_id=subject_id)
        client.cookies.set("lang", language)
        texts = person_pages(client, request_id)
        texts["letter"] = letter(client, plan, request_id, language)
        built = export(client, store, subject_id, f"before-{language}", language)
        texts["zip"] = zip_text(built / ExportFile.zip.filename)
        texts["pdf"] = pdf_text(built / ExportFile.pdf.filename)
        for where, text in texts.items():
            assert_no_hidden_citation(where, text)
        # The rule and hold are named, without their citation.
        name = AML_NAMES[language]
        for where in ("/me", f"/me/requests/{request_id}", "letter", "pdf"):
            assert name in texts[where], where
        document = json.loads((built / ExportFile.json.filename).read_text(encoding="utf-8"))
        jsonschema.validate(
            document,
            json.loads(SCHEMA_FILE.read_text(encoding="utf-8")),
            cls=jsonschema.Draft202012Validator,
        )
        rules = {rule["key"]: rule for rule in document["retention_rules"]}
        holds = {hold["key"]: hold for hold in document["holds"]}
        assert rules["aml_no"]["citation"] is None and holds["aml_se"]["citation"] is None
        assert holds["bookkeeping_no"]["citation"] is None
        assert rules["customer_service_log"]["citation"]  # a verified one is still cited

    # The DPO sees what to check: on the queue, every unverified citation of the map; on the
    # case page, those the plan relies on.
    staff_id = sign_in_staff(client, StaffRoleName.dpo)
    queue = client.get("/dpo")
    assert "Law citations not verified" in queue.text
    listed = [(item.kind, item.key, item.citation) for item in queue.context["page"].citations]
    assert ("Hold", "aml_no", "Norwegian Anti-Money Laundering Act section 30") in listed
    assert [key for _kind, key, _citation in listed] == ["bookkeeping_no", "aml_no", "aml_se"] * 2
    case = client.get(f"/dpo/requests/{request_id}")
    assert "Law citations not verified" in case.text
    assert "Norwegian Anti-Money Laundering Act section 30" in case.text
    # Which holds the plan relies on depends on the day (the bookkeeping years may have run out).
    relied_on = {r.key for s in plan.steps for r in s.reasons} & {"aml_no", "bookkeeping_no"}
    assert "aml_no" in relied_on
    assert {item.key for item in case.context["page"].citations} == relied_on

    # Carried out (a shop customer's receipts are kept for bookkeeping): what the erasure keeps
    # names the hold, never its citation.
    subject_id = add_demo_subject(state.engine, "shop_customer")
    request_id, _plan = file_erasure(client, subject_id, "nb")
    now = state.now()
    with session_scope(state.engine) as db:
        stored = latest_plan(db, request_id)
        approved = approve_plan(db, stored.id, staff_id=staff_id, now=now)
        assert execute_plan(db, approved, datamap=state.datamap, sources=state.sources, now=now)
    signed_in_client(client, secret_key=state.settings.secret_key, subject_id=subject_id)
    client.cookies.set("lang", "nb")
    page = client.get("/me")
    holds = {hold for table in page.context["page"].kept for line in table.lines
             for hold in line.holds}  # fmt: skip
    assert ("Regnskapsbilag", None) in holds
    assert_no_hidden_citation("/me after erasure", flat(page.text))
    built = export(client, store, subject_id, "after", "nb")
    document = json.loads((built / ExportFile.json.filename).read_text(encoding="utf-8"))
    cited = {(hold["key"], hold["citation"]) for table in document["kept_after_erasure"]
             for group in table["groups"] for hold in group["holds"]}  # fmt: skip
    assert ("bookkeeping_no", None) in cited
    with zipfile.ZipFile(built / ExportFile.zip.filename) as archive:
        lines = list(csv.DictReader(io.StringIO(archive.read(KEPT_CSV).decode(ENCODING))))
    bookkeeping = [row for row in lines if row["hold"] == "Regnskapsbilag"]
    assert bookkeeping and all(row["law"] == "" for row in bookkeeping)
    assert_no_hidden_citation("pdf after erasure", pdf_text(built / ExportFile.pdf.filename))
