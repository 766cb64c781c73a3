"""Bodies of `statistics()` (totals) and `analytics()` (totals, percentiles and breakdowns)."""

import uuid
from datetime import date

from pydantic import BaseModel

from exportflow_client.models.vocabulary import ExportFormat, ExportType


class StatisticsOut(BaseModel):
    """Totals over the runs of exports created in the period; failed runs include cancelled ones."""

    total_exports: int
    successful_exports: int
    failed_exports: int
    avg_duration_ms: float | None
    total_file_size: int
    total_records: int


class Counts(BaseModel):
    """Runs of one group; `success_rate` is in percent."""

    total_exports: int
    successful_exports: int
    failed_exports: int
    success_rate: float
    total_file_size: int
    total_records: int


class TypeCounts(Counts):
    export_type: ExportType


class FormatCounts(Counts):
    format: ExportFormat


class DayCounts(Counts):
    day: date


class UserCounts(Counts):
    user_id: uuid.UUID
    email: str


class AnalyticsOut(StatisticsOut):
    """Totals plus percentiles of run durations and breakdowns, most runs first (days oldest first)."""

    success_rate: float | None
    p50_duration_ms: int | None
    p95_duration_ms: int | None
    by_type: list[TypeCounts]
    by_format: list[FormatCounts]
    by_day: list[DayCounts]
    by_user: list[UserCounts]
