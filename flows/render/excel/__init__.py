"""Excel (.xlsx): typed cells, a bold frozen header with an autofilter, an About sheet.

The workbook is written straight from the Arrow batches. Each column becomes an array of
cell XML built by pyarrow.compute, rows are joined the same way, and the sheet XML is deflated
into the zip on a second thread while the next chunk is built: no Python loop runs per row or
per cell, and memory holds one chunk of rows whatever the row count. Rows past Excel's limit of
1,048,576 rows a sheet continue on `Data (2)`, `Data (3)`, … each with its own header.

The cell encoding (values, escapes, serial dates, number formats) is in `cells` and `styles`,
the zip package (parts, sheets, the About sheet) in `workbook`.
"""

from collections.abc import Iterable, Iterator
from itertools import chain, groupby
from pathlib import Path

import pyarrow as pa

from flows.render import RenderOptions, header_names
from flows.render.excel.cells import (
    DATE_FORMAT,
    MAX_COLUMN_WIDTH,
    Cells,
    Column,
    column_widths,
    concatenated,
    joined,
    rows_per_chunk,
)
from flows.render.excel.styles import Styles
from flows.render.excel.workbook import (
    DATA_SHEET,
    SHEET_DATA_ROWS,
    Workbook,
    about_rows,
    may_exceed_zip32,
    sheet_name,
)
from flows.render.rows import Rows

__all__ = ["DATE_FORMAT", "EXTENSION", "MAX_COLUMN_WIDTH", "MEDIA_TYPE", "SHEET_DATA_ROWS", "render"]

EXTENSION = "xlsx"
EXACT_COUNT = False
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render(rows: Rows, target: Path, options: RenderOptions, *, sheet_rows: int = SHEET_DATA_ROWS) -> None:
    """Write the rows to an .xlsx workbook at `target`, `sheet_rows` data rows a sheet."""
    if not 1 <= sheet_rows <= SHEET_DATA_ROWS:
        raise ValueError(f"sheet_rows must be between 1 and {SHEET_DATA_ROWS}")
    styles = Styles()
    cells = Cells(styles)
    columns = [Column.of(column, cells) for column in rows.schema]
    labels = header_names(rows.schema, options)
    header = joined(concatenated(cells.text(pa.array(labels, pa.string()), styles.bold)))
    first, batches = rows.peeked()
    with Workbook.create(target, zip64=may_exceed_zip32(rows, first), cells=cells) as book:
        widths: list[float] = []
        sheet_chunks = groupby(_sheet_chunks(batches, sheet_rows), key=lambda item: item[0])
        for index, group in sheet_chunks:
            chunks = (chunk for _, chunk in group)
            first = next(chunks)
            widths = widths or column_widths(columns, labels, first)
            book.add_data_sheet(sheet_name(index), header, widths, columns, chain([first], chunks))
        if not book.sheets:
            empty = pa.RecordBatch.from_pylist([], schema=rows.schema)
            book.add_data_sheet(DATA_SHEET, header, column_widths(columns, labels, empty), columns, iter(()))
        book.add_about_sheet(about_rows(rows.schema, options, book))


def _sheet_chunks(rows: Iterable[pa.RecordBatch], sheet_rows: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(sheet index, chunk) for every chunk of the rows, in order; no chunk spans two sheets."""
    written = 0
    for batch in rows:
        chunk_rows = rows_per_chunk(batch)
        start = 0
        while start < batch.num_rows:
            sheet, used = divmod(written, sheet_rows)
            take = min(sheet_rows - used, chunk_rows, batch.num_rows - start)
            yield sheet, batch.slice(start, take)
            start += take
            written += take
