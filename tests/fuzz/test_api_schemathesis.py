"""The dialer API against its own OpenAPI document (/api/openapi.json), fuzzed by schemathesis:
for every operation the document describes, bodies that fit the schema and bodies that do not,
sent with a valid token, get no server error, only documented status codes and content types,
and answers that validate against the document's schemas. Runs on the database under test
(``--db=postgres`` too); the number of examples follows the hypothesis profile."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import Engine

from portal.app import create_app
from portal.db import session_scope
from portal.marketing import block_list
from portal.marketing.api_check import CHANNELS
from portal.marketing.api_tokens import create_token
from portal.marketing.block_list import Channel, Kind, NewEntry, Reason
from portal.models import StaffMember
from tests.conftest import make_settings

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
CHECK = "/api/v1/block-list/check"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def token(engine: Engine) -> str:
    """A live API token, and a number on the block list so that answers carry a reason."""
    with session_scope(engine) as db:
        member = StaffMember(issuer="https://idp", sub="admin", name="Admin")
        db.add(member)
        db.flush()
        _token, secret = create_token(db, name="Dialer", staff_id=member.id, now=NOW)
        block_list.replace_source(
            db,
            "nix",
            [NewEntry(Kind.phone, "+4791234567", Reason.external_register, Channel.phone)],
            now=NOW,
        )
    return secret


@pytest.fixture
def api_schema(database_url: str, var_dir, demo_sources, token: str):
    # All examples share one minute of the app's clock: a limit no profile's run reaches (the
    # 429 itself is checked below, with a limit of one).
    settings = make_settings(database_url, var_dir, RATE_LIMIT_API_PER_MINUTE="10000000")
    app = create_app(settings, now=lambda: NOW, sources=demo_sources)
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


# Driven by hypothesis directly rather than by schemathesis' pytest plugin (from_fixture and
# parametrize), which reads a pytest attribute (Function._nodeid) that pytest 9.2 no longer has.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_answers_as_its_openapi_document_says(
    api_schema, token: str, mode: GenerationMode
) -> None:
    @given(case=api_schema.as_strategy(mode))
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    answers_as_documented()


# Generated strings are almost never phone numbers, so the answers above are "invalid". These
# bodies mix the forms people type of a blocked number, clear numbers and garbage, so that
# answers with "blocked" and "clear" and their reasons are checked against the document too.
NUMBERS = st.one_of(
    st.sampled_from(["+47 912 34 567", "0047 91234567", "91234567", "(+47) 912-34-567"]),
    st.from_regex(r"[49][0-9]{7}", fullmatch=True),
    st.text(max_size=20),
)
BODIES = st.fixed_dictionaries(
    {"numbers": st.lists(NUMBERS, min_size=1, max_size=20)},
    optional={"channel": st.sampled_from(CHANNELS), "purpose": st.text(max_size=20)},
)


def test_real_numbers_get_answers_as_the_document_says(api_schema, token: str) -> None:
    operation = api_schema[CHECK]["POST"]
    statuses: set[str] = set()

    @given(body=BODIES)
    def answers_as_documented(body: dict) -> None:
        case = operation.Case(body=body, media_type="application/json")
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
        )
        assert response.status_code == 200
        statuses.update(result["status"] for result in response.json()["results"])

    answers_as_documented()
    assert statuses == {"clear", "blocked", "invalid"}


def test_a_body_too_large_and_too_many_checks_are_answered_as_documented(
    database_url: str, var_dir, demo_sources, token: str
) -> None:
    settings = make_settings(
        database_url, var_dir, BODY_LIMIT_API_KB="1", RATE_LIMIT_API_PER_MINUTE="1"
    )
    app = create_app(settings, now=lambda: NOW, sources=demo_sources)
    operation = schemathesis.openapi.from_asgi("/api/openapi.json", app)[CHECK]["POST"]
    headers = {"Authorization": f"Bearer {token}"}

    def send(numbers: list[str]) -> int:
        case = operation.Case(body={"numbers": numbers}, media_type="application/json")
        return case.call_and_validate(headers=headers, checks=CHECKS).status_code

    assert send(["91234567"] * 200) == 413  # refused before it counts against the token
    assert [send(["91234567"]), send(["91234567"])] == [200, 429]
