"""The demo warehouse: its schema, and deterministic, exporter-breaking demo data.

The data comes from one DuckDB SELECT per table (sql/warehouse/generate/<table>.sql) built on
range() and hash(seed, row, key), with shared lists and helpers as temporary macros
(generate/_macros.sql), so the same rows and seed always give the same values. A DuckDB
warehouse runs them as INSERT … SELECT; for PostgreSQL they run in an in-memory DuckDB and
stream into COPY as CSV, one record batch at a time.
"""

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Protocol

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from flows.errors import InvalidInputError
from flows.pipeline.sources import Source, SourceKind, duckdb_connection, postgres_connection
from flows.sql_files import SQL_ROOT

WAREHOUSE_SQL_DIR = SQL_ROOT / "warehouse"
DEFAULT_SEED = 20260101

_SEED_RANGE = range(-(2**31), 2**31)  # warehouse_meta.seed is an INTEGER
_BATCH_ROWS = 65_536
# Strings are always quoted, NULLs are bare empty fields: PostgreSQL's CSV COPY tells them apart.
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="needed")


@dataclass(frozen=True)
class DemoDataReport:
    """What generate_demo_data wrote: rows per table, in load order, and wall-clock seconds."""

    table_rows: Mapping[str, int]
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.table_rows.values())


def demo_row_counts(rows: int) -> dict[str, int]:
    """Rows per table when sales has `rows` rows, in load order (warehouse_meta last)."""
    return {
        "regions": 4,
        "stores": 40,
        "products": max(50, rows // 1000),
        "customers": max(10, rows // 10),
        "employees": max(5, rows // 200),
        "marketing_campaigns": max(5, rows // 100),
        "sales": rows,
        "inventory": max(20, rows // 5),
        "attendance": max(50, rows // 2),
        "payroll": max(10, rows // 20),
        "ledger_entries": max(50, rows // 2),
        "warehouse_meta": 1,
    }


def create_schema(source: Source) -> None:
    """Create the warehouse tables that do not exist yet."""
    with _open(source) as target:
        _create_tables(target)


def generate_demo_data(source: Source, rows: int, seed: int = DEFAULT_SEED) -> DemoDataReport:
    """Drop and recreate the warehouse tables and fill them, in one transaction.

    `rows` is the row count of sales, the largest table; the others are proportionate.
    """
    if rows < 1:
        raise InvalidInputError("rows", "must be at least 1")
    if seed not in _SEED_RANGE:
        raise InvalidInputError("seed", "must fit a 32-bit signed integer")
    counts = demo_row_counts(rows)
    parameters: dict[str, object] = {"rows": rows, "seed": seed, **counts}
    started = time.perf_counter()
    with _open(source) as target:
        for table in counts:
            target.execute(f"DROP TABLE IF EXISTS {table}")
        _create_tables(target)
        target.generator.execute(_sql_text("generate/_macros.sql"))
        table_rows: dict[str, int] = {}
        for table in counts:
            select = _sql_text(f"generate/{table}.sql")
            table_rows[table] = target.load(table, select, _bound(select, parameters))
    return DemoDataReport(table_rows=table_rows, seconds=time.perf_counter() - started)


def warehouse_is_populated(source: Source) -> bool:
    """Whether warehouse_meta has a row; False when the DuckDB file or the table does not exist."""
    query = "SELECT EXISTS (SELECT 1 FROM warehouse_meta)"
    if source.kind is SourceKind.DUCKDB:
        if not source.duckdb_path.is_file():
            return False
        with duckdb_connection(source, read_only=True) as connection:
            try:
                row = connection.execute(query).fetchone()
            except duckdb.CatalogException:
                return False
    else:
        with postgres_connection(source) as connection:
            try:
                row = connection.execute(query).fetchone()
            except psycopg.errors.UndefinedTable:
                return False
    return bool(row and row[0])


class _Target(Protocol):
    """A warehouse open in a transaction, and the DuckDB connection the generator runs on."""

    @property
    def generator(self) -> duckdb.DuckDBPyConnection: ...

    def execute(self, statement: str) -> None: ...

    def load(self, table: str, select: str, parameters: Mapping[str, object]) -> int:
        """Insert the rows of a generator SELECT into `table`; return how many."""
        ...


@dataclass(frozen=True)
class _DuckDBTarget:
    generator: duckdb.DuckDBPyConnection

    def execute(self, statement: str) -> None:
        self.generator.execute(statement)

    def load(self, table: str, select: str, parameters: Mapping[str, object]) -> int:
        inserted = self.generator.execute(f"INSERT INTO {table} BY NAME {select}", parameters)
        row = inserted.fetchone()
        assert row is not None
        return int(row[0])


@dataclass(frozen=True)
class _PostgresTarget:
    connection: psycopg.Connection[tuple[object, ...]]
    generator: duckdb.DuckDBPyConnection

    def execute(self, statement: str) -> None:
        self.connection.execute(statement)

    def load(self, table: str, select: str, parameters: Mapping[str, object]) -> int:
        batches = self.generator.sql(select, params=parameters).to_arrow_reader(_BATCH_ROWS)
        # FREEZE: the table was created in this transaction, so its rows can be written frozen.
        copy_statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, FREEZE)").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, batches.schema.names))
        )
        with self.connection.cursor() as cursor:
            with cursor.copy(copy_statement) as copy:
                for batch in batches:
                    sink = pa.BufferOutputStream()
                    pa_csv.write_csv(batch, sink, _CSV_OPTIONS)
                    copy.write(memoryview(sink.getvalue()))
            return cursor.rowcount


@contextmanager
def _open(source: Source) -> Iterator[_Target]:
    """The warehouse in one transaction: committed when the block ends, rolled back if it raises."""
    if source.kind is SourceKind.DUCKDB:
        source.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb_connection(source, read_only=False) as warehouse:
            warehouse.begin()
            yield _DuckDBTarget(warehouse)
            warehouse.commit()
        return
    with (
        postgres_connection(source) as postgres,
        postgres.transaction(),
        duckdb.connect() as generator,
    ):
        generator.execute("SET TimeZone = 'UTC'")
        yield _PostgresTarget(postgres, generator)


def _create_tables(target: _Target) -> None:
    for statement in _sql_text("schema.sql").split(";\n"):
        if statement.strip():
            target.execute(statement)


def _bound(select: str, parameters: Mapping[str, object]) -> dict[str, object]:
    """The named parameters one generator SELECT uses (DuckDB refuses extra ones)."""
    (statement,) = duckdb.extract_statements(select)
    return {name: parameters[name] for name in statement.named_parameters}


@cache
def _sql_text(relative_path: str) -> str:
    return (WAREHOUSE_SQL_DIR / relative_path).read_text(encoding="utf-8")
