"""POST /exports/estimate and the per-format row caps: rows and bytes before an export is made, and an
export over its format's cap refused when it is asked for."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from flows.appdb.models import DataExport
from flows.catalog.query import build_query
from flows.pipeline.extract import expected_rows
from flows.pipeline.one_pass import write_export_file
from flows.pipeline.sources import Source
from flows.render import RenderOptions, renderer_for
from flows.settings import Settings
from flows.vocabulary import ExportFormat, ExportType
from tests.api.conftest import Caller

SIZE_TOLERANCE = 0.25
"""How far the estimated bytes may be from the file's: the sample is the first 1,000 of 3,000 rows,
and compression (Parquet, XLSX) does not grow quite in step with the rows."""


def mine(caller: Caller) -> Any:
    """How many exports the caller has (the session's app databases hold other tests' rows too)."""
    return select(func.count()).select_from(DataExport).where(DataExport.created_by == caller.id)


def estimate(client: TestClient, caller: Caller, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/exports/estimate", json=body, headers=caller.headers)


@pytest.mark.parametrize("export_format", list(ExportFormat))
def test_the_estimate_counts_the_rows_and_comes_near_the_files_size(
    client: TestClient, manager: Caller, duckdb_warehouse: Source, tmp_path: Path, export_format: ExportFormat
) -> None:
    answer = estimate(client, manager, {"export_type": "sales", "format": export_format.value})
    assert answer.status_code == 200, answer.text
    figures = answer.json()["data"]

    query = build_query(ExportType.SALES, dialect=duckdb_warehouse.kind)
    renderer = renderer_for(export_format)
    target = tmp_path / f"sales.{renderer.EXTENSION}"
    written = write_export_file(
        duckdb_warehouse,
        query,
        renderer,
        target,
        RenderOptions(title="estimate"),
        preview_rows=0,
        with_checksum=False,
    )
    assert (figures["rows"], figures["exact"]) == (written.rows, True)
    actual = target.stat().st_size
    assert abs(figures["bytes"] - actual) <= SIZE_TOLERANCE * actual, (figures["bytes"], actual)
    assert figures["allowed"] is True


def test_a_filtered_estimate_counts_only_the_matching_rows(
    client: TestClient, manager: Caller, duckdb_warehouse: Source
) -> None:
    body = {"export_type": "sales", "format": "csv", "filters": {"region": "EMEA"}}
    figures = estimate(client, manager, body).json()["data"]
    query = build_query(ExportType.SALES, dialect=duckdb_warehouse.kind, filters={"region": "EMEA"})
    assert figures["rows"] == expected_rows(duckdb_warehouse, query)[0] > 0


def test_an_estimate_is_checked_like_a_create_and_stores_nothing(
    client: TestClient, manager: Caller, sessions: Any
) -> None:
    wrong = estimate(client, manager, {"export_type": "sales", "format": "csv", "columns": ["no_such"]})
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["field"] == "columns[0]"
    refused = estimate(client, manager, {"export_type": "payroll", "format": "csv"})  # a sensitive type
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["field"] == "export_type"
    with sessions() as session:
        assert session.scalar(mine(manager)) == 0


@pytest.fixture
def capped_client(make_client: Callable[[Settings], TestClient], api_settings: Settings) -> TestClient:
    capped = {ExportFormat.PDF: 100, ExportFormat.EXCEL: 100_000}
    return make_client(api_settings.model_copy(update={"format_max_rows": capped}))


def test_a_pdf_over_its_row_cap_is_refused_naming_the_cap_and_suggesting_csv(
    capped_client: TestClient, manager: Caller, sessions: Any
) -> None:
    body = {"export_name": "All sales", "export_type": "sales", "format": "pdf"}
    refused = capped_client.post("/api/v1/exports", json=body, headers=manager.headers)

    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert error["field"] == "format"
    assert "at most 100 rows" in error["message"]
    assert "csv" in error["message"]
    with sessions() as session:
        assert session.scalar(mine(manager)) == 0
    figures = estimate(capped_client, manager, body).json()["data"]
    assert (figures["max_rows"], figures["allowed"]) == (100, False)
    assert figures["rows"] > 100


def test_an_export_within_its_cap_and_a_format_without_one_are_created(
    capped_client: TestClient, manager: Caller
) -> None:
    few: dict[str, Any] = {"export_name": "One order", "export_type": "sales", "format": "pdf"}
    few["filters"] = {"order_number": "no such order"}
    csv: dict[str, Any] = {"export_name": "All sales", "export_type": "sales", "format": "csv"}
    for body in (few, csv):
        created = capped_client.post("/api/v1/exports", json=body, headers=manager.headers)
        assert created.status_code == 201, created.text
    figures = estimate(capped_client, manager, csv).json()["data"]
    assert (figures["max_rows"], figures["allowed"]) == (None, True)
