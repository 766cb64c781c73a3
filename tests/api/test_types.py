"""GET /exports/types: the catalog as each role may use it."""

from typing import Any

from fastapi.testclient import TestClient

from flows.vocabulary import ExportType
from tests.api.conftest import Caller

URL = "/api/v1/exports/types"


def types_of(client: TestClient, caller: Caller) -> dict[str, dict[str, Any]]:
    response = client.get(URL, headers=caller.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return {item["export_type"]: item for item in body["data"]}


def test_managers_do_not_see_sensitive_types(
    client: TestClient, manager: Caller, admin: Caller, super_admin: Caller
) -> None:
    everything = [member.value for member in ExportType]

    assert list(types_of(client, manager)) == [
        name for name in everything if name not in ("staff", "payroll")
    ]
    assert list(types_of(client, admin)) == everything
    privileged = types_of(client, super_admin)
    assert list(privileged) == everything
    assert privileged["payroll"]["sensitive"] is True
    assert privileged["sales"]["sensitive"] is False


def test_a_type_lists_its_columns_filters_sort_and_formats(client: TestClient, manager: Caller) -> None:
    sales = types_of(client, manager)["sales"]

    assert sales["label"] == "Sales"
    assert sales["description"]
    columns = {column["name"]: column for column in sales["columns"]}
    assert columns["total_amount"] == {
        "name": "total_amount",
        "label": "Total",
        "type": "decimal",
        "format": "currency",
        "sortable": True,
        "allowed_values": [],
    }
    assert columns["region"]["allowed_values"] == ["NA", "LATAM", "EMEA", "APAC"]
    assert columns["notes"]["sortable"] is False
    assert columns["sold_at"]["type"] == "timestamp"
    assert set(sales["default_columns"]) <= set(columns)
    assert "total_amount" in sales["default_columns"]
    filters = {item["name"]: item for item in sales["filters"]}
    assert filters["sale_date"] == {
        "name": "sale_date",
        "kind": "date",
        "operators": ["eq", "gt", "gte", "lt", "lte", "between"],
    }
    assert filters["region"] == {"name": "region", "kind": "enum", "operators": ["eq", "in", "not_in"]}
    assert filters["order_number"]["kind"] == "text"
    assert filters["total_amount"]["kind"] == "number"
    assert "notes" not in filters
    assert sales["date_column"] == "sale_date"
    assert sales["default_sort"] == {"column": "sale_date", "direction": "desc"}
    assert sales["formats"] == ["csv", "excel", "pdf", "json", "parquet"]


def test_boolean_filters_take_only_eq(client: TestClient, manager: Caller) -> None:
    inventory = types_of(client, manager)["inventory"]

    filters = {item["name"]: item for item in inventory["filters"]}
    assert filters["needs_reorder"] == {"name": "needs_reorder", "kind": "boolean", "operators": ["eq"]}


def test_types_need_a_bearer_token(client: TestClient) -> None:
    response = client.get(URL)

    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] == "authorization"
