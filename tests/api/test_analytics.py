"""GET /exports/statistics and /exports/analytics: exact figures over runs of a period only these tests use.

The session's app database is shared by many tests, so each test writes its export and statistics
rows with created_at in its own day(s) of the 1990s and asks only about those days.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import make_engine, transaction
from flows.appdb.models import DataExport, ExportStatistic
from flows.vocabulary import ExportStatus
from tests.api.conftest import Caller

STATISTICS = "/api/v1/exports/statistics"
ANALYTICS = "/api/v1/exports/analytics"
FAR_TIMEZONE = "Pacific/Kiritimati"  # UTC+14: a local date differs from the UTC date for most of a day


@dataclass(frozen=True)
class Run:
    created_at: datetime
    owner: uuid.UUID
    duration_ms: int
    success: bool = True
    file_size: int = 0
    record_count: int = 0
    export_type: str = "sales"
    format: str = "csv"


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


def store(sessions: sessionmaker[Session], runs: list[Run]) -> None:
    """An export row and its one statistics row per run."""
    with transaction(sessions) as session:
        for run in runs:
            row = DataExport(
                export_name=f"analytics test {run.created_at:%Y-%m-%d %H:%M}",
                export_type=run.export_type,
                format=run.format,
                status=ExportStatus.COMPLETED if run.success else ExportStatus.FAILED,
                created_by=run.owner,
                created_at=run.created_at,
                file_size=run.file_size,
                record_count=run.record_count,
            )
            session.add(row)
            session.flush()
            session.add(
                ExportStatistic(
                    export_id=row.id,
                    duration_ms=run.duration_ms,
                    file_size=run.file_size,
                    record_count=run.record_count,
                    success=run.success,
                )
            )


def read(client: TestClient, url: str, caller: Caller, **params: str) -> dict[str, Any]:
    response = client.get(url, params=params, headers=caller.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_statistics_totals_over_the_period(
    client: TestClient, admin: Caller, manager: Caller, sessions: sessionmaker[Session]
) -> None:
    store(
        sessions,
        [
            Run(at("1991-03-01 00:00:00"), manager.id, 100, file_size=1000, record_count=10),
            Run(at("1991-03-02 12:00:00"), admin.id, 200, file_size=2000, record_count=20, format="json"),
            Run(at("1991-03-03 23:59:59.999"), manager.id, 301, success=False),
            Run(at("1991-02-28 23:59:59.999"), manager.id, 5000, file_size=7),
            Run(at("1991-03-04 00:00:00"), manager.id, 5000, file_size=7),
        ],
    )

    data = read(client, STATISTICS, admin, date_from="1991-03-01", date_to="1991-03-03")

    assert data == {
        "total_exports": 3,
        "successful_exports": 2,
        "failed_exports": 1,
        "avg_duration_ms": 200.33,
        "total_file_size": 3000,
        "total_records": 30,
    }
    instants = read(
        client, STATISTICS, admin, date_from="1991-03-02T13:00:00+02:00", date_to="1991-03-03T00:00:00Z"
    )
    assert (instants["total_exports"], instants["avg_duration_ms"]) == (1, 200.0)


def test_statistics_of_an_empty_period(client: TestClient, super_admin: Caller) -> None:
    data = read(client, STATISTICS, super_admin, date_from="1971-01-01", date_to="1971-01-31")

    assert data == {
        "total_exports": 0,
        "successful_exports": 0,
        "failed_exports": 0,
        "avg_duration_ms": None,
        "total_file_size": 0,
        "total_records": 0,
    }


@pytest.fixture
def far_session_timezone(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    """New PostgreSQL sessions (libpq reads PGTZ) run in UTC+14, so a UTC day is not the session's day."""
    monkeypatch.setenv("PGTZ", FAR_TIMEZONE)
    if database_url.startswith("postgresql"):
        engine = make_engine(database_url)
        with engine.connect() as connection:
            assert connection.execute(text("SHOW TIME ZONE")).scalar() == FAR_TIMEZONE
        engine.dispose()


def test_analytics_breaks_runs_down_by_type_format_utc_day_and_owner(
    far_session_timezone: None,
    client: TestClient,
    admin: Caller,
    manager: Caller,
    sessions: sessionmaker[Session],
) -> None:
    store(
        sessions,
        [
            Run(at("1992-06-01 08:00:00"), manager.id, 40, file_size=100, record_count=1),
            Run(at("1992-06-01 23:59:59.900"), manager.id, 10, success=False, format="excel"),
            Run(
                at("1992-06-01 12:00:00"),
                admin.id,
                30,
                file_size=300,
                record_count=3,
                export_type="inventory",
            ),
            Run(at("1992-06-02 00:00:00"), admin.id, 20, file_size=200, record_count=2),
            Run(
                at("1992-06-02 18:00:00"),
                manager.id,
                50,
                success=False,
                export_type="marketing",
                format="pdf",
            ),
            Run(at("1992-05-31 23:59:59.999"), manager.id, 9999, file_size=1),
            Run(at("1992-06-03 00:00:00"), admin.id, 9999, file_size=1),
        ],
    )

    data = read(client, ANALYTICS, admin, date_from="1992-06-01", date_to="1992-06-02")

    def counts(total: int, successful: int, rate: float, size: int = 0, records: int = 0) -> dict[str, Any]:
        return {
            "total_exports": total,
            "successful_exports": successful,
            "failed_exports": total - successful,
            "success_rate": rate,
            "total_file_size": size,
            "total_records": records,
        }

    assert data == {
        "total_exports": 5,
        "successful_exports": 3,
        "failed_exports": 2,
        "avg_duration_ms": 30.0,
        "total_file_size": 600,
        "total_records": 6,
        "success_rate": 60.0,
        "p50_duration_ms": 30,
        "p95_duration_ms": 50,
        "by_type": [
            {"export_type": "sales", **counts(3, 2, 66.67, 300, 3)},
            {"export_type": "inventory", **counts(1, 1, 100.0, 300, 3)},
            {"export_type": "marketing", **counts(1, 0, 0.0)},
        ],
        "by_format": [
            {"format": "csv", **counts(3, 3, 100.0, 600, 6)},
            {"format": "excel", **counts(1, 0, 0.0)},
            {"format": "pdf", **counts(1, 0, 0.0)},
        ],
        "by_day": [
            {"day": "1992-06-01", **counts(3, 2, 66.67, 400, 4)},
            {"day": "1992-06-02", **counts(2, 1, 50.0, 200, 2)},
        ],
        "by_user": [
            {"user_id": str(manager.id), "email": manager.email, **counts(3, 1, 33.33, 100, 1)},
            {"user_id": str(admin.id), "email": admin.email, **counts(2, 2, 100.0, 500, 5)},
        ],
    }


@pytest.mark.parametrize(
    ("day", "durations", "p50", "p95"),
    [
        ("1993-01-01", [10 * rank for rank in range(20, 0, -1)], 100, 190),  # ranks 10 and 19 of 20
        ("1993-01-02", [7, 3, 5, 1, 9, 100, 2, 8, 4, 6], 5, 100),  # ranks 5 and 10 of 10
        ("1993-01-03", [42], 42, 42),
        ("1993-01-04", [5, 5, 5, 1], 5, 5),  # ranks 2 and 4 of 4
    ],
)
def test_analytics_percentiles_are_nearest_rank(
    client: TestClient,
    admin: Caller,
    sessions: sessionmaker[Session],
    day: str,
    durations: list[int],
    p50: int,
    p95: int,
) -> None:
    start = at(f"{day} 00:00:00")
    store(
        sessions, [Run(start + timedelta(minutes=index), admin.id, ms) for index, ms in enumerate(durations)]
    )

    data = read(client, ANALYTICS, admin, date_from=day, date_to=day)

    assert (data["total_exports"], data["p50_duration_ms"], data["p95_duration_ms"]) == (
        len(durations),
        p50,
        p95,
    )


def test_analytics_of_an_empty_period(client: TestClient, admin: Caller) -> None:
    data = read(client, ANALYTICS, admin, date_from="1971-02-01", date_to="1971-02-28")

    assert data["total_exports"] == 0
    assert (data["success_rate"], data["p50_duration_ms"], data["p95_duration_ms"]) == (None, None, None)
    assert data["by_type"] == data["by_format"] == data["by_day"] == data["by_user"] == []


@pytest.mark.parametrize("url", [STATISTICS, ANALYTICS])
def test_managers_may_not_read_analytics(client: TestClient, manager: Caller, url: str) -> None:
    response = client.get(url, headers=manager.headers)

    assert response.status_code == 403
    assert "exports.analytics.read" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("url", [STATISTICS, ANALYTICS])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_to": "1990-01-01T10:00:00"}, "date_to"),
        ({"date_from": "1990-02-01", "date_to": "1990-01-31"}, "date_to"),
    ],
)
def test_bad_periods_are_400s_naming_the_bound(
    client: TestClient, admin: Caller, url: str, params: dict[str, str], field: str
) -> None:
    response = client.get(url, params=params, headers=admin.headers)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
