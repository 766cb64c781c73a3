"""Run a built export query on its source and stream the rows as Arrow record batches.

Batches come in the catalog's Arrow schema whatever the engine returned; a value that does not
fit (a decimal needing more digits, a string where a number belongs) stops the export with a
TerminalError instead of being rounded or dropped. Neither engine's whole result is ever held
in memory: DuckDB streams through an Arrow reader, PostgreSQL through a server-side (named) cursor
fetched `batch_rows` rows at a time.
"""

from collections.abc import Iterator, Sequence

import pyarrow as pa

from flows.errors import TerminalError
from flows.query import ExportQuery
from flows.sources import Source, SourceKind, duckdb_connection, postgres_connection

DEFAULT_BATCH_ROWS = 50_000
CURSOR_NAME = "exportflow_extract"


def stream_batches(
    source: Source, query: ExportQuery, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Yield the query's rows in batches of at most `batch_rows`; no batch at all for no rows."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    if query.dialect is not source.kind:
        raise ValueError(f"query built for {query.dialect}, source is {source.kind}")
    schema = query.arrow_schema
    if source.kind is SourceKind.DUCKDB:
        yield from _duckdb_batches(source, query, schema, batch_rows)
    else:
        yield from _postgres_batches(source, query, schema, batch_rows)


def _duckdb_batches(
    source: Source, query: ExportQuery, schema: pa.Schema, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    with duckdb_connection(source, read_only=True) as connection:
        relation = connection.sql(query.sql, params=list(query.params))
        with relation.to_arrow_reader(batch_rows) as reader:
            _check_names(reader.schema.names, schema)
            for batch in reader:
                yield conform_batch(schema, batch.columns)


def _postgres_batches(
    source: Source, query: ExportQuery, schema: pa.Schema, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    with postgres_connection(source) as connection:
        connection.read_only = True
        with connection.transaction(), connection.cursor(name=CURSOR_NAME) as cursor:
            cursor.execute(query.sql, query.params)
            _check_names([column.name for column in cursor.description or ()], schema)
            while rows := cursor.fetchmany(batch_rows):
                yield conform_batch(schema, list(zip(*rows, strict=True)))


def _check_names(names: Sequence[str], schema: pa.Schema) -> None:
    if list(names) != schema.names:
        raise TerminalError(f"query returned columns {list(names)}, expected {schema.names}")


def conform_batch(schema: pa.Schema, columns: Sequence[object]) -> pa.RecordBatch:
    """A batch in `schema` from one Arrow array or one sequence of Python values per column."""
    arrays = []
    for field, values in zip(schema, columns, strict=True):
        try:
            if isinstance(values, pa.Array):
                arrays.append(values.cast(field.type, safe=True))
            else:
                arrays.append(pa.array(values, type=field.type, from_pandas=False))
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as error:
            raise TerminalError(
                f"column {field.name} does not fit {field.type} without loss: {error}"
            ) from error
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
