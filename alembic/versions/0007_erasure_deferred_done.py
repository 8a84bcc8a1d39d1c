"""what each deferred erasure did, so a person sees what is still kept

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 12:00:00

Deferred erasures that ran before this revision are recorded from their finished jobs (the
keys they judged; rows they kept longer are not known, so they count as gone).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_deferred_done",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("table_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("keys", sa.JSON(), nullable=False),
        sa.Column("kept", sa.JSON(), nullable=False),
        sa.Column("done_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["erasure_plan.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("erasure_deferred_done", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_deferred_done_plan_id"), ["plan_id"], unique=False
        )
    _record_finished_jobs()


def _record_finished_jobs() -> None:
    connection = op.get_bind()
    jobs = connection.execute(
        sa.text(
            "SELECT payload, COALESCE(finished_at, run_at) FROM job "
            "WHERE kind = 'erasure.deferred' AND status = 'done' ORDER BY id"
        )
    )
    done = sa.table(
        "erasure_deferred_done",
        sa.column("plan_id", sa.Integer),
        sa.column("table_name", sa.String),
        sa.column("keys", sa.JSON),
        sa.column("kept", sa.JSON),
        sa.column("done_at"),  # copied as the job table stores it
    )
    plans = {row[0] for row in connection.execute(sa.text("SELECT id FROM erasure_plan"))}
    for payload, finished_at in jobs:
        data = json.loads(payload) if isinstance(payload, str) else payload
        if int(data["plan_id"]) not in plans:
            continue
        connection.execute(
            done.insert().values(
                plan_id=int(data["plan_id"]),
                table_name=str(data["table"]),
                keys=list(data["keys"]),
                kept=[],
                done_at=finished_at,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("erasure_deferred_done", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_deferred_done_plan_id"))
    op.drop_table("erasure_deferred_done")
