"""signed links, rate limits, address claims, requests without BankID

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 12:00:00

The nonces of single-use links (portal/links.py), rate-limit hits (portal/ratelimit.py),
addresses a person is proving (portal/identity/addresses.py), and requests filed without
BankID: unconfirmed, and the contact of confirmed ones (portal/workflows/email_requests.py).
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
    op.create_table(
        "link_nonce",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("object_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("spent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("link_nonce", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_nonce_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "pending_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("customer_number", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pending_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_request_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pending_request_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "rate_limit_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rate_limit_hit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rate_limit_hit_action_key_at", ["action", "key", "at"], unique=False
        )

    op.create_table(
        "address_claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_id", "email"),
    )
    with op.batch_alter_table("address_claim", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_address_claim_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_address_claim_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "request_contact",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("customer_number", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column("confirmed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("verified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("verified_by", sa.Integer(), nullable=True),
        sa.Column("verification", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["data_request.id"],
        ),
        sa.PrimaryKeyConstraint("request_id"),
    )
    with op.batch_alter_table("request_contact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_contact_email"), ["email"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("request_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_contact_email"))

    op.drop_table("request_contact")
    with op.batch_alter_table("address_claim", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_address_claim_subject_id"))
        batch_op.drop_index(batch_op.f("ix_address_claim_expires_at"))

    op.drop_table("address_claim")
    with op.batch_alter_table("rate_limit_hit", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_limit_hit_action_key_at")

    op.drop_table("rate_limit_hit")
    with op.batch_alter_table("pending_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_request_expires_at"))
        batch_op.drop_index(batch_op.f("ix_pending_request_email"))

    op.drop_table("pending_request")
    with op.batch_alter_table("link_nonce", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_nonce_expires_at"))

    op.drop_table("link_nonce")
