"""Run a built export query on its source and stream the rows as Arrow record batches.

Batches come in the catalog's Arrow schema whatever the engine returned; a value that does not
fit (a decimal needing more digits, a string where a number belongs) stops the export with a
TerminalError instead of being rounded or dropped. Neither engine's whole result is ever held
in memory: DuckDB streams through an Arrow reader, PostgreSQL through `COPY (query) TO STDOUT` as
CSV, which pyarrow parses block by block into the catalog's types (psycopg binds the values into
COPY client-side, escaping them as literals, since COPY takes no server-side parameters).
"""

import io
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv

from flows.catalog.query import ExportQuery
from flows.errors import TerminalError
from flows.pipeline.sources import Source, SourceKind, duckdb_connection, postgres_connection

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

DEFAULT_BATCH_ROWS = 50_000
CSV_BLOCK_BYTES = 1024 * 1024


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
    # PostgreSQL's CSV writes NULL unquoted and the empty string quoted, so the two stay apart; a
    # one-column row holding NULL is an empty line, so empty lines are rows.
    convert_options = pa_csv.ConvertOptions(
        column_types={field.name: field.type for field in schema},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    copy_sql = f"COPY ({query.sql}) TO STDOUT (FORMAT csv, HEADER, ENCODING 'UTF8')"
    with postgres_connection(source) as connection:
        connection.read_only = True
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL DateStyle TO ISO")
            with cursor.copy(copy_sql, query.params) as copy:
                try:
                    # No reader threads: one would go on reading the COPY while the connection closes.
                    reader = pa_csv.open_csv(
                        _CopyStream(copy),
                        read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False),
                        parse_options=pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
                        convert_options=convert_options,
                    )
                    _check_names(reader.schema.names, schema)
                    for batch in reader:
                        for offset in range(0, batch.num_rows, batch_rows):
                            yield conform_batch(schema, batch.slice(offset, batch_rows).columns)
                except pa.ArrowInvalid as error:
                    raise TerminalError(f"query result does not fit the catalog's types: {error}") from error


class _CopyStream(io.RawIOBase):
    """The output of a COPY TO STDOUT as a readable byte stream."""

    def __init__(self, copy: psycopg.Copy) -> None:
        self._copy = copy
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "WriteableBuffer") -> int:
        target = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(target):
            if not self._pending:
                self._pending = memoryview(self._copy.read())
                if not self._pending:
                    break
            size = min(len(target) - filled, len(self._pending))
            target[filled : filled + size] = self._pending[:size]
            self._pending = self._pending[size:]
            filled += size
        return filled


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
