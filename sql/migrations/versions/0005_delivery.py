"""Delivery: recipient downloads in the download log, delivery rules, webhooks and their deliveries, the
rows' checksum and preview.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")
DELIVERIES = "deliver IN ('always', 'if_rows', 'if_changed')"


def _delivery_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("deliver", sa.String(10), nullable=False, server_default="always"),
        sa.Column("webhook_urls", JSON_DOCUMENT, nullable=False, server_default="[]"),
    ]


def upgrade() -> None:
    with op.batch_alter_table("export_download_logs") as batch_op:
        batch_op.alter_column("downloaded_by", existing_type=sa.Uuid(), nullable=True)
        batch_op.add_column(sa.Column("recipient", sa.String(320), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_export_download_logs_downloader"), "downloaded_by IS NOT NULL OR recipient IS NOT NULL"
        )
    with op.batch_alter_table("data_exports") as batch_op:
        for column in _delivery_columns():
            batch_op.add_column(column)
        batch_op.add_column(sa.Column("delivery_skipped", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("content_checksum", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("preview", JSON_DOCUMENT, nullable=True))
        batch_op.create_check_constraint(op.f("ck_data_exports_deliver"), DELIVERIES)
    with op.batch_alter_table("export_schedules") as batch_op:
        for column in _delivery_columns():
            batch_op.add_column(column)
        batch_op.add_column(sa.Column("last_delivered_checksum", sa.String(64), nullable=True))
        batch_op.create_check_constraint(op.f("ck_export_schedules_deliver"), DELIVERIES)
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(30), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "event IN ('export.completed', 'export.failed')", name=op.f("ck_webhook_deliveries_event")
        ),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["data_exports.id"],
            name=op.f("fk_webhook_deliveries_export_id_data_exports"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index("idx_webhook_deliveries_export", "webhook_deliveries", ["export_id"])


def downgrade() -> None:
    op.drop_index("idx_webhook_deliveries_export", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("export_schedules") as batch_op:
        batch_op.drop_constraint(op.f("ck_export_schedules_deliver"), type_="check")
        for column in ("last_delivered_checksum", "webhook_urls", "deliver"):
            batch_op.drop_column(column)
    with op.batch_alter_table("data_exports") as batch_op:
        batch_op.drop_constraint(op.f("ck_data_exports_deliver"), type_="check")
        for column in ("preview", "content_checksum", "delivery_skipped", "webhook_urls", "deliver"):
            batch_op.drop_column(column)
    with op.batch_alter_table("export_download_logs") as batch_op:
        batch_op.drop_constraint(op.f("ck_export_download_logs_downloader"), type_="check")
        batch_op.drop_column("recipient")
        batch_op.alter_column("downloaded_by", existing_type=sa.Uuid(), nullable=False)
