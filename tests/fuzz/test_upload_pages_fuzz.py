"""The staff pages that take a file, under arbitrary files and form values: uploading a call list,
choosing its columns, washing it and downloading the result, and importing a register, answer
with a page (a refusal says why) and never a server error."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from portal.app import create_app
from portal.models import StaffRoleName
from portal.settings import Settings
from tests.support import csrf_token_from, sign_in_staff

# One client and one member of staff for all of a test's examples; each example's wash is its own.
many_examples = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

LIST_BYTES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.lists(
        st.lists(st.text("0123456789+ -;,\"'=abc\t", max_size=12), min_size=1, max_size=4),
        max_size=6,
    ).map(lambda rows: "\n".join(",".join(row) for row in rows).encode()),
)
NUMBER_LINES = st.lists(
    st.one_of(st.from_regex(r"(\+47 ?)?9[0-9]{7}", fullmatch=True), st.text(max_size=10)),
    max_size=10,
).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))
OPTION = st.one_of(st.sampled_from(["0", "1", "", "x", "²", "-1", "99"]), st.text(max_size=5))


@pytest.fixture
def client(settings: Settings, demo_sources) -> Iterator[TestClient]:
    with TestClient(create_app(settings, sources=demo_sources), follow_redirects=False) as c:
        c.cookies.set("lang", "en")
        yield c


@many_examples
@given(
    content=LIST_BYTES,
    phone_column=OPTION,
    email_column=OPTION,
    mode=st.sampled_from(["mark", "remove", "x"]),
    delimiter=st.sampled_from(["comma", "semicolon", "tab", "?"]),
    encoding=st.sampled_from(["utf-8", "cp1252", "latin-1"]),
    has_header=st.sampled_from(["yes", "no"]),
)
@example(b"phone\n" + b'"' + b"9" * 140_000 + b'"\n', "0", "", "mark", "comma", "utf-8", "yes")
# Found by the long profile: three columns by the detected ";", one by the "," chosen after, and
# the third column chosen: every row's wash ended in an IndexError (500).
@example(b"a;b;c\n91234567;2;3\n", "2", "", "mark", "comma", "utf-8", "yes")
def test_a_call_list_of_any_bytes_and_any_choices_never_gets_a_server_error(
    client: TestClient,
    content: bytes,
    phone_column: str,
    email_column: str,
    mode: str,
    delimiter: str,
    encoding: str,
    has_header: str,
) -> None:
    if not getattr(client, "signed_in", False):
        sign_in_staff(client, StaffRoleName.staff)
        client.signed_in = True  # type: ignore[attr-defined]
    token = csrf_token_from(client.get("/staff/wash").text)
    uploaded = client.post(
        "/staff/wash",
        data={"csrf_token": token},
        files={"file": ("list.csv", content, "text/csv")},
    )
    assert uploaded.status_code in (303, 400), uploaded.status_code
    if uploaded.status_code != 303:
        return
    page = uploaded.headers["location"]
    assert client.get(page).status_code == 200
    choices = {
        "csrf_token": token,
        "phone_column": phone_column,
        "email_column": email_column,
        "channel": "phone",
        "mode": mode,
        "delimiter": delimiter,
        "encoding": encoding,
        "has_header": has_header,
    }
    started = client.post(page, data=choices)
    assert started.status_code in (303, 400), started.status_code
    shown = client.get(page)
    assert shown.status_code == 200
    if re.search(r'href="[^"]*/download"', shown.text):
        assert client.get(f"{page}/download").status_code == 200


@many_examples
@given(
    content=st.one_of(NUMBER_LINES, LIST_BYTES),
    source=st.one_of(st.sampled_from(["nix", "reservasjonsregisteret"]), st.text(max_size=8)),
    source_date=st.one_of(st.sampled_from(["", "2026-11-01"]), st.text(max_size=12)),
    region=st.sampled_from(["", "NO", "SE", "XX"]),
)
@example(b"phone;x\n" + b'"' + b"1" * 140_000 + b'"\n', "nix", "", "NO")
def test_a_register_file_of_any_bytes_never_gets_a_server_error(
    client: TestClient, content: bytes, source: str, source_date: str, region: str
) -> None:
    if not getattr(client, "signed_in", False):
        sign_in_staff(client, StaffRoleName.dpo)
        client.signed_in = True  # type: ignore[attr-defined]
    token = csrf_token_from(client.get("/staff/block-list/import").text)
    form = {"csrf_token": token, "source": source, "source_date": source_date, "region": region}
    response = client.post(
        "/staff/block-list/import", data=form, files={"file": ("nix.txt", content, "text/plain")}
    )
    assert response.status_code in (200, 303, 400), response.status_code
