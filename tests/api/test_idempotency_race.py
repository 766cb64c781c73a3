"""Many concurrent creates with one Idempotency-Key, through a real server: one export, every answer it.

On PostgreSQL, the production app database. The embedded SQLite database does not take this burst yet:
measured, answers fail after 30 s with "database is locked" and the connection pool's timeout (every app
transaction takes SQLite's one write lock, BEGIN IMMEDIATE, and requests queue for it in worker threads).
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from flows.appdb.models import AuditLog, DataExport
from tests.api.conftest import Caller

REQUESTS = 100


@pytest.fixture
def database_url(postgresql_database_url: str) -> str:
    return postgresql_database_url


BODY = {"export_name": "Q3 sales", "export_type": "sales", "format": "csv"}


def test_a_hundred_concurrent_creates_with_one_key_make_one_export(
    server: str, manager: Caller, sessions: Any
) -> None:
    headers = {**manager.headers, "Idempotency-Key": "q3-sales-once"}
    with (
        httpx.Client(base_url=f"{server}/api/v1", headers=headers, timeout=60) as client,
        ThreadPoolExecutor(max_workers=REQUESTS) as pool,
    ):
        answers = list(pool.map(lambda _: client.post("/exports", json=BODY), range(REQUESTS)))

    assert sorted({answer.status_code for answer in answers}) == [201], [a.text for a in answers[:3]]
    ids = {answer.json()["data"]["id"] for answer in answers}
    assert len(ids) == 1
    with sessions() as session:
        mine = select(DataExport.id).where(DataExport.created_by == manager.id)
        assert [str(export_id) for export_id in session.scalars(mine)] == list(ids)
        created = select(func.count()).where(
            AuditLog.action == "export_created", AuditLog.resource_id.in_(list(ids))
        )
        assert session.scalar(created) == 1
