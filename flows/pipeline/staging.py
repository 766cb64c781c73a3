"""Staged rows: an export's extracted rows in a local Arrow IPC file, read back batch by batch.

Extraction writes the file once (so the row count is known before rendering starts); every
renderer then reads it as a stream of record batches. Reading never maps or loads the whole
file: each batch is read, handed on, and dropped.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

BatchCallback = Callable[[int], None]
"""Called with the number of rows handed on so far; may raise to stop the export."""


def write_staged(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path) -> int:
    """Write batches to an Arrow IPC file at `path`; return the row count."""
    rows = 0
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


@dataclass(frozen=True)
class StagedRows:
    """The rows a renderer reads: their schema (labels and display formats in field metadata),
    their total count, and the batches themselves, in order, when iterated."""

    path: Path
    schema: pa.Schema
    total_rows: int
    on_batch: BatchCallback | None = None

    @classmethod
    def open(cls, path: Path, on_batch: BatchCallback | None = None) -> "StagedRows":
        with pa.OSFile(str(path), "rb") as source:
            reader = ipc.open_file(source)
            return cls(path, reader.schema, reader.count_rows(), on_batch)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        handed_on = 0
        with pa.OSFile(str(self.path), "rb") as source:
            reader = ipc.open_file(source)
            for index in range(reader.num_record_batches):
                batch = reader.get_batch(index)
                yield batch
                handed_on += batch.num_rows
                if self.on_batch is not None:
                    self.on_batch(handed_on)

    def reader(self) -> pa.RecordBatchReader:
        """The same batches as a RecordBatchReader, for engines (DuckDB, pyarrow) that take one."""
        return pa.RecordBatchReader.from_batches(self.schema, iter(self))
