"""`columns: []` (a form with nothing ticked, the seed's default) means the default columns on every
route that takes columns, as an omitted `columns` does; the stored row keeps what was sent."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.catalog.definitions import get_definition
from flows.catalog.query import build_query
from flows.pipeline.sources import SourceKind
from flows.vocabulary import ExportType
from tests.api.conftest import Caller

EXPORTS = "/api/v1/exports"
SALES = {"export_name": "everything", "export_type": "sales", "format": "csv", "columns": []}


@pytest.fixture(autouse=True)
def no_prefect() -> Iterator[None]:
    """Schedules are synced to Prefect when one is configured: here none is (the row is the point)."""
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_no_columns_is_the_default_query() -> None:
    for kind in SourceKind:
        assert build_query(ExportType.SALES, dialect=kind, columns=[]) == build_query(
            ExportType.SALES, dialect=kind
        )


def test_every_route_taking_columns_accepts_an_empty_list(client: TestClient, admin: Caller) -> None:
    headers = admin.headers
    created = _created(client.post(EXPORTS, json=SALES, headers=headers))
    executed = _created(client.post(f"{EXPORTS}/execute", json=SALES, headers=headers))
    by_type = _created(
        client.post(f"{EXPORTS}/execute/sales", json={"format": "json", "columns": []}, headers=headers)
    )
    template = _created(
        client.post(
            f"{EXPORTS}/templates",
            json={"template_name": "all", "export_type": "sales", "format": "csv", "columns": []},
            headers=headers,
        )
    )
    from_template = _created(client.post(EXPORTS, json={"template_id": template["id"]}, headers=headers))
    schedule = _created(
        client.post(
            f"{EXPORTS}/schedules",
            json={
                "schedule_name": "all nightly",
                "export_type": "sales",
                "format": "csv",
                "frequency": "daily",
                "columns": [],
            },
            headers=headers,
        )
    )
    assert created["columns"] == executed["columns"] == template["columns"] == schedule["columns"] == []
    assert from_template["columns"] == []
    # Execute-by-type names the columns it exports, left out or empty alike.
    assert by_type["columns"] == list(get_definition(ExportType.SALES).default_columns)
