"""Bodies of the schedule routes."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.schemas.common import Body
from api.schemas.exports import DELIVER_DESCRIPTION, WEBHOOK_URLS_DESCRIPTION, ShownWebhookUrls
from flows.exports.requests import MAX_RECIPIENTS, printable_name
from flows.vocabulary import Delivery, ExportFormat, ExportType, Frequency

ScheduleName = Annotated[
    str,
    Field(min_length=1, max_length=255, description="1-255 printable characters."),
    AfterValidator(printable_name),
]
CronExpression = Annotated[
    str | None,
    Field(
        max_length=100,
        description="5 fields (minute hour day month weekday); when set it decides instead of frequency.",
    ),
]
Timezone = Annotated[str, Field(max_length=64, description="IANA name the schedule is read in.")]
TimeOfDay = Annotated[str, Field(description="HH:MM local time of day the schedule fires at.")]
Weekday = Annotated[str | None, Field(description="Weekly schedules: monday..sunday (default monday).")]
DayOfMonth = Annotated[
    int | None,
    Field(description="Monthly, quarterly, yearly: 1-31 (default 1); past a month's end: its last day."),
]
Month = Annotated[
    int | None,
    Field(
        description="Yearly: its month (default 1); quarterly: one of its months (default 1: Jan, Apr...)."
    ),
]
Recipients = Annotated[
    list[str], Field(max_length=MAX_RECIPIENTS, description="Emailed when a run completes.")
]
Columns = Annotated[list[str] | None, Field(description="Columns of the type's catalog; null: the defaults.")]
Filters = Annotated[
    dict[str, Any], Field(description="Filters of the type's catalog (see GET /exports/types).")
]


class ScheduleCreate(Body):
    """A new schedule; also what an updated schedule has to be as a whole."""

    schedule_name: ScheduleName
    export_type: ExportType
    format: ExportFormat
    frequency: Frequency
    cron_expression: CronExpression = None
    timezone: Timezone = "UTC"
    time_of_day: TimeOfDay = "00:00"
    weekday: Weekday = None
    day_of_month: DayOfMonth = None
    month: Month = None
    recipients: Recipients = Field(default_factory=list)
    filters: Filters = Field(default_factory=dict)
    columns: Columns = None
    deliver: Delivery = Field(default=Delivery.ALWAYS, description=DELIVER_DESCRIPTION)
    webhook_urls: list[str] = Field(default_factory=list, description=WEBHOOK_URLS_DESCRIPTION)


class ScheduleUpdate(Body):
    """Any subset of a schedule's fields; the schedule they give together is checked like a new one."""

    schedule_name: ScheduleName | None = None
    export_type: ExportType | None = None
    format: ExportFormat | None = None
    frequency: Frequency | None = None
    cron_expression: CronExpression = None
    timezone: Timezone | None = None
    time_of_day: TimeOfDay | None = None
    weekday: Weekday = None
    day_of_month: DayOfMonth = None
    month: Month = None
    recipients: Recipients | None = None
    filters: Filters | None = None
    columns: Columns = None
    deliver: Delivery | None = Field(default=None, description=DELIVER_DESCRIPTION)
    webhook_urls: list[str] | None = Field(default=None, description=WEBHOOK_URLS_DESCRIPTION)


class ScheduleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    columns: list[str] = Field(description="Empty: the type's default columns.")
    deliver: Delivery
    webhook_urls: ShownWebhookUrls
    last_delivered_checksum: str | None = Field(
        description="Content checksum of the rows last delivered (what deliver: if_changed compares)."
    )
    is_active: bool
    prefect_schedule_id: uuid.UUID | None = Field(description="Its schedule on the export deployment.")
    prefect_synced: bool = Field(description="False while a change waits for Prefect to answer.")
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime


class NextRun(BaseModel):
    utc: datetime
    local: datetime = Field(description="The same instant in the schedule's timezone.")


class NextRunsOut(BaseModel):
    schedule_id: uuid.UUID
    timezone: str
    is_active: bool = Field(description="A paused schedule fires at none of these until it is resumed.")
    runs: list[NextRun]
