"""Bodies of the schedule routes."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from exportflow_client.models.common import RequestBody
from exportflow_client.models.vocabulary import Delivery, ExportFormat, ExportType, Frequency


class ScheduleCreate(RequestBody):
    """A new schedule; `cron_expression`, when set, decides instead of `frequency`."""

    schedule_name: str
    export_type: ExportType
    format: ExportFormat
    frequency: Frequency
    cron_expression: str | None = None
    timezone: str = "UTC"
    time_of_day: str = "00:00"
    weekday: str | None = None
    day_of_month: int | None = None
    month: int | None = None
    recipients: list[str] = Field(default_factory=list)
    filters: dict[str, Any] = Field(default_factory=dict)
    columns: list[str] | None = None
    deliver: Delivery = Delivery.ALWAYS
    webhook_urls: list[str] = Field(default_factory=list)


class ScheduleUpdate(RequestBody):
    """Any subset of a schedule's fields."""

    schedule_name: str | None = None
    export_type: ExportType | None = None
    format: ExportFormat | None = None
    frequency: Frequency | None = None
    cron_expression: str | None = None
    timezone: str | None = None
    time_of_day: str | None = None
    weekday: str | None = None
    day_of_month: int | None = None
    month: int | None = None
    recipients: list[str] | None = None
    filters: dict[str, Any] | None = None
    columns: list[str] | None = None
    deliver: Delivery | None = None
    webhook_urls: list[str] | None = None


class ScheduleOut(BaseModel):
    """A schedule; empty `columns` mean the type's defaults, `prefect_synced` is false while Prefect lags."""

    id: uuid.UUID
    schedule_name: str
    export_type: ExportType
    format: ExportFormat
    frequency: Frequency
    cron_expression: str | None
    timezone: str
    time_of_day: str
    weekday: str | None
    day_of_month: int | None
    month: int | None
    next_run: datetime
    last_run: datetime | None
    recipients: list[str]
    filters: dict[str, Any]
    columns: list[str]
    deliver: Delivery
    webhook_urls: list[str]
    last_delivered_checksum: str | None
    is_active: bool
    prefect_schedule_id: uuid.UUID | None
    prefect_synced: bool
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime


class NextRun(BaseModel):
    """One coming run: in UTC and as the same instant in the schedule's timezone."""

    utc: datetime
    local: datetime


class NextRunsOut(BaseModel):
    schedule_id: uuid.UUID
    timezone: str
    is_active: bool
    runs: list[NextRun]
