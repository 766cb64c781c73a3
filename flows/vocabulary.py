"""The contract's vocabularies: export types, formats, statuses, priorities, frequencies, roles, and
when and how a finished export is delivered."""

from enum import StrEnum


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


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


class Role(StrEnum):
    SUPER_ADMIN = "super_admin"
    ADMIN = "admin"
    MANAGER = "manager"


class Delivery(StrEnum):
    """When a completed export is delivered (mailed and sent to its webhooks)."""

    ALWAYS = "always"
    IF_ROWS = "if_rows"
    """Only when the export has at least one row."""
    IF_CHANGED = "if_changed"
    """Only when its rows differ from the schedule's last delivered run."""


class WebhookEvent(StrEnum):
    COMPLETED = "export.completed"
    FAILED = "export.failed"
