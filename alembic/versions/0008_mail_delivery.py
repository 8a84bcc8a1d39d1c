"""mail delivery: each outbox message's Message-ID, attempt in flight, reply, read mark

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 09:00:00

Messages queued before this revision have no delivery job: the sender's periodic sweep
(`mail.sweep`, portal/mail/sender.py) enqueues one for every undelivered message.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


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


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("read_at")
        batch_op.drop_column("smtp_reply")
        batch_op.drop_column("attempt_started_at")
        batch_op.drop_column("message_id")
        batch_op.drop_column("resends")
        batch_op.drop_column("delivery")
