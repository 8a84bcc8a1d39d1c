"""consent, the block list, call-list washing, API tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION consent_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the consent history is append-only';
END;
$$
"""
# SQLite: updates are refused in the database too. Deletes are refused by the ORM guard only,
# so that the test suite can still empty the table between tests.
SQLITE_TRIGGER = """
CREATE TRIGGER consent_event_append_only BEFORE UPDATE ON consent_event
BEGIN
    SELECT RAISE(ABORT, 'the consent history is append-only');
END
"""


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hint", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.Column("last_used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["staff_member.id"]),
        sa.ForeignKeyConstraint(["revoked_by"], ["staff_member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "block_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("source_date", sa.Date(), nullable=True),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("active_from", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("removed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("removed_by", sa.Integer(), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["staff_member.id"]),
        sa.ForeignKeyConstraint(["removed_by"], ["staff_member.id"]),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("block_entry", schema=None) as batch_op:
        batch_op.create_index("ix_block_entry_kind_value", ["kind", "value"], unique=False)
        batch_op.create_index(batch_op.f("ix_block_entry_source"), ["source"], unique=False)
        batch_op.create_index(batch_op.f("ix_block_entry_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "consent_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.Column("text_version", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("actor", sa.String(length=10), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("source_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_id", "source_ref"),
    )
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_event_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "wash_job",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("directory", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("encoding", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("delimiter", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
        sa.Column("has_header", sa.Boolean(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("phone_column", sa.Integer(), nullable=True),
        sa.Column("email_column", sa.Integer(), nullable=True),
        sa.Column("national_id_column", sa.Integer(), nullable=True),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("bytes_done", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("bad_rows", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("wash_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wash_job_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_wash_job_staff_id"), ["staff_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # The consent history is append-only in the database too, whoever connects.
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(
            "CREATE TRIGGER consent_event_append_only BEFORE UPDATE OR DELETE ON consent_event "
            "FOR EACH ROW EXECUTE FUNCTION consent_event_append_only()"
        )
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS consent_event_append_only ON consent_event")
        op.execute("DROP FUNCTION IF EXISTS consent_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS consent_event_append_only")
    with op.batch_alter_table("wash_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wash_job_staff_id"))
        batch_op.drop_index(batch_op.f("ix_wash_job_created_at"))

    op.drop_table("wash_job")
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_event_subject_id"))

    op.drop_table("consent_event")
    with op.batch_alter_table("block_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_block_entry_subject_id"))
        batch_op.drop_index(batch_op.f("ix_block_entry_source"))
        batch_op.drop_index("ix_block_entry_kind_value")

    op.drop_table("block_entry")
    op.drop_table("api_token")
