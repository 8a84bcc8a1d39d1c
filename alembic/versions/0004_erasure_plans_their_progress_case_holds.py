"""erasure plans, their progress, case holds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 16:51:13.574941
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("table_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("row_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("set_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("review_at", sa.Date(), nullable=True),
        sa.Column("released_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("released_by", sa.Integer(), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["released_by"],
            ["staff_member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["set_by"],
            ["staff_member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subject.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_hold", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_hold_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "erasure_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("datamap_version", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("approved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("executed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["approved_by"],
            ["staff_member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["data_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "version"),
    )
    with op.batch_alter_table("erasure_plan", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_plan_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "erasure_plan_source_done",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("done_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["erasure_plan.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "source"),
    )
    with op.batch_alter_table("erasure_plan_source_done", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasure_plan_source_done_plan_id"), ["plan_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("erasure_plan_source_done", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_plan_source_done_plan_id"))

    op.drop_table("erasure_plan_source_done")
    with op.batch_alter_table("erasure_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_plan_request_id"))

    op.drop_table("erasure_plan")
    with op.batch_alter_table("case_hold", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_hold_subject_id"))

    op.drop_table("case_hold")
