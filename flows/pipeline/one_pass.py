"""One pass from an export's source query to its file: the rows stream from the source into the
renderer, and on the way they are counted, checksummed and their first ones kept as the preview.

No staged copy of the rows is made and no batch is kept: the source yields a batch, the renderer
writes it, the next one comes. `watch` hears, once the query is open and after every batch, how many
rows are written and how many are expected; it may raise (a cancelled export) to stop between batches.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from flows.catalog.query import ExportQuery
from flows.pipeline.extract import open_rows
from flows.pipeline.preview import Preview, PreviewRows
from flows.pipeline.row_checksum import RowChecksum
from flows.pipeline.sources import Source
from flows.render import Renderer, RenderOptions
from flows.render.rows import Rows

BATCH_ROWS = 10_000
"""Rows a batch holds on its way from the source to the renderer: progress and cancellation are
checked once a batch."""

Watch = Callable[[int, int, bool], None]
"""Called with the rows written so far, the rows expected, and whether that expectation is a count."""


@dataclass(frozen=True)
class Written:
    """What the pass wrote: how many rows, their content checksum (None when not asked for), and the
    first ones as text."""

    rows: int
    content_checksum: str | None
    preview: Preview


def write_export_file(
    source: Source,
    query: ExportQuery,
    renderer: Renderer,
    target: Path,
    options: RenderOptions,
    *,
    preview_rows: int,
    spill_dir: Path | None = None,
    watch: Watch | None = None,
    with_checksum: bool,
) -> Written:
    """Render the query's rows to `target` in one pass; take the rows' content checksum on the way
    only `with_checksum` (it costs ~0.2 s a million rows)."""
    checksum = RowChecksum(query.arrow_schema) if with_checksum else None
    preview = PreviewRows(query.arrow_schema, preview_rows)
    written = 0

    def watched(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        nonlocal written
        for batch in batches:
            if checksum is not None:
                checksum.update(batch)
            preview.add(batch)
            written += batch.num_rows
            yield batch

    with open_rows(
        source, query, exact_count=renderer.EXACT_COUNT, batch_rows=BATCH_ROWS, spill_dir=spill_dir
    ) as opened:
        expected, exact = opened.expected_rows, opened.exact

        def written_so_far(rows: int) -> None:
            if watch is not None:
                watch(rows, expected, exact)

        written_so_far(0)
        rows = Rows(opened.schema, expected, watched(opened.batches), exact, written_so_far)
        renderer.render(rows, target, options)
    return Written(written, checksum.hexdigest() if checksum is not None else None, preview.preview())
