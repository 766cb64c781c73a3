"""The query builder: the statement it writes, every refusal naming its field, and injection."""

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from flows.catalog.definitions import CATALOG
from flows.catalog.query import MAX_IN_VALUES, build_query
from flows.errors import InvalidInputError
from flows.pipeline.sources import Source, SourceKind
from flows.vocabulary import ExportType
from tests.catalog.test_definitions import export_table, fetch_value, table_counts

DUCKDB = SourceKind.DUCKDB


def where_and_order(sql: str) -> str:
    """The statement without the type's base SQL, which sits between `FROM (` and `) AS src`."""
    head, rest = sql.split("\nFROM (\n", 1)
    return head + "\n" + rest.split("\n) AS src\n", 1)[1]


@pytest.mark.parametrize(("dialect", "slot"), [(SourceKind.DUCKDB, "?"), (SourceKind.POSTGRESQL, "%s")])
def test_statement_quotes_identifiers_and_binds_values(dialect: SourceKind, slot: str):
    query = build_query(
        "sales",
        dialect=dialect,
        columns=["order_number", "total_amount"],
        filters={
            "date_from": "2024-01-01",
            "date_to": "2024-01-31",
            "region": ["EMEA", "APAC", "EMEA"],
            "total_amount": {"gte": 10, "lt": "100.50"},
            "quantity": {"between": [1, 3.0]},
            "status": {"not_in": ["cancelled"]},
        },
        sort_by="total_amount",
        sort_order="DESC",
    )
    expected = (
        'SELECT "order_number", "total_amount"\n'
        'WHERE "sale_date" >= ? AND "sale_date" <= ? AND "region" IN (?, ?)'
        ' AND "total_amount" >= ? AND "total_amount" < ? AND "quantity" BETWEEN ? AND ?'
        ' AND "status" NOT IN (?)\n'
        'ORDER BY "total_amount" DESC NULLS LAST, "sale_id" ASC NULLS LAST'
    )
    assert where_and_order(query.sql) == expected.replace("?", slot)
    assert query.params == (
        date(2024, 1, 1),
        date(2024, 1, 31),
        "EMEA",
        "APAC",
        Decimal(10),
        Decimal("100.50"),
        1,
        3,
        "cancelled",
    )
    assert [column.name for column in query.columns] == ["order_number", "total_amount"]
    assert query.dialect is dialect
    assert CATALOG[ExportType.SALES].load_sql() in query.sql


def test_defaults_are_the_catalog_defaults():
    definition = CATALOG[ExportType.INVENTORY]
    query = build_query(ExportType.INVENTORY, dialect=DUCKDB)
    assert tuple(column.name for column in query.columns) == definition.default_columns
    assert query.params == ()
    assert "WHERE" not in where_and_order(query.sql)
    assert where_and_order(query.sql).endswith(
        'ORDER BY "snapshot_date" DESC NULLS LAST, "inventory_id" ASC NULLS LAST'
    )


def test_sort_by_alone_sorts_ascending_and_the_key_is_not_repeated():
    query = build_query("sales", dialect=DUCKDB, sort_by="sale_id")
    assert where_and_order(query.sql).endswith('ORDER BY "sale_id" ASC NULLS LAST')


@pytest.mark.parametrize(
    ("filters", "params"),
    [
        ({"quantity": "3"}, (3,)),
        ({"quantity": 3.0}, (3,)),
        ({"total_amount": 10.5}, (Decimal("10.5"),)),
        ({"total_amount": "-0.25"}, (Decimal("-0.25"),)),
        ({"sale_date": date(2024, 2, 29)}, (date(2024, 2, 29),)),
        ({"sale_date": {"between": ["2024-01-01", "2024-01-01"]}}, (date(2024, 1, 1),) * 2),
        ({"order_number": {"in": ["a", "b", "a"]}}, ("a", "b")),
        ({"region": {"eq": "NA"}}, ("NA",)),
    ],
)
def test_values_are_coerced(filters: Mapping[str, object], params: tuple[object, ...]):
    query = build_query("sales", dialect=DUCKDB, filters=filters)
    assert query.params == params
    assert [type(value) for value in query.params] == [type(value) for value in params]


def test_boolean_filter():
    query = build_query("inventory", dialect=DUCKDB, filters={"needs_reorder": {"eq": False}})
    assert query.params == (False,)
    assert '"needs_reorder" = ?' in query.sql


ERROR_CASES: list[Any] = [
    # columns
    ("sales", {"columns": "sale_id"}, "columns"),
    ("sales", {"columns": ["sale_id", "nope"]}, "columns[1]"),
    ("sales", {"columns": ["sale_id", 3]}, "columns[1]"),
    ("sales", {"columns": ["sale_id", "total_amount", "sale_id"]}, "columns[2]"),
    ("staff", {"columns": ["annual_salary", "Email"]}, "columns[1]"),
    # filters: shape and names
    ("sales", {"filters": [("region", "NA")]}, "filters"),
    ("sales", {"filters": {"nope": 1}}, "filters.nope"),
    ("sales", {"filters": {"notes": "x"}}, "filters.notes"),
    ("sales", {"filters": {"Region": "NA"}}, "filters.Region"),
    # operators
    ("sales", {"filters": {"total_amount": {"like": 1}}}, "filters.total_amount.like"),
    ("sales", {"filters": {"total_amount": {}}}, "filters.total_amount"),
    ("sales", {"filters": {"region": {"gt": "NA"}}}, "filters.region.gt"),
    ("sales", {"filters": {"total_amount": [1, 2]}}, "filters.total_amount"),
    ("sales", {"filters": {"sale_date": {"in": ["2024-01-01"]}}}, "filters.sale_date.in"),
    ("inventory", {"filters": {"needs_reorder": {"in": [True]}}}, "filters.needs_reorder.in"),
    # value types
    ("sales", {"filters": {"total_amount": "ten"}}, "filters.total_amount"),
    ("sales", {"filters": {"total_amount": True}}, "filters.total_amount"),
    ("sales", {"filters": {"total_amount": None}}, "filters.total_amount"),
    ("sales", {"filters": {"total_amount": float("nan")}}, "filters.total_amount"),
    ("sales", {"filters": {"total_amount": float("inf")}}, "filters.total_amount"),
    ("sales", {"filters": {"total_amount": "1e3"}}, "filters.total_amount"),
    ("sales", {"filters": {"total_amount": 1e30}}, "filters.total_amount"),
    ("sales", {"filters": {"total_amount": "0.0000000000000000001"}}, "filters.total_amount"),
    ("sales", {"filters": {"quantity": 2.5}}, "filters.quantity"),
    ("sales", {"filters": {"quantity": {"gte": 10**19}}}, "filters.quantity.gte"),
    ("sales", {"filters": {"order_number": 5}}, "filters.order_number"),
    ("sales", {"filters": {"order_number": "x" * 1001}}, "filters.order_number"),
    ("sales", {"filters": {"order_number": "a\x00b"}}, "filters.order_number"),
    ("inventory", {"filters": {"needs_reorder": "true"}}, "filters.needs_reorder"),
    ("inventory", {"filters": {"needs_reorder": 1}}, "filters.needs_reorder"),
    ("sales", {"filters": {"date_from": "2024-02-30"}}, "filters.date_from"),
    ("sales", {"filters": {"date_from": "01/02/2024"}}, "filters.date_from"),
    ("sales", {"filters": {"date_to": "2024-01-01T10:00:00"}}, "filters.date_to"),
    ("sales", {"filters": {"date_from": 20240101}}, "filters.date_from"),
    ("sales", {"filters": {"date_from": None}}, "filters.date_from"),
    ("sales", {"filters": {"sale_date": {"eq": "٢٠٢٤-01-01"}}}, "filters.sale_date.eq"),
    # enum values
    ("sales", {"filters": {"region": "europe"}}, "filters.region"),
    ("sales", {"filters": {"region": "emea"}}, "filters.region"),
    ("sales", {"filters": {"region": ["EMEA", "XX"]}}, "filters.region[1]"),
    ("sales", {"filters": {"region": {"in": ["EMEA", 5]}}}, "filters.region.in[1]"),
    ("staff", {"filters": {"department": {"not_in": ["sales", None]}}}, "filters.department.not_in[1]"),
    # lists
    ("sales", {"filters": {"region": []}}, "filters.region"),
    ("sales", {"filters": {"region": {"not_in": []}}}, "filters.region.not_in"),
    ("sales", {"filters": {"region": {"in": "EMEA"}}}, "filters.region.in"),
    ("sales", {"filters": {"order_number": ["x"] * (MAX_IN_VALUES + 1)}}, "filters.order_number"),
    # ranges
    ("sales", {"filters": {"date_from": "2024-03-01", "date_to": "2024-02-01"}}, "filters.date_to"),
    ("sales", {"filters": {"sale_date": {"gte": "2024-03-01", "lte": "2024-02-01"}}}, "filters.sale_date"),
    ("sales", {"filters": {"total_amount": {"gt": 100, "lt": 10}}}, "filters.total_amount"),
    ("sales", {"filters": {"total_amount": {"between": [100, 10]}}}, "filters.total_amount.between"),
    ("sales", {"filters": {"total_amount": {"between": [1]}}}, "filters.total_amount.between"),
    ("sales", {"filters": {"total_amount": {"between": 5}}}, "filters.total_amount.between"),
    ("sales", {"filters": {"total_amount": {"between": [1, "x"]}}}, "filters.total_amount.between[1]"),
    # sort
    ("sales", {"sort_by": "nope"}, "sort_by"),
    ("sales", {"sort_by": "notes"}, "sort_by"),
    ("sales", {"sort_by": 1}, "sort_by"),
    ("sales", {"sort_by": "sale_id", "sort_order": "up"}, "sort_order"),
    ("sales", {"sort_order": 1}, "sort_order"),
    # export type
    ("salaries", {}, "export_type"),
]


@pytest.mark.parametrize(("export_type", "options", "field"), ERROR_CASES)
def test_bad_input_names_the_field(export_type: str, options: dict[str, Any], field: str):
    with pytest.raises(InvalidInputError) as error:
        build_query(export_type, dialect=DUCKDB, **options)
    assert error.value.field == field
    assert error.value.message


INJECTIONS = [
    "'",
    '"',
    "\\",
    "\\'",
    "sale_id; DROP TABLE sales",
    "'; DROP TABLE sales; --",
    '"; DROP TABLE sales; --',
    "x' OR '1'='1",
    'x" OR "1"="1',
    "sale_id -- comment",
    "sale_id /* comment */",
    "/* */",
    "1 UNION SELECT email FROM customers",
    "' UNION SELECT NULL, NULL --",
    'sale_id" DESC, "email',
    "sale_id\nUNION SELECT 1",
    "?",
    "%s",
    "%(name)s",
    "$1",
    "a\x00b",
    "SALE_ID",
    " sale_id",
    "ünïcode ✓",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_names_is_rejected(payload: str):
    attempts: list[tuple[dict[str, Any], str]] = [
        ({"sort_by": payload}, "sort_by"),
        ({"sort_by": "sale_id", "sort_order": payload}, "sort_order"),
        ({"columns": ["sale_id", payload]}, "columns[1]"),
        ({"filters": {payload: "NA"}}, f"filters.{payload}"),
        ({"filters": {"total_amount": {payload: 1}}}, f"filters.total_amount.{payload}"),
    ]
    for options, field in attempts:
        with pytest.raises(InvalidInputError) as error:
            build_query("sales", dialect=DUCKDB, **options)
        assert error.value.field == field


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_typed_values_is_rejected(payload: str):
    attempts: list[tuple[str, dict[str, Any], str]] = [
        ("sales", {"region": payload}, "filters.region"),
        ("sales", {"region": {"in": ["NA", payload]}}, "filters.region.in[1]"),
        ("sales", {"total_amount": {"gte": payload}}, "filters.total_amount.gte"),
        ("sales", {"quantity": payload}, "filters.quantity"),
        ("sales", {"date_from": payload}, "filters.date_from"),
        ("inventory", {"needs_reorder": payload}, "filters.needs_reorder"),
    ]
    for export_type, filters, field in attempts:
        with pytest.raises(InvalidInputError) as error:
            build_query(export_type, dialect=DUCKDB, filters=filters)
        assert error.value.field == field


def test_injection_in_text_values_is_bound_as_data(warehouse: Source):
    before = table_counts(warehouse)
    sold_sku = fetch_value(
        warehouse, "SELECT MIN(p.sku) FROM sales AS s JOIN products AS p USING (product_id)"
    )
    for payload in INJECTIONS:
        if "\x00" in payload:
            with pytest.raises(InvalidInputError) as error:
                build_query("sales", dialect=warehouse.kind, filters={"order_number": payload})
            assert error.value.field == "filters.order_number"
            continue
        alone = export_table(warehouse, ExportType.SALES, filters={"order_number": payload})
        assert alone.num_rows == 0, payload
        with_real = export_table(
            warehouse,
            ExportType.SALES,
            columns=["sku"],
            filters={"sku": [payload, sold_sku], "order_number": {"not_in": [payload]}},
        )
        assert with_real.num_rows > 0, payload
        assert set(with_real.column("sku").to_pylist()) == {sold_sku}, payload
    assert table_counts(warehouse) == before
