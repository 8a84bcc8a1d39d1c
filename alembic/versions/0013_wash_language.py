"""washing: a marked file's reason words in the washer's language, beside the codes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wash_job", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=5), nullable=False, server_default="nb")
        )
        batch_op.add_column(sa.Column("topic_names", sa.JSON(), nullable=True))
    op.execute("UPDATE wash_job SET topic_names = '{}'")
    with op.batch_alter_table("wash_job", schema=None) as batch_op:
        batch_op.alter_column("language", server_default=None)
        batch_op.alter_column("topic_names", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("wash_job", schema=None) as batch_op:
        batch_op.drop_column("topic_names")
        batch_op.drop_column("language")
