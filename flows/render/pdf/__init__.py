"""PDF: a tabular report drawn with the reportlab canvas, one text object a page, in constant memory.

Every row has the same height (see `layout`), so the page count follows from the row count
before drawing starts: a PDF needs its rows counted exactly (EXACT_COUNT). Rows are formatted a
slice at a time (`cells`) and each finished page is written to the file at once (`document`), so
memory stays flat however many rows there are.
"""

from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import pyarrow as pa

from flows.render import RenderOptions, header_names
from flows.render.pdf.cells import Column
from flows.render.pdf.document import Report, intro_lines
from flows.render.pdf.layout import BODY_SIZE, CELL_PADDING, TextFitter, plan_page
from flows.render.rows import Rows

EXTENSION = "pdf"
MEDIA_TYPE = "application/pdf"
EXACT_COUNT = True

CHUNK_ROWS = 1024


def render(rows: Rows, target: Path, options: RenderOptions) -> None:
    """Write the rows to `target` as a PDF report."""
    if not rows.exact:
        raise ValueError("a PDF report needs the exact row count, not an estimate")
    body = TextFitter(BODY_SIZE)
    columns = [Column(field, body) for field in rows.schema]
    labels = header_names(rows.schema, options)
    shown = ([column.display(chunk.column(i)) for i, column in enumerate(columns)] for chunk in _chunks(rows))
    first = next(shown, None)
    samples = first or [[] for _ in columns]
    intro = intro_lines(rows.expected_rows, options)
    layout = plan_page(
        [column.need(label, sample) for column, label, sample in zip(columns, labels, samples, strict=True)],
        intro_lines=len(intro) - 1,
    )
    for column, width in zip(columns, layout.column_widths, strict=True):
        column.room = width - 2 * CELL_PADDING
    with target.open("wb") as sink:
        report = Report(sink, layout, body, labels, columns, intro, rows.expected_rows)
        for values in chain([] if first is None else [first], shown):
            report.draw_rows([column.fit(texts) for column, texts in zip(columns, values, strict=True)])
        report.close()
    if report.rows_drawn != rows.expected_rows:
        raise ValueError(f"the source gave {report.rows_drawn} rows, not the {rows.expected_rows} announced")


def _chunks(rows: Rows) -> Iterator[pa.RecordBatch]:
    """The batches in order, in slices of at most CHUNK_ROWS rows."""
    for batch in rows:
        for offset in range(0, batch.num_rows, CHUNK_ROWS):
            yield batch.slice(offset, CHUNK_ROWS)
