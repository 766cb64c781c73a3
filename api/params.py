"""Query parameters shared by several routes."""

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import Query

from api.errors import ApiError

DateFrom = Annotated[
    datetime | date | None,
    Query(description="At or after this instant, or from the start of this date (UTC)."),
]
DateTo = Annotated[
    datetime | date | None, Query(description="At or before this instant, or to the end of this date (UTC).")
]


def date_bound(value: datetime | date, *, end_of_day: bool, field: str) -> datetime:
    """An aware instant from a query bound: a date means its first (or, as an end, last) moment in UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ApiError(400, "give a timezone (e.g. Z or +02:00) or a plain date", field=field)
        return value
    return datetime.combine(value, time.max if end_of_day else time.min, tzinfo=UTC)
