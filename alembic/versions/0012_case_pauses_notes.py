"""the case page: the deadline paused while waiting for the person, and internal notes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("data_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("paused_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("data_request", schema=None) as batch_op:
        batch_op.alter_column("paused_seconds", server_default=None)
    # A request already waiting for its person is paused since it was asked.
    op.execute(
        "UPDATE data_request SET paused_at = (SELECT max(e.at) FROM request_event e"
        " WHERE e.request_id = data_request.id AND e.action = 'ask_subject')"
        " WHERE status = 'waiting_for_subject'"
    )
    op.create_table(
        "request_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["data_request.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_request_note_request_id"), "request_note", ["request_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_request_note_request_id"), table_name="request_note")
    op.drop_table("request_note")
    with op.batch_alter_table("data_request", schema=None) as batch_op:
        batch_op.drop_column("paused_seconds")
        batch_op.drop_column("paused_at")
