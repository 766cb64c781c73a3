"""Bodies of the export routes: new exports, and exports, statuses and download links as they come back."""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from exportflow_client.models.common import RequestBody
from exportflow_client.models.vocabulary import (
    Delivery,
    ExportFormat,
    ExportPriority,
    ExportStatus,
    ExportType,
    WebhookEvent,
)


class ExportOptions(RequestBody):
    """Choices about the export's file; `timezone` is the IANA zone shown beside UTC in reports."""

    header: Literal["labels", "names"] = "labels"
    csv_delimiter: Literal[",", ";", "\t"] = ","
    csv_bom: bool = False
    formula_guard: bool = True
    json_lines: bool = False
    timezone: str = "UTC"


class ExportCreate(RequestBody):
    """A new export; with `template_id`, fields left out come from the template."""

    export_name: str | None = None
    export_type: ExportType | None = None
    format: ExportFormat | None = None
    columns: list[str] | None = None
    filters: dict[str, Any] | None = None
    recipients: list[str] = Field(default_factory=list)
    options: ExportOptions | None = None
    deliver: Delivery | None = None
    webhook_urls: list[str] | None = None
    template_id: uuid.UUID | None = None


class ExecuteByType(RequestBody):
    """The body of `execute_type`: everything optional; columns default to the type's defaults."""

    export_name: str | None = None
    format: ExportFormat = ExportFormat.CSV
    columns: list[str] | None = None
    filters: dict[str, Any] | None = None
    recipients: list[str] = Field(default_factory=list)
    options: ExportOptions | None = None
    deliver: Delivery | None = None
    webhook_urls: list[str] | None = None


class Creator(BaseModel):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str


class ExportOut(BaseModel):
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
    webhook_urls: list[str]
    """Shown without their query strings."""
    delivery_skipped: str | None
    """Why a completed export was not delivered; None if it was."""
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


class StatisticOut(BaseModel):
    """One run of an export: how long it took and what it produced."""

    id: uuid.UUID
    duration_ms: int
    file_size: int
    record_count: int
    success: bool
    error_message: str | None
    worker_node: str | None
    created_at: datetime


class WebhookDeliveryOut(BaseModel):
    """One attempt to POST an event to a webhook URL (without its query string)."""

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
    webhook_deliveries: list[WebhookDeliveryOut] = Field(default_factory=list)


class ResendWebhookOut(BaseModel):
    url: str
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
    """Where an export is; `prefect_state` is its flow run's state name in Prefect, if known; `queued`
    while it waits for one of its owner's running slots, `queue_position` its place then (1: next)."""

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
    prefect_state: str | None
    queued: bool
    queue_position: int | None


class ExportEstimateOut(BaseModel):
    """How big an export would be before it is created: rows (`exact`: counted, else the warehouse
    planner's estimate), approximate bytes, its format's row cap and whether it may be created."""

    rows: int
    exact: bool
    bytes: int
    max_rows: int | None
    allowed: bool


class DownloadOut(BaseModel):
    """A short-lived signed link to the export's file (fetched without the bearer token)."""

    download_url: str
    expires_at: datetime
    file_name: str
    file_size: int
    checksum_sha256: str | None
