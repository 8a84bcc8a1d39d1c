"""the audit log becomes a hash chain: each entry numbered and carrying the previous one's hash;
the chain's head (locked by every append); the record of each verification

The entries written before this revision are chained in id order. On PostgreSQL the append-only
trigger (0003) is disabled for that one backfill, inside this transaction, and enabled again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel

from alembic import op
from portal.audit import CHAINED_FIELDS, GENESIS, entry_hash

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The table as this revision sees it, with the types the models read it with, so that the
# hash is taken over the same values the application later reads back.
audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("seq", sa.Integer()),
    sa.column("at", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("actor", sa.String()),
    sa.column("actor_id", sa.Integer()),
    sa.column("action", sa.String()),
    sa.column("subject_id", sa.Integer()),
    sa.column("reason", sa.Text()),
    sa.column("details", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
# The columns this revision fills in.
OURS = ("seq", "prev_hash", "hash")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )

    if postgres:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    seq, last_hash = _chain_existing_entries()
    if postgres:
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column(
            "prev_hash", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        )
        batch_op.alter_column(
            "hash", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        )
        batch_op.create_index(batch_op.f("ix_audit_log_seq"), ["seq"], unique=True)

    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": seq, "hash": last_hash}])

    op.create_table(
        "audit_verification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("broken_seq", sa.Integer(), nullable=True),
        sa.Column("problem", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_verification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_verification_at"), ["at"], unique=False)


def _chain_existing_entries(batch: int = 5000) -> tuple[int, str]:
    """Number and hash the entries there are, in id order; returns the last (seq, hash)."""
    connection = op.get_bind()
    columns = [audit_log.c[name] for name in ("id", *CHAINED_FIELDS) if name not in OURS]
    seq, last_hash, last_id = 0, GENESIS, None
    while True:
        statement = sa.select(*columns).order_by(audit_log.c.id).limit(batch)
        if last_id is not None:
            statement = statement.where(audit_log.c.id > last_id)
        rows = connection.execute(statement).all()
        for row in rows:
            seq += 1
            this_hash = entry_hash({**row._mapping, "seq": seq, "prev_hash": last_hash})
            connection.execute(
                audit_log.update()
                .where(audit_log.c.id == row.id)
                .values(seq=seq, prev_hash=last_hash, hash=this_hash)
            )
            last_hash, last_id = this_hash, row.id
        if len(rows) < batch:
            return seq, last_hash


def downgrade() -> None:
    with op.batch_alter_table("audit_verification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_verification_at"))
    op.drop_table("audit_verification")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_seq"))
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
