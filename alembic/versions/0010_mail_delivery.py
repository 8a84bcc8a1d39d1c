"""mail delivery: each outbox message's Message-ID, attempt in flight, reply, read mark

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:00:00

Messages queued before this revision have no delivery job: the upgrade enqueues one for each
undelivered message (`mail.deliver`, keyed as `portal.jobs.outbox.enqueue_delivery` keys it).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# As portal/jobs/outbox.py has them (a migration does not import the portal's code).
DELIVER_JOB = "mail.deliver"
DELIVER_ATTEMPTS = 30


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delivery", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
        )
        batch_op.add_column(sa.Column("resends", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=250), nullable=True)
        )
        batch_op.add_column(
            sa.Column("attempt_started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("smtp_reply", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
        batch_op.add_column(
            sa.Column("read_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    # The default only filled the existing rows; the model has none (as for `attempts`).
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.alter_column("resends", server_default=None)
    _enqueue_deliveries()


def _enqueue_deliveries() -> None:
    bind = op.get_bind()
    outbox = sa.table("outbox_message", sa.column("id", sa.Integer), sa.column("sent_at"))
    waiting = bind.execute(
        sa.select(outbox.c.id).where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id)
    ).scalars()
    job = sa.table(
        "job",
        sa.column("kind", sa.String),
        sa.column("payload", sa.JSON),
        sa.column("status", sa.String),
        sa.column("run_at", sqlmodel.sql.sqltypes.UTCDateTime()),
        sa.column("attempts", sa.Integer),
        sa.column("max_attempts", sa.Integer),
        sa.column("dedupe_key", sa.String),
        sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    )
    now = datetime.now(UTC)
    rows = [
        {
            "kind": DELIVER_JOB,
            "payload": {"message_id": message_id},
            "status": "queued",
            "run_at": now,
            "attempts": 0,
            "max_attempts": DELIVER_ATTEMPTS,
            "dedupe_key": f"{DELIVER_JOB}:{message_id}",
            "created_at": now,
        }
        for message_id in waiting
    ]
    if rows:
        op.bulk_insert(job, rows)


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("read_at")
        batch_op.drop_column("smtp_reply")
        batch_op.drop_column("attempt_started_at")
        batch_op.drop_column("message_id")
        batch_op.drop_column("resends")
        batch_op.drop_column("delivery")
