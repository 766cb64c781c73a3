"""Run a built export query on its source: say how many rows to expect, then stream them as Arrow batches.

`open_rows` opens the query in one consistent view of the source and, before the first batch, says how
many rows are coming: DuckDB counts them exactly (its count costs about a tenth of the export);
PostgreSQL gives its planner's estimate, unless the caller needs the exact count (a PDF prints its page
count), which costs one more scan, in the same REPEATABLE READ snapshot so count and rows agree.

Batches come in the catalog's Arrow schema whatever the engine returned; a value that does not fit (a
decimal needing more digits, a string where a number belongs) stops the export with a TerminalError
instead of being rounded or dropped. Neither engine's whole result is ever held in memory: DuckDB streams
through an Arrow reader with a memory limit of its own (a big sort spills to the export's spill folder),
PostgreSQL through ADBC's libpq driver, which reads the result with `COPY … TO STDOUT (FORMAT binary)`
and decodes it into Arrow batches in C++. COPY takes no parameters, and ADBC's prepared-statement path
would hold the whole result, so the values are bound client-side: psycopg writes each one as an escaped
SQL literal (as psycopg itself does for COPY); identifiers still come only from the catalog.
"""

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_postgresql
import adbc_driver_postgresql.dbapi as adbc_postgresql
import duckdb
import pyarrow as pa
from psycopg import sql

from flows.catalog.query import ExportQuery
from flows.errors import TerminalError
from flows.pipeline.sources import Source, SourceKind, duckdb_connection

DEFAULT_BATCH_ROWS = 50_000
EXTRACT_MEMORY_LIMIT = "160MB"
"""What an export's DuckDB query may hold in memory, apart from the demo-data generator's limit and
the writer's own (flows/render/duckdb_copy.py); a bigger sort spills. Peak RSS of a CSV export of the
12-column sales selection measured 433 MB at 1M rows and 462 MB at 10M (with SORT_IN_ONE_THREAD_ROWS)."""
SORT_IN_ONE_THREAD_ROWS = 1_000_000
"""Above this many rows an export's DuckDB query runs on one thread. A sort that spills merges its
runs with blocks pinned per thread: at 10M rows two threads ran out of EXTRACT_MEMORY_LIMIT ("failed to
pin block") where one thread finished (10M-row CSV 34 s, 462 MB; two threads with 256 MB: 29 s, 569 MB)."""
POSTGRES_PLACEHOLDER = "%s"


@dataclass(frozen=True)
class QueryRows:
    """An open query: how many rows to expect (`exact`: counted, else the planner's estimate) and its
    batches, each of at most the asked number of rows, in the catalog's schema."""

    schema: pa.Schema
    expected_rows: int
    exact: bool
    batches: Iterator[pa.RecordBatch]


@contextmanager
def open_rows(
    source: Source,
    query: ExportQuery,
    *,
    exact_count: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    spill_dir: Path | None = None,
) -> Iterator[QueryRows]:
    """The query opened on its source; its connection closes when the block ends."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    if query.dialect is not source.kind:
        raise ValueError(f"query built for {query.dialect}, source is {source.kind}")
    if source.kind is SourceKind.DUCKDB:
        with _duckdb_rows(source, query, batch_rows, spill_dir) as rows:
            yield rows
    else:
        with _postgres_rows(source, query, batch_rows, exact_count=exact_count) as rows:
            yield rows


def expected_rows(source: Source, query: ExportQuery, *, exact_count: bool = False) -> tuple[int, bool]:
    """How many rows the query returns, without reading them, as `open_rows` would say before its first
    batch: the count and True, or PostgreSQL's planner estimate and False unless `exact_count`."""
    if query.dialect is not source.kind:
        raise ValueError(f"query built for {query.dialect}, source is {source.kind}")
    if source.kind is SourceKind.DUCKDB:
        with duckdb_connection(source, read_only=True, memory_limit=EXTRACT_MEMORY_LIMIT) as connection:
            return _duckdb_count(connection, query), True
    with _postgres_snapshot(source) as cursor:
        return _postgres_expected(cursor, postgres_statement(query), exact_count=exact_count), exact_count


def stream_batches(
    source: Source, query: ExportQuery, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Yield the query's rows in batches of at most `batch_rows`; no batch at all for no rows."""
    with open_rows(source, query, batch_rows=batch_rows) as rows:
        yield from rows.batches


@contextmanager
def _duckdb_rows(
    source: Source, query: ExportQuery, batch_rows: int, spill_dir: Path | None
) -> Iterator[QueryRows]:
    with duckdb_connection(
        source, read_only=True, memory_limit=EXTRACT_MEMORY_LIMIT, spill_dir=spill_dir
    ) as connection:
        # A read-only connection sees one state of the file: no writer can change it meanwhile.
        counted = _duckdb_count(connection, query)
        if counted > SORT_IN_ONE_THREAD_ROWS:
            connection.execute("SET threads = 1")
        relation = connection.sql(query.sql, params=list(query.params))
        with relation.to_arrow_reader(batch_rows) as reader:
            _check_names(reader.schema.names, query.arrow_schema)
            batches = (conform_batch(query.arrow_schema, batch.columns) for batch in reader)
            yield QueryRows(query.arrow_schema, counted, True, batches)


def _duckdb_count(connection: duckdb.DuckDBPyConnection, query: ExportQuery) -> int:
    counting = f"SELECT count(*) FROM ({query.sql})"  # noqa: S608  # the catalog's query as a subquery
    ((counted,),) = connection.execute(counting, list(query.params)).fetchall()
    return int(counted)


@contextmanager
def _postgres_rows(
    source: Source, query: ExportQuery, batch_rows: int, *, exact_count: bool
) -> Iterator[QueryRows]:
    statement = postgres_statement(query)
    with _postgres_snapshot(source) as cursor:
        expected = _postgres_expected(cursor, statement, exact_count=exact_count)
        cursor.execute(statement)
        reader = cursor.fetch_record_batch()
        _check_names(reader.schema.names, query.arrow_schema)
        yield QueryRows(query.arrow_schema, expected, exact_count, _sliced(reader, query, batch_rows))


@contextmanager
def _postgres_snapshot(source: Source) -> Iterator[adbc_postgresql.Cursor]:
    """A cursor in one read-only REPEATABLE READ transaction, never committed: it ends with the connection."""
    with (
        adbc_postgresql.connect(source.location, autocommit=True) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield cursor


def _postgres_expected(cursor: adbc_postgresql.Cursor, statement: str, *, exact_count: bool) -> int:
    if exact_count:
        cursor.execute(f"SELECT count(*) FROM ({statement}) AS counted")  # noqa: S608
        return int(str(_first_value(cursor)))
    return _planner_estimate(cursor, statement)


def _planner_estimate(cursor: adbc_postgresql.Cursor, statement: str) -> int:
    """The rows PostgreSQL's planner expects the statement to return (EXPLAIN cannot run inside the
    COPY that the driver wraps a query in, so this one runs without)."""
    use_copy = adbc_driver_postgresql.StatementOptions.USE_COPY.value
    cursor.adbc_statement.set_options(**{use_copy: "false"})
    try:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {statement}")
        return int(json.loads(str(_first_value(cursor)))[0]["Plan"]["Plan Rows"])
    finally:
        cursor.adbc_statement.set_options(**{use_copy: "true"})


def _first_value(cursor: adbc_postgresql.Cursor) -> object:
    row = cursor.fetchone()
    if row is None:
        raise TerminalError("the source returned no row for a count")
    return row[0]


def _sliced(reader: pa.RecordBatchReader, query: ExportQuery, batch_rows: int) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        for offset in range(0, batch.num_rows, batch_rows):
            yield conform_batch(query.arrow_schema, batch.slice(offset, batch_rows).columns)


def postgres_statement(query: ExportQuery) -> str:
    """A PostgreSQL query's statement with each `%s` replaced by its value as an escaped SQL literal."""
    parts = query.sql.split(POSTGRES_PLACEHOLDER)
    if len(parts) != len(query.params) + 1:
        raise ValueError(f"{len(parts) - 1} placeholders for {len(query.params)} values")
    literals = [sql.Literal(value).as_string(None) for value in query.params]
    return "".join(part + literal for part, literal in zip(parts, [*literals, ""], strict=True))


def _check_names(names: Sequence[str], schema: pa.Schema) -> None:
    if list(names) != schema.names:
        raise TerminalError(f"query returned columns {list(names)}, expected {schema.names}")


def conform_batch(schema: pa.Schema, columns: Sequence[object]) -> pa.RecordBatch:
    """A batch in `schema` from one Arrow array or one sequence of Python values per column (an
    extension array, such as ADBC's PostgreSQL numeric as text, is cast from its storage)."""
    arrays = []
    for field, values in zip(schema, columns, strict=True):
        try:
            if isinstance(values, pa.ExtensionArray):
                arrays.append(values.storage.cast(field.type, safe=True))
            elif isinstance(values, pa.Array):
                arrays.append(values.cast(field.type, safe=True))
            else:
                arrays.append(pa.array(values, type=field.type, from_pandas=False))
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as error:
            raise TerminalError(
                f"column {field.name} does not fit {field.type} without loss: {error}"
            ) from error
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
