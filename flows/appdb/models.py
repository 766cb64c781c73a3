"""App-database tables: the seed's five export tables plus users, API tokens, webhook deliveries and the
audit log."""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flows.vocabulary import (
    Delivery,
    ExportFormat,
    ExportPriority,
    ExportStatus,
    ExportType,
    Frequency,
    Role,
    WebhookEvent,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant: stored in UTC, always read back aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")
OWING = "owed_recipients IS NOT NULL"
"""The rows the reconciler looks at for mail a dead run owed: few at any time, so a partial index."""
NULLABLE_JSON_DOCUMENT = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
"""A JSON column where None is SQL NULL (not the JSON null), so `IS NULL` finds it."""


def one_of(column: str, values: type[StrEnum]) -> CheckConstraint:
    """CHECK (column IN (...)) from an enum; the constraint is named after the column."""
    allowed = ", ".join(f"'{member.value}'" for member in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONDocument,
        list[Any]: JSONDocument,
    }


class User(Base):
    __tablename__ = "users"
    __table_args__ = (one_of("role", Role),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A long-lived API token; only the SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ExportSchedule(Base):
    __tablename__ = "export_schedules"
    __table_args__ = (
        one_of("export_type", ExportType),
        one_of("format", ExportFormat),
        one_of("frequency", Frequency),
        one_of("deliver", Delivery),
        Index("idx_export_schedules_next_run", "next_run"),
        Index("idx_export_schedules_active", "is_active"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    schedule_name: Mapped[str] = mapped_column(String(255))
    export_type: Mapped[str] = mapped_column(String(50))
    format: Mapped[str] = mapped_column(String(10))
    frequency: Mapped[str] = mapped_column(String(20))
    cron_expression: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    time_of_day: Mapped[str] = mapped_column(String(5), default="00:00", server_default="00:00")
    weekday: Mapped[str | None] = mapped_column(String(9))
    day_of_month: Mapped[int | None] = mapped_column(Integer)
    month: Mapped[int | None] = mapped_column(Integer)
    next_run: Mapped[datetime]
    last_run: Mapped[datetime | None]
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    columns: Mapped[list[Any]] = mapped_column(default=list)
    deliver: Mapped[str] = mapped_column(String(10), default=Delivery.ALWAYS.value, server_default="always")
    webhook_urls: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    last_delivered_checksum: Mapped[str | None] = mapped_column(String(64))
    """The content checksum of the schedule's last delivered export (for `deliver: if_changed`)."""
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    prefect_schedule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    prefect_synced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DataExport(Base):
    """One export request and its run; never hard-deleted (deleted_at / status expired instead)."""

    __tablename__ = "data_exports"
    __table_args__ = (
        one_of("export_type", ExportType),
        one_of("format", ExportFormat),
        one_of("status", ExportStatus),
        one_of("priority", ExportPriority),
        one_of("deliver", Delivery),
        CheckConstraint("progress_percentage BETWEEN 0 AND 100", name="progress_percentage"),
        CheckConstraint("attempt >= 1", name="attempt"),
        UniqueConstraint("created_by", "idempotency_key", name="uq_data_exports_idempotency"),
        Index("idx_data_exports_status", "status"),
        Index("idx_data_exports_created_at", "created_at"),
        Index("idx_data_exports_type", "export_type"),
        Index("idx_data_exports_created_by", "created_by"),
        Index("idx_data_exports_expires_at", "expires_at"),
        Index("idx_data_exports_flow_run", "flow_run_id"),
        Index("idx_data_exports_schedule", "schedule_id"),
        Index(
            "idx_data_exports_owed_mail",
            "heartbeat_at",
            postgresql_where=text(OWING),
            sqlite_where=text(OWING),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    export_name: Mapped[str] = mapped_column(String(255))
    export_type: Mapped[str] = mapped_column(String(50))
    format: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default=ExportStatus.PENDING.value)
    file_path: Mapped[str | None] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    record_count: Mapped[int] = mapped_column(BigInteger, default=0)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    columns: Mapped[list[Any]] = mapped_column(default=list)
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deliver: Mapped[str] = mapped_column(String(10), default=Delivery.ALWAYS.value, server_default="always")
    webhook_urls: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    error_message: Mapped[str | None] = mapped_column(Text)
    notification_error: Mapped[str | None] = mapped_column(Text)
    delivery_skipped: Mapped[str | None] = mapped_column(Text)
    """Why a completed export was not delivered (no rows, rows unchanged); null when it was."""
    content_checksum: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the rows themselves (not of the file, which carries a timestamp)."""
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    """The first rows as text, for the email and the recipient page: {"columns": [...], "rows": [[...]]}."""
    progress_percentage: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    flow_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    retry_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("data_exports.id", ondelete="RESTRICT"))
    priority: Mapped[str] = mapped_column(String(10), default=ExportPriority.NORMAL.value)
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("export_schedules.id", ondelete="SET NULL")
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))
    checksum_sha256: Mapped[str | None] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    admitted_at: Mapped[datetime | None]
    """When it got one of its owner's running slots (flows/exports/admission.py); null while it waits.
    It holds the slot for as long as it is pending or processing, across attempts."""
    owed_recipients: Mapped[list[Any] | None] = mapped_column(NULLABLE_JSON_DOCUMENT)
    """Recipients a completed export still owes its ready email (None: none); the run keeps its heartbeat
    fresh while it mails them, and the reconciler mails those a dead run left."""


class ExportTemplate(Base):
    __tablename__ = "export_templates"
    __table_args__ = (
        one_of("export_type", ExportType),
        one_of("format", ExportFormat),
        Index("idx_export_templates_type", "export_type"),
        Index("idx_export_templates_public", "is_public"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    template_name: Mapped[str] = mapped_column(String(255))
    export_type: Mapped[str] = mapped_column(String(50))
    format: Mapped[str] = mapped_column(String(10))
    columns: Mapped[list[Any]] = mapped_column(default=list)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    description: Mapped[str | None] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ExportStatistic(Base):
    """One finished run (success or failure); kept for as long as the export row is."""

    __tablename__ = "export_statistics"
    __table_args__ = (Index("idx_export_statistics_export", "export_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    export_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_exports.id", ondelete="RESTRICT"))
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    file_size: Mapped[int] = mapped_column(BigInteger)
    record_count: Mapped[int] = mapped_column(BigInteger)
    success: Mapped[bool] = mapped_column(Boolean)
    error_message: Mapped[str | None] = mapped_column(Text)
    worker_node: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExportDownloadLog(Base):
    """One download: by a signed-in user (downloaded_by) or by an email recipient through their link."""

    __tablename__ = "export_download_logs"
    __table_args__ = (
        Index("idx_export_download_logs_export", "export_id"),
        CheckConstraint("downloaded_by IS NOT NULL OR recipient IS NOT NULL", name="downloader"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    export_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_exports.id", ondelete="RESTRICT"))
    downloaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    recipient: Mapped[str | None] = mapped_column(String(320))
    ip_address: Mapped[str] = mapped_column(String(45))
    user_agent: Mapped[str] = mapped_column(Text)
    downloaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One attempt to POST an export's event to one webhook URL, kept with the export."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        one_of("event", WebhookEvent),
        Index("idx_webhook_deliveries_export", "export_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    export_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_exports.id", ondelete="RESTRICT"))
    message_id: Mapped[str] = mapped_column(String(64))
    """The Standard Webhooks `webhook-id`: the same for every attempt of one message."""
    event: Mapped[str] = mapped_column(String(30))
    url: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    duration_ms: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    """Who did what to which resource; user is null for the system's own decisions."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("idx_audit_logs_resource", "resource", "resource_id"),
        Index("idx_audit_logs_created_at", "created_at"),
        Index("idx_audit_logs_user", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    action: Mapped[str] = mapped_column(String(100))
    resource: Mapped[str] = mapped_column(String(100))
    resource_id: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
