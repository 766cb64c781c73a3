"""Bodies of GET /exports/statistics (the seed's totals) and GET /exports/analytics (breakdowns)."""

import uuid
from datetime import date

from pydantic import BaseModel, Field

from flows.vocabulary import ExportFormat, ExportType


class StatisticsOut(BaseModel):
    """Totals over the runs (export_statistics rows) of exports created in the period."""

    total_exports: int
    successful_exports: int
    failed_exports: int = Field(description="Runs that failed or were cancelled.")
    avg_duration_ms: float | None = Field(description="Rounded to 2 places; null without runs.")
    total_file_size: int = Field(description="Bytes.")
    total_records: int


class Counts(BaseModel):
    """Runs of one group: how many, how many succeeded, and what they produced."""

    total_exports: int
    successful_exports: int
    failed_exports: int
    success_rate: float = Field(description="Successful runs in percent of all runs, rounded to 2 places.")
    total_file_size: int
    total_records: int


class TypeCounts(Counts):
    export_type: ExportType


class FormatCounts(Counts):
    format: ExportFormat


class DayCounts(Counts):
    day: date = Field(description="The UTC date the exports were created on.")


class UserCounts(Counts):
    user_id: uuid.UUID
    email: str


class AnalyticsOut(StatisticsOut):
    success_rate: float | None = Field(description="In percent, rounded to 2 places; null without runs.")
    p50_duration_ms: int | None = Field(description="Median run duration (nearest rank); null without runs.")
    p95_duration_ms: int | None = Field(description="95th percentile run duration (nearest rank).")
    by_type: list[TypeCounts] = Field(description="Most runs first.")
    by_format: list[FormatCounts] = Field(description="Most runs first.")
    by_day: list[DayCounts] = Field(description="Days with runs, oldest first.")
    by_user: list[UserCounts] = Field(description="Exports' owners, most runs first.")
