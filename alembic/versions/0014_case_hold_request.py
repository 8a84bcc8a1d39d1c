"""the holds page: the request a case hold was set from

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_hold", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_case_hold_request_id"), ["request_id"])
        batch_op.create_foreign_key(
            "fk_case_hold_request_id_data_request", "data_request", ["request_id"], ["id"]
        )
    _restriction_requests()


def _restriction_requests() -> None:
    """A restriction hold's audit entry names the request that set it: the holds page shows it
    for the holds set before this revision too. Other older holds name none (the case page's
    entries did not say which request), so they stay NULL."""
    audit = sa.table(
        "audit_log",
        sa.column("action", sa.String),
        sa.column("reason", sa.Text),
        sa.column("details", sa.JSON),
    )
    hold = sa.table("case_hold", sa.column("id", sa.Integer), sa.column("request_id", sa.Integer))
    bind = op.get_bind()
    entries = bind.execute(
        sa.select(audit.c.details).where(
            audit.c.action == "case_hold.set", audit.c.reason == "restriction"
        )
    )
    for (details,) in entries:
        if details and details.get("hold_id") and details.get("request_id"):
            bind.execute(
                sa.update(hold)
                .where(hold.c.id == details["hold_id"])
                .values(request_id=details["request_id"])
            )


def downgrade() -> None:
    with op.batch_alter_table("case_hold", schema=None) as batch_op:
        batch_op.drop_constraint("fk_case_hold_request_id_data_request", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_case_hold_request_id"))
        batch_op.drop_column("request_id")
