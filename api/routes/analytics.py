"""Routes: the seed's export statistics and the analytics beyond them, over a period of export creation.

Both read export_statistics (one row per finished run) joined to the export it ran, keeping the
exports created in [date_from, date_to] (deleted ones too: their runs happened). The SQL is the
same on SQLite and PostgreSQL: GROUP BY, COUNT/SUM, CASE, standard EXTRACT (which SQLAlchemy
spells for each), ORDER BY with LIMIT/OFFSET; every value is bound. Averages and rates are
computed from exact integer sums in Python.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from fastapi import APIRouter
from sqlalchemy import ColumnElement, Numeric, Row, Subquery, case, cast, extract, func, select
from sqlalchemy.orm import Session

from api.deps import SessionDep, require
from api.errors import ApiError
from api.params import DateFrom, DateTo, date_bound
from api.permissions import Permission
from api.schemas.analytics import (
    AnalyticsOut,
    DayCounts,
    FormatCounts,
    StatisticsOut,
    TypeCounts,
    UserCounts,
)
from api.schemas.common import ERROR_RESPONSES, Envelope
from flows.appdb.models import DataExport, ExportStatistic, User

router = APIRouter(tags=["analytics"], responses=ERROR_RESPONSES)

ReadAnalytics = Annotated[User, require(Permission.ANALYTICS_READ)]
SECONDS_PER_DAY = 86_400
TWO_PLACES = Decimal("0.01")


@router.get("/exports/statistics", response_model=Envelope[StatisticsOut], summary="Export statistics")
def statistics(
    session: SessionDep, user: ReadAnalytics, date_from: DateFrom = None, date_to: DateTo = None
) -> Envelope[StatisticsOut]:
    """The seed's totals over the runs of exports created in the period (both bounds inclusive)."""
    runs = _runs(date_from, date_to)
    return Envelope(data=_statistics(_totals(session, runs)))


@router.get("/exports/analytics", response_model=Envelope[AnalyticsOut], summary="Export analytics")
def analytics(
    session: SessionDep, user: ReadAnalytics, date_from: DateFrom = None, date_to: DateTo = None
) -> Envelope[AnalyticsOut]:
    """Totals, p50/p95 run duration, and counts and success rates by type, format, UTC day and owner."""
    runs = _runs(date_from, date_to)
    totals = _totals(session, runs)
    total = int(totals.total)
    by_type = _grouped(session, runs, runs.c.export_type)
    by_format = _grouped(session, runs, runs.c.format)
    by_day = _grouped(session, runs, runs.c.day, by_count=False)
    by_user = _grouped(session, runs, runs.c.created_by, runs.c.email)
    data = AnalyticsOut(
        **_statistics(totals).model_dump(),
        success_rate=_percent(int(totals.successful), total) if total else None,
        p50_duration_ms=_percentile(session, runs, total, 50),
        p95_duration_ms=_percentile(session, runs, total, 95),
        by_type=[TypeCounts(export_type=row.export_type, **_counts(row)) for row in by_type],
        by_format=[FormatCounts(format=row.format, **_counts(row)) for row in by_format],
        by_day=[DayCounts(day=_utc_day(row.day), **_counts(row)) for row in by_day],
        by_user=[UserCounts(user_id=row.created_by, email=row.email, **_counts(row)) for row in by_user],
    )
    return Envelope(data=data)


def _runs(date_from: str | None, date_to: str | None) -> Subquery:
    """One row per run of an export created in the period, with what the breakdowns group by.

    `day` is the UTC day of the export's creation as the epoch second it starts at: the epoch does
    not depend on the session's time zone, and `e - e % 86400` needs no dialect's FLOOR or DIV.
    """
    epoch = cast(extract("epoch", DataExport.created_at), Numeric(asdecimal=False))
    query = (
        select(
            ExportStatistic.id,
            ExportStatistic.success,
            ExportStatistic.duration_ms,
            ExportStatistic.file_size,
            ExportStatistic.record_count,
            DataExport.export_type,
            DataExport.format,
            DataExport.created_by,
            User.email,
            (epoch - epoch % SECONDS_PER_DAY).label("day"),
        )
        .join(DataExport, ExportStatistic.export_id == DataExport.id)
        .join(User, User.id == DataExport.created_by)
        .where(*_period(date_from, date_to))
    )
    return query.subquery("runs")


def _period(date_from: str | None, date_to: str | None) -> list[ColumnElement[bool]]:
    start = date_bound(date_from, end_of_day=False, field="date_from") if date_from is not None else None
    end = date_bound(date_to, end_of_day=True, field="date_to") if date_to is not None else None
    if start is not None and end is not None and end < start:
        raise ApiError(400, "date_to is before date_from", field="date_to")
    conditions = []
    if start is not None:
        conditions.append(DataExport.created_at >= start)
    if end is not None:
        conditions.append(DataExport.created_at <= end)
    return conditions


def _aggregates(runs: Subquery) -> tuple[ColumnElement[Any], ...]:
    return (
        func.count().label("total"),
        func.coalesce(func.sum(case((runs.c.success, 1), else_=0)), 0).label("successful"),
        func.coalesce(func.sum(runs.c.duration_ms), 0).label("duration"),
        func.coalesce(func.sum(runs.c.file_size), 0).label("file_size"),
        func.coalesce(func.sum(runs.c.record_count), 0).label("records"),
    )


def _totals(session: Session, runs: Subquery) -> Row[Any]:
    return session.execute(select(*_aggregates(runs))).one()


def _grouped(
    session: Session, runs: Subquery, *keys: ColumnElement[Any], by_count: bool = True
) -> Sequence[Row[Any]]:
    """The aggregates per distinct `keys`: most runs first (ties by key), or by key."""
    ordering: tuple[ColumnElement[Any], ...] = (func.count().desc(), *keys) if by_count else keys
    return session.execute(select(*keys, *_aggregates(runs)).group_by(*keys).order_by(*ordering)).all()


def _statistics(totals: Row[Any]) -> StatisticsOut:
    total, successful = int(totals.total), int(totals.successful)
    average = _rounded(Decimal(int(totals.duration)) / total) if total else None
    return StatisticsOut(
        total_exports=total,
        successful_exports=successful,
        failed_exports=total - successful,
        avg_duration_ms=average,
        total_file_size=int(totals.file_size),
        total_records=int(totals.records),
    )


def _counts(row: Row[Any]) -> dict[str, Any]:
    """The fields of api.schemas.analytics.Counts for one group's row."""
    total, successful = int(row.total), int(row.successful)
    return {
        "total_exports": total,
        "successful_exports": successful,
        "failed_exports": total - successful,
        "success_rate": _percent(successful, total),
        "total_file_size": int(row.file_size),
        "total_records": int(row.records),
    }


def _percentile(session: Session, runs: Subquery, total: int, percent: int) -> int | None:
    """The nearest-rank percentile of run durations: the ceil(percent/100 * n)-th smallest of the n runs
    (ties broken by row id), so always a duration that occurred; None without runs."""
    if total == 0:
        return None
    rank = max(1, -(-percent * total // 100))
    query = select(runs.c.duration_ms).order_by(runs.c.duration_ms, runs.c.id).limit(1).offset(rank - 1)
    return int(session.scalar(query) or 0)


def _percent(part: int, whole: int) -> float:
    return _rounded(Decimal(part * 100) / whole)


def _rounded(value: Decimal) -> float:
    return float(value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP))


def _utc_day(epoch_seconds: float) -> date:
    return datetime.fromtimestamp(int(epoch_seconds), UTC).date()
