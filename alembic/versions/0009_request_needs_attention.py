"""a request "needs attention" when a step of it stopped for good: why, since when, which job

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("data_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attention", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("attention_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("attention_job_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_request", schema=None) as batch_op:
        batch_op.drop_column("attention_job_id")
        batch_op.drop_column("attention_at")
        batch_op.drop_column("attention")
