"""Injection corpus: hostile query parameters and body fields are 400s naming the field, never 500s, and
leave the data as it was; SQL in free-text values is stored as plain text."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.models import Base, DataExport
from tests.api.conftest import Caller

EXPORTS = "/api/v1/exports"
VALID_EXPORT: dict[str, Any] = {"export_name": "Sales", "export_type": "sales", "format": "csv"}
DROP_TABLES = "'; DROP TABLE data_exports; DROP TABLE users; --"
LONG = "x" * 100_000
LONG_QUERY = "x" * 20_000  # httpx refuses URLs with a query above 64 KiB

QUERY_CASES: list[tuple[str, str, str]] = [
    ("sort_by", "created_at; DROP TABLE data_exports", "sort_by"),
    ("sort_by", "created_at DESC, (SELECT 1)", "sort_by"),
    ("sort_by", "id", "sort_by"),
    ("sort_by", "password_hash", "sort_by"),
    ("sort_by", '"created_at"', "sort_by"),
    ("sort_by", "created_at--", "sort_by"),
    ("sort_by", "\uff43reated_at", "sort_by"),  # fullwidth c
    ("sort_by", "created\u200b_at", "sort_by"),  # zero-width space
    ("sort_by", "created\x00_at", "sort_by"),
    ("sort_by", LONG_QUERY, "sort_by"),
    ("sort_by", "", "sort_by"),
    ("sort_order", "desc; DROP TABLE users", "sort_order"),
    ("sort_order", "DESC NULLS FIRST", "sort_order"),
    ("sort_order", "asc\x00", "sort_order"),
    ("sort_order", "\u0430sc", "sort_order"),  # Cyrillic a
    ("type", "sales' OR '1'='1", "type"),
    ("type", "sales\x00", "type"),
    ("type", LONG_QUERY, "type"),
    ("status", "completed' OR 1=1 --", "status"),
    ("status", "COMPLETED", "status"),
    ("created_by", "1' OR '1'='1", "created_by"),
    ("created_by", "00000000-0000-0000-0000-000000000000' OR 1=1 --", "created_by"),
    ("created_by", "\x00", "created_by"),
    ("created_by", LONG_QUERY, "created_by"),
    ("date_from", "2024-01-01' OR 1=1 --", "date_from"),
    ("date_from", "2024-01-01; DROP TABLE data_exports", "date_from"),
    ("date_from", "now()", "date_from"),
    ("date_from", "\x00", "date_from"),
    ("date_from", "\uff19\uff19\uff19\uff19-01-01", "date_from"),  # fullwidth digits
    ("date_from", "9" * 5000, "date_from"),
]


def _with(**changes: Any) -> dict[str, Any]:
    return {**VALID_EXPORT, **changes}


BODY_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("column with sql", _with(columns=["order_number; DROP TABLE data_exports"]), "columns[0]"),
    ("column with quotes", _with(columns=['order_number" FROM users --']), "columns[0]"),
    ("second column bad", _with(columns=["order_number", "*"]), "columns[1]"),
    ("column homoglyph", _with(columns=["\u043erder_number"]), "columns[0]"),  # Cyrillic o
    ("column zero-width", _with(columns=["order\u200b_number"]), "columns[0]"),
    ("column NUL", _with(columns=["order_number\x00"]), "columns[0]"),
    ("column long", _with(columns=[LONG]), "columns[0]"),
    ("columns a string", _with(columns="order_number, (SELECT 1)"), "columns"),
    ("columns an object", _with(columns={"order_number": True}), "columns"),
    ("column an object", _with(columns=[{"name": "order_number"}]), "columns[0]"),
    ("column a list", _with(columns=["order_number", ["sku"]]), "columns[1]"),
    ("filter key with sql", _with(filters={"region' OR '1'='1": "NA"}), "filters.region' OR '1'='1"),
    ("filter key quoted", _with(filters={'"region"': "NA"}), 'filters."region"'),
    ("filter key homoglyph", _with(filters={"r\u0435gion": "NA"}), "filters.r\u0435gion"),
    ("filter key NUL", _with(filters={"region\x00": "NA"}), "filters.region\x00"),
    ("enum value with sql", _with(filters={"region": "NA' OR '1'='1"}), "filters.region"),
    ("enum value unicode", _with(filters={"region": "\uff2e\uff21"}), "filters.region"),  # fullwidth NA
    ("enum list with object", _with(filters={"region": ["NA", {"$ne": None}]}), "filters.region[1]"),
    ("number value with sql", _with(filters={"customer_id": "1; DROP TABLE users"}), "filters.customer_id"),
    ("number value array", _with(filters={"customer_id": {"eq": [1, 2]}}), "filters.customer_id.eq"),
    ("number value huge", _with(filters={"total_amount": {"gt": "9" * 5000}}), "filters.total_amount.gt"),
    ("number value NaN", _with(filters={"total_amount": {"gt": "NaN"}}), "filters.total_amount.gt"),
    (
        "date value with sql",
        _with(filters={"sale_date": {"gte": "2024-01-01'; --"}}),
        "filters.sale_date.gte",
    ),
    ("date range with sql", _with(filters={"date_from": "2024-01-01 OR 1=1"}), "filters.date_from"),
    ("text value NUL", _with(filters={"order_number": "SO-1\x00' OR 1=1"}), "filters.order_number"),
    ("text value long", _with(filters={"order_number": LONG}), "filters.order_number"),
    ("text value object", _with(filters={"order_number": {"eq": {"$gt": ""}}}), "filters.order_number.eq"),
    ("unknown operator", _with(filters={"order_number": {"$where": "1=1"}}), "filters.order_number.$where"),
    ("operator sql", _with(filters={"total_amount": {"gt OR 1=1": 1}}), "filters.total_amount.gt OR 1=1"),
    ("filters a string", _with(filters="region = 'NA' OR 1=1"), "filters"),
    ("filters a list", _with(filters=[{"region": "NA"}]), "filters"),
    ("name NUL", _with(export_name="Sales\x00; DROP TABLE users"), "export_name"),
    ("name control", _with(export_name="Sales\x1b[31m"), "export_name"),
    ("name long", _with(export_name=LONG), "export_name"),
    ("name blank", _with(export_name=" \u3000 "), "export_name"),
    ("name an object", _with(export_name={"$gt": ""}), "export_name"),
    ("name a list", _with(export_name=["Sales"]), "export_name"),
    ("recipient with sql", _with(recipients=["a@example.com'; DROP TABLE users; --"]), "recipients[0]"),
    (
        "recipient header injection",
        _with(recipients=["a@example.com\r\nBcc: all@example.com"]),
        "recipients[0]",
    ),
    ("recipient NUL", _with(recipients=["ok@example.com", "a\x00@example.com"]), "recipients[1]"),
    ("recipient long", _with(recipients=[LONG + "@example.com"]), "recipients[0]"),
    ("recipient an object", _with(recipients=[{"email": "a@example.com"}]), "recipients[0]"),
    ("recipients a string", _with(recipients="a@example.com"), "recipients"),
    ("recipients too many", _with(recipients=[f"u{index}@example.com" for index in range(21)]), "recipients"),
    ("type with sql", _with(export_type="sales; DROP TABLE data_exports"), "export_type"),
    ("format a list", _with(format=["csv"]), "format"),
]


def _total(client: TestClient, caller: Caller) -> int:
    response = client.get(EXPORTS, headers=caller.headers)
    assert response.status_code == 200, response.text
    total: int = response.json()["pagination"]["total"]
    return total


def assert_refused(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert [(item["field"], item["code"]) for item in body["errors"]] == [(field, "validation_error")]


@pytest.mark.parametrize(("parameter", "value", "field"), QUERY_CASES)
def test_hostile_query_parameters_are_400s_naming_them(
    client: TestClient, super_admin: Caller, parameter: str, value: str, field: str
) -> None:
    before = _total(client, super_admin)

    response = client.get(EXPORTS, params={parameter: value}, headers=super_admin.headers)

    assert_refused(response, field)
    assert _total(client, super_admin) == before


def test_a_repeated_scalar_parameter_is_refused_by_its_last_value(
    client: TestClient, super_admin: Caller
) -> None:
    response = client.get(
        EXPORTS,
        params=[("sort_by", "created_at"), ("sort_by", "1; DROP TABLE users")],
        headers=super_admin.headers,
    )

    assert_refused(response, "sort_by")


@pytest.mark.parametrize(
    ("body", "field"), [case[1:] for case in BODY_CASES], ids=[case[0] for case in BODY_CASES]
)
def test_hostile_body_fields_are_400s_naming_them(
    client: TestClient, super_admin: Caller, body: dict[str, Any], field: str
) -> None:
    before = _total(client, super_admin)

    response = client.post(EXPORTS, json=body, headers=super_admin.headers)

    assert_refused(response, field)
    assert _total(client, super_admin) == before


def test_sql_in_free_text_is_stored_as_text_and_harms_nothing(
    client: TestClient, super_admin: Caller, sessions: sessionmaker[Session]
) -> None:
    """A name, a text filter and bidi control characters may be anywhere in them: they are bound
    values, stored and returned verbatim, and every table is still there afterwards."""
    name = f"Robert'); {DROP_TABLES}"
    body = _with(export_name=name, filters={"order_number": DROP_TABLES, "sku": "\u202eevil\u202c"})

    response = client.post(EXPORTS, json=body, headers=super_admin.headers)

    assert response.status_code == 201, response.text
    created = response.json()["data"]
    assert created["export_name"] == name
    assert created["filters"] == {"order_number": DROP_TABLES, "sku": "\u202eevil\u202c"}
    with sessions() as session:
        stored = session.scalars(select(DataExport).where(DataExport.id == uuid.UUID(created["id"]))).one()
        assert (stored.export_name, stored.filters["order_number"]) == (name, DROP_TABLES)
        engine = session.get_bind()
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    read = client.get(f"{EXPORTS}/{created['id']}", headers=super_admin.headers)
    assert read.status_code == 200, read.text
    assert read.json()["data"]["export_name"] == name
