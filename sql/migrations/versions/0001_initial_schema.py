"""Initial schema: the seed's export tables (kept as an audit trail), users, API tokens, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("role IN ('super_admin', 'admin', 'manager')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])
    op.create_table(
        "audit_logs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("resource", sa.String(length=100), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=True),
        sa.Column("details", JSON_DOCUMENT, nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_audit_logs_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
    )
    op.create_index("idx_audit_logs_created_at", "audit_logs", ["created_at"])
    op.create_index("idx_audit_logs_resource", "audit_logs", ["resource", "resource_id"])
    op.create_index("idx_audit_logs_user", "audit_logs", ["user_id"])
    op.create_table(
        "export_schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("schedule_name", sa.String(length=255), nullable=False),
        sa.Column("export_type", sa.String(length=50), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("frequency", sa.String(length=20), nullable=False),
        sa.Column("cron_expression", sa.String(length=100), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("next_run", TIMESTAMP, nullable=False),
        sa.Column("last_run", TIMESTAMP, nullable=True),
        sa.Column("recipients", JSON_DOCUMENT, nullable=False),
        sa.Column("filters", JSON_DOCUMENT, nullable=False),
        sa.Column("columns", JSON_DOCUMENT, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("prefect_schedule_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "export_type IN ('sales', 'inventory', 'customers', 'staff', 'financial', 'marketing', 'attendance', 'payroll')",
            name=op.f("ck_export_schedules_export_type"),
        ),
        sa.CheckConstraint(
            "format IN ('csv', 'excel', 'pdf', 'json', 'parquet')",
            name=op.f("ck_export_schedules_format"),
        ),
        sa.CheckConstraint(
            "frequency IN ('daily', 'weekly', 'monthly', 'quarterly', 'yearly')",
            name=op.f("ck_export_schedules_frequency"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_export_schedules_created_by_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_schedules")),
    )
    op.create_index("idx_export_schedules_active", "export_schedules", ["is_active"])
    op.create_index("idx_export_schedules_next_run", "export_schedules", ["next_run"])
    op.create_table(
        "export_templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("template_name", sa.String(length=255), nullable=False),
        sa.Column("export_type", sa.String(length=50), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("columns", JSON_DOCUMENT, nullable=False),
        sa.Column("filters", JSON_DOCUMENT, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "export_type IN ('sales', 'inventory', 'customers', 'staff', 'financial', 'marketing', 'attendance', 'payroll')",
            name=op.f("ck_export_templates_export_type"),
        ),
        sa.CheckConstraint(
            "format IN ('csv', 'excel', 'pdf', 'json', 'parquet')",
            name=op.f("ck_export_templates_format"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_export_templates_created_by_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_templates")),
    )
    op.create_index("idx_export_templates_public", "export_templates", ["is_public"])
    op.create_index("idx_export_templates_type", "export_templates", ["export_type"])
    op.create_table(
        "data_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("export_name", sa.String(length=255), nullable=False),
        sa.Column("export_type", sa.String(length=50), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("file_path", sa.Text(), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("filters", JSON_DOCUMENT, nullable=False),
        sa.Column("columns", JSON_DOCUMENT, nullable=False),
        sa.Column("recipients", JSON_DOCUMENT, nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("progress_percentage", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("flow_run_id", sa.Uuid(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("retry_of", sa.Uuid(), nullable=True),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("checksum_sha256", sa.String(length=64), nullable=True),
        sa.Column("storage_key", sa.Text(), nullable=True),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "export_type IN ('sales', 'inventory', 'customers', 'staff', 'financial', 'marketing', 'attendance', 'payroll')",
            name=op.f("ck_data_exports_export_type"),
        ),
        sa.CheckConstraint(
            "format IN ('csv', 'excel', 'pdf', 'json', 'parquet')",
            name=op.f("ck_data_exports_format"),
        ),
        sa.CheckConstraint("priority IN ('normal', 'high')", name=op.f("ck_data_exports_priority")),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'completed', 'failed', 'cancelled', 'expired')",
            name=op.f("ck_data_exports_status"),
        ),
        sa.CheckConstraint("attempt >= 1", name=op.f("ck_data_exports_attempt")),
        sa.CheckConstraint(
            "progress_percentage BETWEEN 0 AND 100",
            name=op.f("ck_data_exports_progress_percentage"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_data_exports_created_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["retry_of"],
            ["data_exports.id"],
            name=op.f("fk_data_exports_retry_of_data_exports"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["export_schedules.id"],
            name=op.f("fk_data_exports_schedule_id_export_schedules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
        sa.UniqueConstraint("created_by", "idempotency_key", name="uq_data_exports_idempotency"),
    )
    op.create_index("idx_data_exports_created_at", "data_exports", ["created_at"])
    op.create_index("idx_data_exports_created_by", "data_exports", ["created_by"])
    op.create_index("idx_data_exports_expires_at", "data_exports", ["expires_at"])
    op.create_index("idx_data_exports_flow_run", "data_exports", ["flow_run_id"])
    op.create_index("idx_data_exports_schedule", "data_exports", ["schedule_id"])
    op.create_index("idx_data_exports_status", "data_exports", ["status"])
    op.create_index("idx_data_exports_type", "data_exports", ["export_type"])
    op.create_table(
        "export_download_logs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("downloaded_by", sa.Uuid(), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=False),
        sa.Column("downloaded_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["downloaded_by"],
            ["users.id"],
            name=op.f("fk_export_download_logs_downloaded_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["data_exports.id"],
            name=op.f("fk_export_download_logs_export_id_data_exports"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_download_logs")),
    )
    op.create_index("idx_export_download_logs_export", "export_download_logs", ["export_id"])
    op.create_table(
        "export_statistics",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("worker_node", sa.String(length=100), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["data_exports.id"],
            name=op.f("fk_export_statistics_export_id_data_exports"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_statistics")),
    )
    op.create_index("idx_export_statistics_export", "export_statistics", ["export_id"])


def downgrade() -> None:
    op.drop_table("export_statistics")
    op.drop_table("export_download_logs")
    op.drop_table("data_exports")
    op.drop_table("export_templates")
    op.drop_table("export_schedules")
    op.drop_table("audit_logs")
    op.drop_table("api_tokens")
    op.drop_table("users")
