"""/dpo/records and its PDF over HTTP: who may open them, the language, the staff page's link."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from starlette.testclient import TestClient

from portal.app import create_app
from portal.models import StaffRoleName
from portal.settings import Settings
from tests.support import sign_in_staff

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    app = create_app(settings, sources=demo_sources, now=lambda: NOW)
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.mark.parametrize("role", [StaffRoleName.dpo, StaffRoleName.admin])
def test_the_dpo_and_administrators_read_the_records(client: TestClient, role) -> None:
    sign_in_staff(client, role)
    response = client.get("/dpo/records")
    assert response.status_code == 200
    assert response.template.name == "dpo/records.html"
    page = response.context["page"]
    assert page.language == "en" and page.made_on == "1 Jun 2026"
    assert page.controller.name == "Nordlys Handel AS"
    assert "<h1>Records of processing activities</h1>" in response.text
    assert "safeguarded by The EU standard contractual clauses" in response.text
    assert "Staff are bound by confidentiality" in response.text  # the security measures
    assert 'href="/dpo/records.pdf"' in response.text


def test_customer_service_and_people_may_not(client: TestClient) -> None:
    assert client.get("/dpo/records").status_code in (302, 303)  # to sign in
    assert client.get("/dpo/records.pdf").status_code in (302, 303)
    sign_in_staff(client, StaffRoleName.staff)
    assert client.get("/dpo/records").status_code == 403
    assert client.get("/dpo/records.pdf").status_code == 403


def test_the_page_in_norwegian_and_the_pdf_in_the_pages_language(client: TestClient) -> None:
    sign_in_staff(client, StaffRoleName.dpo)
    client.cookies.set("lang", "nb")
    response = client.get("/dpo/records")
    assert response.context["page"].language == "nb"
    assert "Protokoll over behandlingsaktiviteter" in response.text
    pdf = client.get("/dpo/records.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == (
        'attachment; filename="records-of-processing-nb.pdf"'
    )
    text = " ".join(
        (page.extract_text() or "") for page in PdfReader(io.BytesIO(pdf.content)).pages
    )
    assert "Protokoll over behandlingsaktiviteter" in " ".join(text.split())


def test_the_staff_page_links_the_records_for_the_dpo_and_administrators(
    client: TestClient,
) -> None:
    for roles, linked in (
        ((StaffRoleName.staff,), False),
        ((StaffRoleName.dpo,), True),
        ((StaffRoleName.admin,), True),
    ):
        sign_in_staff(client, *roles, sub=f"user-{roles[0]}")
        assert ('href="/dpo/records"' in client.get("/staff").text) is linked
