"""The rows a renderer reads: their schema, how many to expect, and the batches, handed on in order.

The schema carries each column's label and display format in its field metadata. The batches are read
once, as they come from the source, so no export holds its rows: each batch is handed on and dropped.
`on_batch` runs after every batch with the rows handed on so far (progress, cancellation); it may raise
to stop the export between batches.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain

import pyarrow as pa

BatchCallback = Callable[[int], None]
"""Called with the number of rows handed on so far; may raise to stop the export."""


@dataclass(frozen=True)
class Rows:
    """`expected_rows` is exact when `exact` (counted), else an estimate the rows may differ from."""

    schema: pa.Schema
    expected_rows: int
    batches: Iterable[pa.RecordBatch]
    exact: bool = True
    on_batch: BatchCallback | None = None

    def peeked(self) -> tuple[pa.RecordBatch | None, Iterator[pa.RecordBatch]]:
        """The first batch (None when there are no rows) and every batch, the first one included, for a
        renderer that must see the first rows before it writes anything."""
        batches = iter(self)
        first = next(batches, None)
        return first, (chain([first], batches) if first is not None else iter(()))

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        handed_on = 0
        for batch in self.batches:
            yield batch
            handed_on += batch.num_rows
            if self.on_batch is not None:
                self.on_batch(handed_on)
