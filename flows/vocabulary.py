"""The contract's vocabularies: export types, formats, statuses, priorities, frequencies and roles."""

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
