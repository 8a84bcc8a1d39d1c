"""core: subjects, staff, sessions

Revision ID: 0001
Revises:
Create Date: 2026-11-24 15:55:57.064010
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("sub", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_sign_in_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issuer", "sub"),
    )
    op.create_table(
        "subject",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("national_id", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("given_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("family_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("preferred_language", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_sign_in_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subject", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_national_id"), ["national_id"], unique=True)

    op.create_table(
        "staff_role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("granted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_member.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("staff_id", "role"),
    )
    with op.batch_alter_table("staff_role", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_role_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "subject_identifier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("assurance", sa.String(length=10), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_id", "kind", "value"),
    )
    with op.batch_alter_table("subject_identifier", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subject_identifier_subject_id"), ["subject_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_subject_identifier_value"), ["value"], unique=False)

    op.create_table(
        "web_session",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("acr", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("authenticated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_member.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_session_staff_id"), ["staff_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_web_session_subject_id"), ["subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_session_subject_id"))
        batch_op.drop_index(batch_op.f("ix_web_session_staff_id"))

    op.drop_table("web_session")
    with op.batch_alter_table("subject_identifier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_identifier_value"))
        batch_op.drop_index(batch_op.f("ix_subject_identifier_subject_id"))

    op.drop_table("subject_identifier")
    with op.batch_alter_table("staff_role", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_role_staff_id"))

    op.drop_table("staff_role")
    with op.batch_alter_table("subject", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_national_id"))

    op.drop_table("subject")
    op.drop_table("staff_member")
