"""Query parameters shared by several routes."""

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import Query

from api.errors import ApiError

DateFrom = Annotated[
    str | None,
    Query(
        description="At or after: an instant with offset (2026-03-01T08:00:00Z) or a date (from 00:00 UTC).",
        examples=["2026-03-01"],
    ),
]
DateTo = Annotated[
    str | None,
    Query(
        description="At or before: an instant with its offset, or a date (to the end of that day, UTC).",
        examples=["2026-03-31"],
    ),
]


def date_bound(value: str, *, end_of_day: bool, field: str) -> datetime:
    """An aware instant from a query bound: a date means its first (or, as an end, last) moment in UTC."""
    try:
        if len(value) == len("2026-01-01"):
            return datetime.combine(
                date.fromisoformat(value), time.max if end_of_day else time.min, tzinfo=UTC
            )
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "not an ISO date or instant", field=field) from None
    if instant.tzinfo is None:
        raise ApiError(400, "give a timezone (e.g. Z or +02:00) or a plain date", field=field)
    return instant
