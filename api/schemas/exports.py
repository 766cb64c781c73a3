"""Bodies of the export routes."""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.schemas.common import Body
from flows.exports.webhook_urls import MAX_WEBHOOK_URLS, display_url
from flows.render import ExportOptions
from flows.vocabulary import Delivery, ExportFormat, ExportPriority, ExportStatus, ExportType, WebhookEvent

if (
    TYPE_CHECKING
):  # flows.orchestration.flow_runs imports Prefect: seconds the command-line client need not spend
    from flows.orchestration.flow_runs import RunState


DELIVER_DESCRIPTION = (
    "When a completed export is mailed and sent to its webhooks: always (default); if_rows: only with "
    "at least one row; if_changed: only when its rows differ from its schedule's last delivered export "
    "(an export without a schedule is always delivered)."
)
WEBHOOK_URLS_DESCRIPTION = (
    f"At most {MAX_WEBHOOK_URLS} http(s) URLs, without credentials, POSTed signed export.completed and "
    "export.failed events (Standard Webhooks); private and loopback targets are refused."
)


def _without_queries(urls: list[str]) -> list[str]:
    return [display_url(url) for url in urls]


ShownWebhookUrls = Annotated[
    list[str], AfterValidator(_without_queries), Field(description="Shown without their query strings.")
]
"""Webhook URLs as responses show them: without their query strings (receivers' tokens)."""


class ExportCreate(Body):
    """A new export; with `template_id`, fields left out come from the template."""

    export_name: str | None = Field(
        default=None, description="1-255 characters; required without a template."
    )
    export_type: ExportType | None = Field(default=None, description="Required without a template.")
    format: ExportFormat | None = Field(default=None, description="Required without a template.")
    columns: list[str] | None = Field(
        default=None, description="Columns of the type's catalog; default: all."
    )
    filters: dict[str, Any] | None = Field(default=None, description="Filters of the type's catalog.")
    recipients: list[str] = Field(default_factory=list, description="At most 20 distinct addresses.")
    options: ExportOptions | None = None
    deliver: Delivery | None = Field(default=None, description=DELIVER_DESCRIPTION)
    webhook_urls: list[str] | None = Field(default=None, description=WEBHOOK_URLS_DESCRIPTION)
    template_id: uuid.UUID | None = None


class ExecuteByType(Body):
    """`POST /exports/execute/{type}`: everything optional; columns default to the type's defaults."""

    export_name: str | None = None
    format: ExportFormat = ExportFormat.CSV
    columns: list[str] | None = None
    filters: dict[str, Any] | None = None
    recipients: list[str] = Field(default_factory=list)
    options: ExportOptions | None = None
    deliver: Delivery | None = Field(default=None, description=DELIVER_DESCRIPTION)
    webhook_urls: list[str] | None = Field(default=None, description=WEBHOOK_URLS_DESCRIPTION)


class Creator(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str


class ExportOut(BaseModel):
    """An export as callers see it (storage locations and idempotency keys stay inside)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    export_name: str
    export_type: ExportType
    format: ExportFormat
    status: ExportStatus
    priority: ExportPriority
    progress_percentage: int
    record_count: int
    file_size: int
    checksum_sha256: str | None
    columns: list[str]
    filters: dict[str, Any]
    recipients: list[str]
    options: dict[str, Any]
    error_message: str | None
    notification_error: str | None
    deliver: Delivery
    webhook_urls: ShownWebhookUrls
    delivery_skipped: str | None = Field(
        description="Why a completed export was not delivered; null if it was."
    )
    created_by: uuid.UUID
    creator: Creator | None = None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None
    flow_run_id: uuid.UUID | None
    attempt: int
    retry_of: uuid.UUID | None
    schedule_id: uuid.UUID | None


class ExportEstimateOut(BaseModel):
    """How big the export a body asks for would be, before it is created."""

    model_config = ConfigDict(from_attributes=True)

    rows: int = Field(description="Rows it would hold: counted, or the warehouse planner's estimate.")
    exact: bool = Field(description="Whether `rows` was counted (false: PostgreSQL's planner estimate).")
    bytes: int = Field(description="Approximate file size, from a sample of its first rows in its format.")
    max_rows: int | None = Field(description="Its format's row cap (null: none).")
    allowed: bool = Field(description="Whether it may be created: false when its rows exceed max_rows.")


class StatisticOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    duration_ms: int
    file_size: int
    record_count: int
    success: bool
    error_message: str | None
    worker_node: str | None
    created_at: datetime


class WebhookDeliveryOut(BaseModel):
    """One attempt to POST an event to a webhook URL (shown without its query string)."""

    model_config = ConfigDict(from_attributes=True)

    event: WebhookEvent
    url: str
    message_id: str
    attempt: int
    status_code: int | None
    error: str | None
    succeeded: bool
    duration_ms: int
    attempted_at: datetime


class ExportDetailOut(ExportOut):
    statistics: list[StatisticOut] = Field(default_factory=list)
    webhook_deliveries: list[WebhookDeliveryOut] = Field(
        default_factory=list, description="Every webhook attempt, oldest first."
    )


class ResendWebhookOut(BaseModel):
    url: str = Field(description="Without its query string.")
    succeeded: bool
    attempts: int
    status_code: int | None
    error: str | None


class ResendOut(BaseModel):
    """What a resend did: the addresses mailed (or why not) and each webhook's outcome."""

    export_id: uuid.UUID
    emailed: list[str]
    email_error: str | None
    webhooks: list[ResendWebhookOut]


class ExportStatusOut(BaseModel):
    id: uuid.UUID
    status: ExportStatus
    progress_percentage: int
    record_count: int
    file_size: int
    error_message: str | None
    started_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None
    flow_run_id: uuid.UUID | None
    prefect_state: str | None = Field(description="The flow run's state name in Prefect; null if unknown.")
    queued: bool = Field(
        description=(
            "Whether it waits (pending) for one of its owner's running slots "
            "(EXPORTFLOW_USER_MAX_RUNNING_EXPORTS): it starts when an earlier export of theirs ends."
        )
    )
    queue_position: int | None = Field(
        description="While queued: its place in its owner's queue, 1 = it starts next; null otherwise."
    )

    @classmethod
    def of(cls, row: Any, run: "RunState | None", queue_position: int | None) -> "ExportStatusOut":
        return cls(
            id=row.id,
            status=row.status,
            progress_percentage=row.progress_percentage,
            record_count=row.record_count,
            file_size=row.file_size,
            error_message=row.error_message,
            started_at=row.started_at,
            completed_at=row.completed_at,
            expires_at=row.expires_at,
            flow_run_id=row.flow_run_id,
            prefect_state=run.name if run else None,
            queued=queue_position is not None,
            queue_position=queue_position,
        )


class DownloadOut(BaseModel):
    download_url: str = Field(description="Short-lived signed URL; fetch it without the bearer token.")
    expires_at: datetime
    file_name: str
    file_size: int
    checksum_sha256: str | None
