"""`alembic upgrade head` on an empty database gives exactly the models' schema."""

from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import portal.schema  # noqa: F401 - every table


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_migrations_are_at_head(engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    from portal.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    assert set(current) == set(script.get_heads())


def test_deferred_erasures_that_ran_before_0007_are_recorded(tmp_path) -> None:
    """Revision 0007 records the deferred erasures already done, so /me does not list their
    rows as kept (portal/workflows/kept.py)."""
    from sqlalchemy import create_engine, text

    from portal.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0006")
    engine = create_engine(url)
    with engine.begin() as connection:  # foreign keys are not enforced on this connection
        connection.execute(
            text(
                "INSERT INTO erasure_plan (id, request_id, version, status, datamap_version,"
                " plan, created_at) VALUES (7, 1, 1, 'executed', 'x', '{}', '2026-11-24')"
            )
        )
        for status, keys in (("done", [3, 4]), ("queued", [5])):
            connection.execute(
                text(
                    "INSERT INTO job (kind, payload, status, run_at, attempts, max_attempts,"
                    " created_at, finished_at) VALUES ('erasure.deferred', :payload, :status,"
                    " '2030-01-01 00:00:00', 1, 8, '2026-11-24 12:00:00', '2030-01-01 00:00:05')"
                ),
                {"payload": json.dumps({"plan_id": 7, "table": "shop_orders", "keys": keys,
                                        "then": "erase"}), "status": status},
            )  # fmt: skip
    upgrade(url, "0007")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT plan_id, table_name, keys, kept FROM erasure_deferred_done")
        ).all()
    engine.dispose()
    assert [(p, t, json.loads(k), json.loads(c)) for p, t, k, c in rows] == [
        (7, "shop_orders", [3, 4], [])
    ]


def test_messages_waiting_before_0010_get_their_delivery_job(tmp_path) -> None:
    """Before 0010 nothing delivered the outbox: the upgrade gives each undelivered message the
    delivery job queue_message now enqueues with it, keyed the same way (so never two)."""
    from sqlalchemy import create_engine, text

    from portal.jobs.outbox import DELIVER_ATTEMPTS, DELIVER_JOB
    from portal.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0009")
    engine = create_engine(url)
    with engine.begin() as connection:
        for message_id, sent in ((1, None), (2, "2026-11-24 12:00:00"), (3, None)):
            connection.execute(
                text(
                    "INSERT INTO outbox_message (id, kind, email, language, context, created_at,"
                    " sent_at, attempts) VALUES (:id, 'export_ready', 'a@example.no', 'nb', '{}',"
                    " '2026-11-24 09:00:00', :sent, 0)"
                ),
                {"id": message_id, "sent": sent},
            )
    upgrade(url, "0010")
    with engine.connect() as connection:
        jobs = connection.execute(
            text("SELECT kind, payload, status, max_attempts, dedupe_key FROM job ORDER BY id")
        ).all()
    engine.dispose()
    assert [(k, json.loads(p), s, m, d) for k, p, s, m, d in jobs] == [
        (DELIVER_JOB, {"message_id": 1}, "queued", DELIVER_ATTEMPTS, f"{DELIVER_JOB}:1"),
        (DELIVER_JOB, {"message_id": 3}, "queued", DELIVER_ATTEMPTS, f"{DELIVER_JOB}:3"),
    ]


def test_restriction_holds_from_before_0014_name_their_request(tmp_path) -> None:
    """0014 reads the request a restriction hold was set for from its audit entry; the other
    holds of before it name none."""
    from sqlalchemy import create_engine, text

    from portal.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0013")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO subject (id, national_id, country, given_name, family_name,"
                " created_at) VALUES (1, '01017012345', 'NO', '', '', '2026-11-24')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO data_request (id, subject_id, type, status, assurance, received_at,"
                " due_at, language, paused_seconds) VALUES (5, 1, 'restriction', 'verified',"
                " 'high', '2026-11-24', '2026-12-24', 'nb', 0)"
            )
        )
        for hold_id, kind in ((1, "restriction"), (2, "litigation")):
            connection.execute(
                text(
                    "INSERT INTO case_hold (id, subject_id, kind, reason, scope, set_at)"
                    " VALUES (:id, 1, :kind, 'r', 'person', '2026-11-24')"
                ),
                {"id": hold_id, "kind": kind},
            )
        for seq, reason, details in (
            (1, "restriction", {"hold_id": 1, "request_id": 5}),
            (2, "Lawsuit", {"hold_id": 2, "kind": "litigation"}),
        ):
            connection.execute(
                text(
                    "INSERT INTO audit_log (seq, at, actor, actor_id, action, subject_id, reason,"
                    " details, prev_hash, hash) VALUES (:seq, '2026-11-24', 'person', 1,"
                    " 'case_hold.set', 1, :reason, :details, 'x', 'y')"
                ),
                {"seq": seq, "reason": reason, "details": json.dumps(details)},
            )
    upgrade(url, "0014")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, request_id FROM case_hold ORDER BY id")).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [(1, 5), (2, None)]
