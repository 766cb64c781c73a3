"""The catalog against both demo warehouses: schemas, SQL files, filters and sort order."""

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from flows.catalog.definitions import CATALOG, get_definition
from flows.catalog.query import build_query
from flows.errors import InvalidInputError, TerminalError
from flows.pipeline.extract import conform_batch, stream_batches
from flows.pipeline.sources import Source, SourceKind, duckdb_connection, postgres_connection
from flows.vocabulary import ExportType

BATCH_ROWS = 700
EXPORT_TYPES = list(ExportType)
BASE_TABLES = {
    ExportType.SALES: "sales",
    ExportType.INVENTORY: "inventory",
    ExportType.CUSTOMERS: "customers",
    ExportType.STAFF: "employees",
    ExportType.FINANCIAL: "ledger_entries",
    ExportType.MARKETING: "marketing_campaigns",
    ExportType.ATTENDANCE: "attendance",
    ExportType.PAYROLL: "payroll",
}
TABLE_COUNTS_SQL = """
SELECT 'regions', COUNT(*) FROM regions UNION ALL
SELECT 'stores', COUNT(*) FROM stores UNION ALL
SELECT 'products', COUNT(*) FROM products UNION ALL
SELECT 'customers', COUNT(*) FROM customers UNION ALL
SELECT 'employees', COUNT(*) FROM employees UNION ALL
SELECT 'marketing_campaigns', COUNT(*) FROM marketing_campaigns UNION ALL
SELECT 'sales', COUNT(*) FROM sales UNION ALL
SELECT 'inventory', COUNT(*) FROM inventory UNION ALL
SELECT 'attendance', COUNT(*) FROM attendance UNION ALL
SELECT 'payroll', COUNT(*) FROM payroll UNION ALL
SELECT 'ledger_entries', COUNT(*) FROM ledger_entries UNION ALL
SELECT 'warehouse_meta', COUNT(*) FROM warehouse_meta
"""


def fetch_rows(source: Source, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Run test SQL written with `?` placeholders on either engine."""
    if source.kind is SourceKind.DUCKDB:
        with duckdb_connection(source, read_only=True) as connection:
            return connection.execute(sql, list(params)).fetchall()
    with postgres_connection(source) as connection:
        return connection.execute(sql.replace("?", "%s"), params).fetchall()


def fetch_value(source: Source, sql: str, params: Sequence[object] = ()) -> Any:
    """The first value of the first row."""
    return fetch_rows(source, sql, params)[0][0]


def table_counts(source: Source) -> dict[str, int]:
    return dict(fetch_rows(source, TABLE_COUNTS_SQL))


def export_table(source: Source, export_type: ExportType, **options: Any) -> pa.Table:
    """Build, stream and collect one export, checking every batch against the catalog."""
    query = build_query(export_type, dialect=source.kind, **options)
    batches = list(stream_batches(source, query, batch_rows=BATCH_ROWS))
    for batch in batches:
        assert batch.schema.equals(query.arrow_schema, check_metadata=True)
        assert batch.num_rows <= BATCH_ROWS
    return pa.Table.from_batches(batches, schema=query.arrow_schema)


def every_column(export_type: ExportType) -> list[str]:
    return list(CATALOG[export_type].column_names)


@pytest.mark.parametrize("export_type", EXPORT_TYPES)
def test_export_has_catalog_schema_and_every_row(warehouse: Source, export_type: ExportType):
    definition = CATALOG[export_type]
    table = export_table(warehouse, export_type, columns=every_column(export_type))

    assert table.schema.equals(definition.arrow_schema(), check_metadata=True)
    assert table.num_rows == table_counts(warehouse)[BASE_TABLES[export_type]] > 0
    keys = table.column(definition.key_column)
    assert keys.null_count == 0
    assert len(set(keys.to_pylist())) == table.num_rows
    all_null = [name for name in table.column_names if table.column(name).null_count == len(table)]
    assert all_null == []


@pytest.mark.parametrize("export_type", EXPORT_TYPES)
def test_engines_return_identical_exports(
    duckdb_warehouse: Source, postgres_warehouse: Source, export_type: ExportType
):
    columns = every_column(export_type)
    from_duckdb = export_table(duckdb_warehouse, export_type, columns=columns)
    from_postgres = export_table(postgres_warehouse, export_type, columns=columns)
    assert from_duckdb.equals(from_postgres)


@pytest.mark.parametrize("export_type", EXPORT_TYPES)
def test_sql_file_outputs_exactly_the_catalog_columns(warehouse: Source, export_type: ExportType):
    definition = CATALOG[export_type]
    sql = "SELECT * FROM (\n" + definition.load_sql() + "\n) AS src LIMIT 0"
    assert output_columns(warehouse, sql) == list(definition.column_names)


def output_columns(source: Source, sql: str) -> list[str]:
    if source.kind is SourceKind.DUCKDB:
        with duckdb_connection(source, read_only=True) as connection:
            return [column[0] for column in connection.execute(sql).description or ()]
    with postgres_connection(source) as connection:
        return [column.name for column in connection.execute(sql).description or ()]


def test_unknown_export_type_names_the_field():
    assert get_definition("sales") is CATALOG[ExportType.SALES]
    with pytest.raises(InvalidInputError) as error:
        get_definition("salaries")
    assert error.value.field == "export_type"


def test_date_range_narrows_inclusively(warehouse: Source):
    days = [day for (day,) in fetch_rows(warehouse, "SELECT DISTINCT sale_date FROM sales")]
    days.sort()
    start, end = days[len(days) // 4], days[len(days) // 2]
    expected = fetch_value(
        warehouse, "SELECT COUNT(*) FROM sales WHERE sale_date BETWEEN ? AND ?", [start, end]
    )
    table = export_table(
        warehouse,
        ExportType.SALES,
        columns=["sale_date"],
        filters={"date_from": start.isoformat(), "date_to": end.isoformat()},
    )
    dates = table.column("sale_date").to_pylist()
    assert len(dates) == expected
    assert 0 < expected < table_counts(warehouse)["sales"]
    assert (min(dates), max(dates)) == (start, end)


def test_date_to_covers_its_whole_day(warehouse: Source):
    day = fetch_value(warehouse, "SELECT MIN(sale_date) FROM sales")
    expected = fetch_value(warehouse, "SELECT COUNT(*) FROM sales WHERE sale_date = ?", [day])
    table = export_table(warehouse, ExportType.SALES, filters={"date_from": str(day), "date_to": str(day)})
    assert table.num_rows == expected > 0


FILTER_CASES = [
    pytest.param(
        ExportType.SALES,
        {"region": ["EMEA", "APAC"], "status": "completed", "channel": {"not_in": ["online"]}},
        "SELECT COUNT(*) FROM sales"
        " WHERE region IN ('EMEA', 'APAC') AND status = 'completed' AND channel <> 'online'",
        id="sales-enums",
    ),
    pytest.param(
        ExportType.SALES,
        {"category": "electronics"},
        "SELECT COUNT(*) FROM sales JOIN products USING (product_id) WHERE products.category = 'electronics'",
        id="sales-joined-enum",
    ),
    pytest.param(
        ExportType.SALES,
        {"total_amount": {"gte": 100, "lt": "500.50"}, "quantity": {"between": [2, 4]}},
        "SELECT COUNT(*) FROM sales"
        " WHERE total_amount >= 100 AND total_amount < 500.50 AND quantity BETWEEN 2 AND 4",
        id="sales-numeric-ranges",
    ),
    pytest.param(
        ExportType.CUSTOMERS,
        {"is_active": False, "segment": {"in": ["enterprise", "government"]}},
        "SELECT COUNT(*) FROM customers WHERE NOT is_active AND segment IN ('enterprise', 'government')",
        id="customers-boolean",
    ),
    pytest.param(
        ExportType.INVENTORY,
        {"needs_reorder": True, "stock_value": {"gt": 0}},
        "SELECT COUNT(*) FROM inventory"
        " WHERE quantity_on_hand - quantity_reserved <= reorder_level AND stock_value > 0",
        id="inventory-derived-boolean",
    ),
    pytest.param(
        ExportType.FINANCIAL,
        {"account_category": "expense", "is_reconciled": True, "amount": {"lte": 0}},
        "SELECT COUNT(*) FROM ledger_entries"
        " WHERE account_category = 'expense' AND is_reconciled AND amount <= 0",
        id="financial",
    ),
    pytest.param(
        ExportType.STAFF,
        {"department": {"not_in": ["sales"]}, "annual_salary": {"gte": 50000}},
        "SELECT COUNT(*) FROM employees WHERE department <> 'sales' AND annual_salary >= 50000",
        id="staff",
    ),
    pytest.param(
        ExportType.ATTENDANCE,
        {"attendance_status": ["present", "late"], "overtime_hours": {"gt": 0}},
        "SELECT COUNT(*) FROM attendance"
        " WHERE attendance_status IN ('present', 'late') AND overtime_hours > 0",
        id="attendance",
    ),
]


@pytest.mark.parametrize(("export_type", "filters", "independent_count"), FILTER_CASES)
def test_filters_match_an_independent_count(
    warehouse: Source, export_type: ExportType, filters: Mapping[str, object], independent_count: str
):
    expected = fetch_value(warehouse, independent_count)
    table = export_table(warehouse, export_type, filters=filters)
    assert table.num_rows == expected
    assert 0 < expected < table_counts(warehouse)[BASE_TABLES[export_type]]


def test_text_filter_binds_the_exact_value(warehouse: Source):
    order_number = fetch_value(warehouse, "SELECT MIN(order_number) FROM sales")
    table = export_table(
        warehouse, ExportType.SALES, columns=["order_number"], filters={"order_number": order_number}
    )
    assert table.num_rows > 0
    assert set(table.column("order_number").to_pylist()) == {order_number}


def test_sort_order_and_key_tiebreak(warehouse: Source):
    table = export_table(
        warehouse,
        ExportType.SALES,
        columns=["total_amount", "sale_id"],
        sort_by="total_amount",
        sort_order="desc",
    )
    rows = list(zip(*table.to_pydict().values(), strict=True))
    assert rows == sorted(rows, key=lambda row: (-row[0], row[1]))


def test_default_sort_is_newest_first(warehouse: Source):
    table = export_table(warehouse, ExportType.SALES, columns=["sale_date", "sale_id"])
    rows = list(zip(*table.to_pydict().values(), strict=True))
    assert rows == sorted(rows, key=lambda row: (-row[0].toordinal(), row[1]))


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
def test_nulls_sort_last_on_both_engines(warehouse: Source, sort_order: str):
    table = export_table(
        warehouse,
        ExportType.STAFF,
        columns=["termination_date"],
        sort_by="termination_date",
        sort_order=sort_order,
    )
    values: list[date | None] = table.column("termination_date").to_pylist()
    present = [value for value in values if value is not None]
    assert 0 < len(present) < len(values)
    assert values == present + [None] * (len(values) - len(present))
    assert present == sorted(present, reverse=sort_order == "desc")


def test_decimal_columns_keep_their_scale(duckdb_warehouse: Source):
    table = export_table(duckdb_warehouse, ExportType.MARKETING, columns=["ctr_percent", "budget"])
    ctr = [value for value in table.column("ctr_percent").to_pylist() if value is not None]
    assert all(isinstance(value, Decimal) and value.as_tuple().exponent == -4 for value in ctr)


def test_filters_sorts_and_defaults_name_catalog_columns():
    for definition in CATALOG.values():
        names = set(definition.column_names)
        assert set(definition.default_columns) <= names
        assert {item.name for item in definition.filters} <= names
        assert definition.date_column in {item.name for item in definition.filters}
        assert "notes" not in definition.sortable_columns


def test_rows_stream_in_bounded_batches(warehouse: Source):
    query = build_query(ExportType.SALES, dialect=warehouse.kind, columns=["sale_id"])
    sizes = [batch.num_rows for batch in stream_batches(warehouse, query, batch_rows=BATCH_ROWS)]
    assert len(sizes) > 1
    assert max(sizes) <= BATCH_ROWS
    assert sum(sizes) == table_counts(warehouse)["sales"]


def test_a_query_runs_only_on_its_own_kind_of_source(duckdb_warehouse: Source):
    query = build_query(ExportType.SALES, dialect=SourceKind.POSTGRESQL)
    with pytest.raises(ValueError, match="built for postgresql"):
        next(stream_batches(duckdb_warehouse, query))


@pytest.mark.parametrize(
    ("field", "values"),
    [
        pytest.param(pa.field("x", pa.decimal128(18, 2)), [Decimal("1.005")], id="lost-scale"),
        pytest.param(pa.field("x", pa.decimal128(18, 2)), [1.5], id="float-as-decimal"),
        pytest.param(pa.field("x", pa.int64()), [2**63], id="int-overflow"),
        pytest.param(pa.field("x", pa.int64()), ["1"], id="string-as-int"),
        pytest.param(
            pa.field("x", pa.decimal128(18, 2)),
            pa.array([Decimal(10**20)], pa.decimal128(38, 2)),
            id="arrow-precision",
        ),
        pytest.param(pa.field("x", pa.int64()), pa.array([1.5]), id="arrow-fraction"),
    ],
)
def test_values_that_do_not_fit_stop_the_export(field: pa.Field, values: object):
    with pytest.raises(TerminalError, match="does not fit"):
        conform_batch(pa.schema([field]), [values])
