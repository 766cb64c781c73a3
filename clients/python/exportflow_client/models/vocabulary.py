"""The API's vocabularies: export types, formats, statuses, priorities, frequencies; the catalog's terms."""

from enum import StrEnum
from typing import Literal


class ExportType(StrEnum):
    SALES = "sales"
    INVENTORY = "inventory"
    CUSTOMERS = "customers"
    STAFF = "staff"
    FINANCIAL = "financial"
    MARKETING = "marketing"
    ATTENDANCE = "attendance"
    PAYROLL = "payroll"


class ExportFormat(StrEnum):
    CSV = "csv"
    EXCEL = "excel"
    PDF = "pdf"
    JSON = "json"
    PARQUET = "parquet"


class ExportStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ExportPriority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"


class Delivery(StrEnum):
    """When a completed export is mailed and sent to its webhooks."""

    ALWAYS = "always"
    IF_ROWS = "if_rows"
    IF_CHANGED = "if_changed"


class WebhookEvent(StrEnum):
    COMPLETED = "export.completed"
    FAILED = "export.failed"


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


FINAL_STATUSES = frozenset(
    {ExportStatus.COMPLETED, ExportStatus.FAILED, ExportStatus.CANCELLED, ExportStatus.EXPIRED}
)
"""Statuses an export never leaves."""

ValueType = Literal["string", "integer", "decimal", "boolean", "date", "timestamp"]
DisplayFormat = Literal["text", "number", "currency", "percent", "date", "datetime", "boolean"]
FilterKind = Literal["date", "number", "enum", "text", "boolean"]
SortDirection = Literal["asc", "desc"]
Operator = Literal["eq", "gt", "gte", "lt", "lte", "between", "in", "not_in"]
