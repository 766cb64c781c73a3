"""A schedule's frequency options (time of day, weekday, day of month, month) and whether Prefect has
its latest version.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("export_schedules") as batch_op:
        batch_op.add_column(sa.Column("time_of_day", sa.String(5), nullable=False, server_default="00:00"))
        batch_op.add_column(sa.Column("weekday", sa.String(9), nullable=True))
        batch_op.add_column(sa.Column("day_of_month", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("month", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("prefect_synced", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("export_schedules") as batch_op:
        for column in ("prefect_synced", "month", "day_of_month", "weekday", "time_of_day"):
            batch_op.drop_column(column)
