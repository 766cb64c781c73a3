"""The demo warehouse generator, against real DuckDB files and real PostgreSQL databases."""

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from flows.demo_warehouse import (
    create_schema,
    demo_row_counts,
    generate_demo_data,
    warehouse_is_populated,
)
from flows.errors import InvalidInputError
from flows.pipeline.sources import Source, SourceKind, duckdb_connection, parse_source, postgres_connection

TABLES = tuple(demo_row_counts(1))
DST_WINDOWS = (
    (datetime(2025, 3, 30, 0, 30, tzinfo=UTC), timedelta(hours=1)),
    (datetime(2025, 10, 26, 0, 30, tzinfo=UTC), timedelta(hours=1)),
    (datetime(2025, 3, 9, 6, 0, tzinfo=UTC), timedelta(hours=2)),
    (datetime(2025, 11, 2, 6, 0, tzinfo=UTC), timedelta(hours=2)),
)
SCRIPTS = {
    "accents": re.compile(r"Zoë|José|Müller"),
    "cyrillic": re.compile(r"[\u0400-\u04ff]"),
    "cjk": re.compile(r"[\u4e00-\u9fff]"),
    "hangul": re.compile(r"[\uac00-\ud7af]"),
    "arabic": re.compile(r"[\u0600-\u06ff]"),
    "hebrew": re.compile(r"[\u0590-\u05ff]"),
    "emoji": re.compile(r"[\U0001f300-\U0001faff]"),
}


def _fetch_each(source: Source, queries: Iterable[str]) -> list[list[tuple[Any, ...]]]:
    """The rows of each query, all run on one connection."""
    if source.kind is SourceKind.DUCKDB:
        with duckdb_connection(source, read_only=True) as duck:
            return [duck.execute(query).fetchall() for query in queries]
    with postgres_connection(source) as postgres:
        return [postgres.execute(query).fetchall() for query in queries]


def _fetch(source: Source, query: str) -> list[tuple[Any, ...]]:
    return _fetch_each(source, [query])[0]


def _column(source: Source, table: str, column: str) -> list[Any]:
    return [row[0] for row in _fetch(source, f"SELECT {column} FROM {table}")]


def _row_counts(source: Source) -> dict[str, int]:
    results = _fetch_each(source, (f"SELECT count(*) FROM {table}" for table in TABLES))
    return {table: rows[0][0] for table, rows in zip(TABLES, results, strict=True)}


def _content_hashes(source: Source) -> dict[str, str]:
    """A hash of each table's rows in key order (warehouse_meta without its generated_at)."""
    queries = (
        f"SELECT {'seed, base_rows' if table == 'warehouse_meta' else '*'} FROM {table} ORDER BY 1"
        for table in TABLES
    )
    results = _fetch_each(source, queries)
    return {
        table: hashlib.sha256(repr(rows).encode()).hexdigest()
        for table, rows in zip(TABLES, results, strict=True)
    }


@pytest.fixture(params=[SourceKind.DUCKDB, SourceKind.POSTGRESQL], ids=["duckdb", "postgresql"])
def empty_source(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_postgres_database: Callable[[str], str],
) -> Source:
    """A warehouse location with nothing in it yet, once per source kind."""
    if request.param is SourceKind.DUCKDB:
        return parse_source(str(tmp_path / "fresh" / "warehouse.duckdb"))
    return parse_source(make_postgres_database(f"fresh_{uuid.uuid4().hex[:8]}"))


def test_tables_have_rows_in_proportion(warehouse: Source) -> None:
    assert _row_counts(warehouse) == {
        "regions": 4,
        "stores": 40,
        "products": 50,
        "customers": 300,
        "employees": 15,
        "marketing_campaigns": 30,
        "sales": 3000,
        "inventory": 600,
        "attendance": 1500,
        "payroll": 150,
        "ledger_entries": 1500,
        "warehouse_meta": 1,
    }


def test_second_run_replaces_the_data_and_reports_it(empty_source: Source) -> None:
    assert not warehouse_is_populated(empty_source)
    generate_demo_data(empty_source, rows=100)
    report = generate_demo_data(empty_source, rows=100)

    counts = _row_counts(empty_source)
    assert counts == dict(report.table_rows)
    assert counts["sales"] == 100
    assert counts["warehouse_meta"] == 1
    assert min(counts.values()) >= 1
    assert report.total_rows == sum(counts.values())
    assert report.seconds > 0
    assert warehouse_is_populated(empty_source)
    assert _fetch(empty_source, "SELECT seed, base_rows FROM warehouse_meta") == [(20260101, 100)]


def test_create_schema_alone_is_not_populated(empty_source: Source) -> None:
    create_schema(empty_source)
    create_schema(empty_source)

    assert _row_counts(empty_source) == dict.fromkeys(TABLES, 0)
    assert not warehouse_is_populated(empty_source)


def test_missing_duckdb_file_is_not_populated_and_not_created(tmp_path: Path) -> None:
    source = parse_source(str(tmp_path / "absent.duckdb"))

    assert not warehouse_is_populated(source)
    assert not source.duckdb_path.exists()


@pytest.mark.parametrize("rows", [0, -5])
def test_rows_below_one_are_rejected(tmp_path: Path, rows: int) -> None:
    source = parse_source(str(tmp_path / "warehouse.duckdb"))

    with pytest.raises(InvalidInputError) as raised:
        generate_demo_data(source, rows=rows)

    assert raised.value.field == "rows"
    assert not source.duckdb_path.exists()


def test_seed_must_fit_the_meta_column(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as raised:
        generate_demo_data(parse_source(str(tmp_path / "w.duckdb")), rows=10, seed=2**31)

    assert raised.value.field == "seed"


def test_same_rows_and_seed_give_the_same_data(tmp_path: Path) -> None:
    first, second, other_seed = (parse_source(str(tmp_path / f"{n}.duckdb")) for n in "abc")
    generate_demo_data(first, rows=400)
    generate_demo_data(second, rows=400)
    generate_demo_data(other_seed, rows=400, seed=7)

    hashes = _content_hashes(first)
    assert hashes == _content_hashes(second)
    assert hashes["sales"] != _content_hashes(other_seed)["sales"]


@pytest.mark.parametrize("table", ["sales", "customers", "ledger_entries", "attendance"])
def test_duckdb_and_postgresql_hold_the_same_rows(
    duckdb_warehouse: Source, postgres_warehouse: Source, table: str
) -> None:
    query = f"SELECT * FROM {table} ORDER BY 1"
    in_duckdb = _fetch(duckdb_warehouse, query)

    assert in_duckdb == _fetch(postgres_warehouse, query)
    values = {type(value) for row in in_duckdb for value in row}
    assert {type(None), datetime, Decimal} <= values
    if table == "sales":
        notes = {row[-1] for row in in_duckdb}
        assert {None, ""} <= notes


@pytest.mark.parametrize(
    ("child", "column", "parent", "key"),
    [
        ("sales", "customer_id", "customers", "customer_id"),
        ("sales", "product_id", "products", "product_id"),
        ("sales", "store_id", "stores", "store_id"),
        ("sales", "region", "regions", "region"),
        ("inventory", "product_id", "products", "product_id"),
        ("inventory", "store_id", "stores", "store_id"),
        ("customers", "region", "regions", "region"),
        ("employees", "manager_id", "employees", "employee_id"),
        ("attendance", "employee_id", "employees", "employee_id"),
        ("payroll", "employee_id", "employees", "employee_id"),
        ("marketing_campaigns", "owner_employee_id", "employees", "employee_id"),
    ],
)
def test_references_point_at_existing_rows(
    warehouse: Source, child: str, column: str, parent: str, key: str
) -> None:
    orphans = _fetch(
        warehouse,
        f"SELECT count(*) FROM {child} AS c LEFT JOIN {parent} AS p ON c.{column} = p.{key} "
        f"WHERE c.{column} IS NOT NULL AND p.{key} IS NULL",
    )
    assert orphans == [(0,)]


def test_sales_repeat_their_store_and_product(warehouse: Source) -> None:
    mismatches = _fetch(
        warehouse,
        "SELECT count(*) FROM sales AS s "
        "JOIN stores AS st ON s.store_id = st.store_id "
        "JOIN products AS p ON s.product_id = p.product_id "
        "WHERE s.region <> st.region OR s.unit_price <> p.unit_price",
    )
    assert mismatches == [(0,)]


def test_every_nullable_column_has_nulls(warehouse: Source) -> None:
    nullable = _fetch(
        warehouse,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_nullable = 'YES' "
        "ORDER BY table_name, column_name",
    )
    columns = [(table, column) for table, column in nullable if table in TABLES]
    null_counts = _fetch_each(
        warehouse, (f"SELECT count(*) - count({column}) FROM {table}" for table, column in columns)
    )
    without_nulls = [column for column, [(nulls,)] in zip(columns, null_counts, strict=True) if nulls == 0]
    assert len(columns) > 20
    assert without_nulls == []


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("customers", "first_name"),
        ("customers", "last_name"),
        ("sales", "notes"),
        ("ledger_entries", "description"),
    ],
)
def test_text_holds_every_script_and_formula_prefix(warehouse: Source, table: str, column: str) -> None:
    values = [value for value in _column(warehouse, table, column) if value]

    missing_scripts = [name for name, script in SCRIPTS.items() if not any(map(script.search, values))]
    missing_prefixes = [p for p in "=+-@" if not any(value.startswith(p) for value in values)]
    assert missing_scripts == []
    assert missing_prefixes == []
    assert any("," in value for value in values)
    assert any('"' in value for value in values)


@pytest.mark.parametrize(("table", "column"), [("sales", "notes"), ("ledger_entries", "description")])
def test_free_text_breaks_csv_and_spreadsheets(warehouse: Source, table: str, column: str) -> None:
    values = _column(warehouse, table, column)
    texts = [value for value in values if value is not None]

    assert None in values
    assert "" in texts
    assert any("\r\n" in text for text in texts)
    assert any("\n" in text.replace("\r\n", "") for text in texts)
    assert any(len(text) > 10_000 for text in texts)
    assert "=SUM(A1:A9)" in texts
    assert "@channel" in texts


def test_amounts_go_negative_for_refunds_and_credits(warehouse: Source) -> None:
    sales = _fetch(warehouse, "SELECT status, total_amount FROM sales")
    ledger = _fetch(warehouse, "SELECT debit, credit, amount FROM ledger_entries")

    assert any(status == "refunded" for status, _ in sales)
    assert all((total < 0) == (status == "refunded") for status, total in sales if total != 0)
    assert all(amount == debit - credit for debit, credit, amount in ledger)
    assert any(amount < 0 for _, _, amount in ledger)
    assert all(total.as_tuple().exponent == -2 for _, total in sales)


@pytest.mark.parametrize(
    ("table", "column"),
    [("sales", "sold_at"), ("attendance", "clock_in_at"), ("ledger_entries", "posted_at")],
)
def test_timestamps_fall_in_every_dst_window(warehouse: Source, table: str, column: str) -> None:
    instants = [value for value in _column(warehouse, table, column) if value is not None]

    assert all(instant.tzinfo is not None for instant in instants)
    for start, length in DST_WINDOWS:
        assert any(start <= instant < start + length for instant in instants), start


@pytest.mark.parametrize(
    ("table", "day", "instant"),
    [
        ("sales", "sale_date", "sold_at"),
        ("attendance", "work_date", "clock_in_at"),
        ("ledger_entries", "entry_date", "posted_at"),
    ],
)
def test_dates_are_the_utc_dates_of_their_instants(
    warehouse: Source, table: str, day: str, instant: str
) -> None:
    pairs = _fetch(warehouse, f"SELECT {day}, {instant} FROM {table}")

    assert all(date(2024, 1, 1) <= d <= date(2026, 12, 31) for d, _ in pairs)
    assert all(d == at.astimezone(UTC).date() for d, at in pairs if at is not None)


def test_staff_rows_fall_within_employment(warehouse: Source) -> None:
    outside = _fetch_each(
        warehouse,
        [
            "SELECT count(*) FROM attendance AS a JOIN employees AS e ON a.employee_id = e.employee_id "
            "WHERE a.work_date < e.hire_date OR a.work_date > e.termination_date",
            "SELECT count(*) FROM payroll AS p JOIN employees AS e ON p.employee_id = e.employee_id "
            "WHERE p.pay_period_end < e.hire_date OR p.pay_period_start > e.termination_date",
        ],
    )
    assert outside == [[(0,)], [(0,)]]
