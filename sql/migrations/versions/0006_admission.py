"""When an export got one of its owner's running slots (EXPORTFLOW_USER_MAX_RUNNING_EXPORTS).

Exports already under way hold theirs: processing ones, and pending ones that have a flow run. Pending
ones without a flow run (stored while Prefect was down) wait for a slot like new ones.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("data_exports") as batch_op:
        batch_op.add_column(sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE data_exports SET admitted_at = created_at "
        "WHERE status = 'processing' OR (status = 'pending' AND flow_run_id IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("data_exports") as batch_op:
        batch_op.drop_column("admitted_at")
