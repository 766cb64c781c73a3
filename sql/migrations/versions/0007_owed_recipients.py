"""An export's recipients still owed their ready email, so a run that dies while mailing leaves them to
the reconciler.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OWING = "owed_recipients IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("data_exports") as batch_op:
        batch_op.add_column(
            sa.Column("owed_recipients", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True)
        )
    op.create_index(
        "idx_data_exports_owed_mail",
        "data_exports",
        ["heartbeat_at"],
        postgresql_where=sa.text(OWING),
        sqlite_where=sa.text(OWING),
    )


def downgrade() -> None:
    op.drop_index("idx_data_exports_owed_mail", table_name="data_exports")
    with op.batch_alter_table("data_exports") as batch_op:
        batch_op.drop_column("owed_recipients")
