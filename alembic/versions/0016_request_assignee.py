"""the request queue: a request's assignee

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("data_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_data_request_assignee_id"), ["assignee_id"])
        batch_op.create_foreign_key(
            "fk_data_request_assignee_id_staff_member",
            "staff_member",
            ["assignee_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("data_request", schema=None) as batch_op:
        batch_op.drop_constraint("fk_data_request_assignee_id_staff_member", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_data_request_assignee_id"))
        batch_op.drop_column("assignee_id")
