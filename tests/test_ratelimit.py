"""Rate limits (portal/ratelimit.py): per client and per address, in the database, keyed by a
hash that is not the value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from portal import ratelimit
from portal.db import session_scope
from portal.ratelimit import Client, Limits, RateLimited, RateLimitHit, key_of

SECRET = "k" * 40
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LIMITS = Limits(per_ip=3, per_address=2, window=timedelta(hours=1))


def attempt(engine: Engine, ip: str, address: str, at: datetime = NOW, action: str = "a") -> bool:
    try:
        with session_scope(engine) as db:
            ratelimit.hit(
                db,
                action,
                client=Client.of(SECRET, ip),
                address_key=key_of(SECRET, "address", address),
                limits=LIMITS,
                now=at,
            )
    except RateLimited:
        return False
    return True


def test_an_address_is_limited_whatever_the_client(engine: Engine) -> None:
    assert attempt(engine, "10.0.0.1", "kari@example.no")
    assert attempt(engine, "10.0.0.2", "KARI@example.no")
    assert not attempt(engine, "10.0.0.3", "kari@example.no")
    # Another action counts on its own, and the window moves on.
    assert attempt(engine, "10.0.0.3", "kari@example.no", action="b")
    assert attempt(engine, "10.0.0.3", "kari@example.no", at=NOW + timedelta(minutes=61))


def test_a_client_is_limited_whatever_the_address(engine: Engine) -> None:
    for n in range(3):
        assert attempt(engine, "10.0.0.9", f"person{n}@example.no")
    assert not attempt(engine, "10.0.0.9", "someone.new@example.no")
    # A refused attempt is not counted: the new address has all its attempts left.
    assert attempt(engine, "10.0.0.10", "someone.new@example.no")


def test_no_value_is_stored_in_clear_and_old_hits_are_purged(engine: Engine) -> None:
    attempt(engine, "192.0.2.7", "kari@example.no", at=NOW - timedelta(days=2))
    attempt(engine, "192.0.2.7", "kari@example.no")
    with Session(engine) as db:
        keys = [hit.key for hit in db.exec(select(RateLimitHit))]
    assert keys and all("kari" not in key and "192.0.2" not in key for key in keys)
    assert key_of(SECRET, "address", "kari@example.no") != key_of(
        "j" * 40, "address", "kari@example.no"
    )
    with session_scope(engine) as db:
        assert ratelimit.purge(db, NOW) == 2
    with Session(engine) as db:
        assert len(db.exec(select(RateLimitHit)).all()) == 2


def test_the_limits_are_settings(settings) -> None:
    limits = Limits.from_settings(settings)
    assert (limits.per_ip, limits.per_address, limits.window) == (20, 5, timedelta(hours=1))


@pytest.mark.parametrize("value", ["0", "1441", "many"])
def test_a_bad_window_stops_start_up(value: str, database_url, var_dir) -> None:
    from portal.settings import SettingsError
    from tests.conftest import make_settings

    with pytest.raises(SettingsError, match="RATE_LIMIT_WINDOW_MINUTES"):
        make_settings(database_url, var_dir, RATE_LIMIT_WINDOW_MINUTES=value)


def test_a_rule_counts_per_key_and_says_when_to_try_again(engine: Engine) -> None:
    rule = ratelimit.Rule("sign_in", 2, timedelta(minutes=10))
    mine, theirs = key_of(SECRET, "ip", "10.0.0.1"), key_of(SECRET, "ip", "10.0.0.2")
    for minute in (0, 4):
        with session_scope(engine) as db:
            ratelimit.take(db, rule, mine, NOW + timedelta(minutes=minute))
    with pytest.raises(RateLimited) as refused, session_scope(engine) as db:
        ratelimit.take(db, rule, mine, NOW + timedelta(minutes=5))
    assert refused.value.retry_after == 5 * 60  # when the first of the two leaves the window
    with session_scope(engine) as db:
        ratelimit.take(db, rule, theirs, NOW + timedelta(minutes=5))  # another key: its own count
        ratelimit.take(db, rule, mine, NOW + timedelta(minutes=11))  # the first has left


class TestOnTheRoutes:
    """429 with Retry-After and a page in the person's language (JSON for the API)."""

    @staticmethod
    def client(database_url: str, var_dir, demo_sources, **env: str):
        from starlette.testclient import TestClient

        from portal.app import create_app
        from tests.conftest import make_settings

        app = create_app(make_settings(database_url, var_dir, **env), sources=demo_sources)
        return TestClient(app, follow_redirects=False)

    def test_sign_in_starts_per_client_address(
        self, database_url: str, var_dir, demo_sources, engine: Engine
    ) -> None:
        with self.client(database_url, var_dir, demo_sources, RATE_LIMIT_SIGN_IN_PER_IP="2") as c:
            c.cookies.set("lang", "sv")
            # (No provider answers here, so the first two fail later, with 400: they counted.)
            assert [c.get("/auth/login").status_code for _ in range(2)] == [400, 400]
            refused = c.get("/auth/login")
            assert refused.status_code == 429
            assert 0 < int(refused.headers["retry-after"]) <= 600
            assert "För många försök" in refused.text
            assert "content-security-policy" in refused.headers

    def test_requests_a_person_files(
        self, database_url: str, var_dir, demo_sources, engine: Engine
    ) -> None:
        from tests.workflows.test_request_pages import requests_of, sign_in_as

        env = {"RATE_LIMIT_FILINGS_PER_PERSON": "1"}
        with self.client(database_url, var_dir, demo_sources, **env) as c:
            c.cookies.set("lang", "en")
            subject_id = sign_in_as(c, "ordinary")
            for kind, expected in (("access", 303), ("objection", 429)):
                form = c.get(f"/me/requests/new?type={kind}")
                response = c.post(
                    "/me/requests/new",
                    data={"type": kind, "details": "x", "csrf_token": form.context["csrf_token"]},
                )
                assert response.status_code == expected
            assert [r.type for r in requests_of(c, subject_id)] == ["access"]

    def test_the_api_per_token(
        self, database_url: str, var_dir, demo_sources, engine: Engine
    ) -> None:
        from portal.models import StaffRoleName
        from tests.marketing.test_api import CHECK, create_token
        from tests.support import sign_in_staff

        with self.client(database_url, var_dir, demo_sources, RATE_LIMIT_API_PER_MINUTE="1") as c:
            sign_in_staff(c, StaffRoleName.admin)
            secret = create_token(c)
            c.cookies.clear()
            headers = {"Authorization": f"Bearer {secret}"}
            assert c.post(CHECK, json={"numbers": ["91234567"]}, headers=headers).status_code == 200
            refused = c.post(CHECK, json={"numbers": ["91234567"]}, headers=headers)
            assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
            assert 0 < int(refused.headers["retry-after"]) <= 60


def test_the_mock_providers_sign_ins_per_client_address(monkeypatch, settings) -> None:
    from starlette.testclient import TestClient

    from portal.app import create_app
    from portal.mock_idp import provider

    monkeypatch.setattr(provider, "LOGINS_PER_WINDOW", 2)
    with TestClient(create_app(settings), follow_redirects=False) as c:
        statuses = [c.post("/mock-idp/authorize", data={"pending": "x"}).status_code for _ in "abc"]
    assert statuses == [400, 400, 429]  # counted before the form is even read


def test_caller_look_ups_per_member_of_staff(
    database_url: str, var_dir, demo_sources, engine: Engine
) -> None:
    from portal.models import StaffRoleName
    from tests.support import sign_in_staff
    from tests.workflows.test_caller_lookup_pages import look_up

    env = {"RATE_LIMIT_LOOKUPS_PER_HOUR": "1"}
    with TestOnTheRoutes.client(database_url, var_dir, demo_sources, **env) as c:
        sign_in_staff(c, StaffRoleName.staff, sub="kundeservice")
        form = {"kind": "phone", "value": "+47 910 00 001", "reason": "own_data", "note": "x"}
        assert look_up(c, **form).status_code == 303
        refused = look_up(c, **form)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
