"""Excel (.xlsx): typed cells, a bold frozen header with an autofilter, an About sheet.

The workbook is written straight from the staged Arrow batches. Each column becomes an array of
cell XML built by pyarrow.compute, rows are joined the same way, and the sheet XML is deflated
into the zip on a second thread while the next chunk is built: no Python loop runs per row or
per cell, and memory holds one chunk of rows whatever the row count. Rows past Excel's limit of
1,048,576 rows a sheet continue on `Data (2)`, `Data (3)`, … each with its own header.

How values land (Excel keeps every number as an IEEE double):
- integers and decimals are numbers, written as their exact digits: a reader keeps the double
  nearest to them, so an integer beyond 2**53 or a decimal with more than 15-17 significant
  digits keeps only what a double holds (Excel shows 15). Money (display format currency) gets
  `#,##0.00;[Red]-#,##0.00` (no symbol: rows mix currencies); percent points become the exact
  fraction (12.5 → 0.125) shown as `0.00%`; places follow the column's scale;
- dates are serial days shown `yyyy-mm-dd`; timestamps (UTC) serial days plus the fraction of
  the day, shown `yyyy-mm-dd hh:mm:ss "UTC"`: exact to the microsecond until 2079 (a double
  near those serials steps by 0.6 µs; by up to 40 µs in later centuries). Dates Excel's
  calendar cannot hold (before 1900-03-01, after 9999-12-31) are written as ISO text;
- booleans are TRUE/FALSE, NULL an empty cell;
- text is always an inline string, never a formula. Characters XML cannot carry are written
  `_xHHHH_` as Excel does, and text longer than Excel's 32,767-character cell limit is cut;
  the About sheet says how many values were cut or written as text.
"""

import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date
from functools import reduce
from itertools import chain, groupby
from pathlib import Path
from typing import IO, Literal
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flows.catalog.model import DisplayFormat
from flows.pipeline.staging import StagedRows
from flows.render import RenderOptions, column_label, display_format, header_names

EXTENSION = "xlsx"
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

SHEET_DATA_ROWS = 1_048_575
"""Data rows a sheet holds: Excel's 1,048,576 rows less the header."""
DATA_SHEET = "Data"
ABOUT_SHEET = "About"
CELL_TEXT_LIMIT = 32_767
"""Excel's limit on the characters (UTF-16 code units) of one cell."""
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = 'yyyy-mm-dd hh:mm:ss "UTC"'
MAX_COLUMN_WIDTH = 60
COMPRESS_LEVEL = 1
"""zlib level of the sheet XML: level 1 deflates about twice as fast as the default 6 for a file
about a third larger."""

_CHUNK_ROWS = 8192
_CHUNK_XML_BYTES = 1 << 30
"""Upper bound on one chunk's row XML: an Arrow string array holds at most 2 GiB."""
_ESCAPED_BYTES_PER_BYTE = 7
"""Text grows at worst sevenfold in XML: a control character becomes `_x0001_`."""
_CELL_MARKUP_BYTES = 96
_ZIP32_SAFE_BYTES = 1 << 30
"""Sheets that may grow past this are written with ZIP64 sizes (zipfile's plain limit is 2 GiB)."""

_EPOCH_SERIAL = 25_569
"""Excel's serial day of 1970-01-01 (1900 date system)."""
_FIRST_SERIAL = 61
"""1900-03-01: earlier serials are shifted by Excel's phantom 1900-02-29."""
_LAST_SERIAL = 2_958_465
"""9999-12-31."""
_MICROS_PER_DAY = 86_400_000_000

_Parts = list[pa.Array | str]
"""A column of cells as parts to concatenate value by value: arrays and constant strings."""
_EMPTY_CELL = "<c/>"
_TRUE_CELL = '<c t="b"><v>1</v></c>'
_FALSE_CELL = '<c t="b"><v>0</v></c>'
_XML_ESCAPES = {"\r": "&#13;"}
"""Beyond & < >: a carriage return, which XML parsers would otherwise read back as a line feed."""
_NEEDS_ESCAPE = r"[&<>\r\x00-\x08\x0B\x0C\x0E-\x1F\x{FFFE}\x{FFFF}]|_x[0-9A-Fa-f]{4}_"
_EXCEL_ESCAPE = re.compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|_(?=x[0-9A-Fa-f]{4}_)")
"""What XML cannot carry, and a literal `_xHHHH_` (which Excel would decode): written `_xHHHH_`."""

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_OFFICE_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def render(
    rows: StagedRows, target: Path, options: RenderOptions, *, sheet_rows: int = SHEET_DATA_ROWS
) -> None:
    """Write the staged rows to an .xlsx workbook at `target`, `sheet_rows` data rows a sheet."""
    if not 1 <= sheet_rows <= SHEET_DATA_ROWS:
        raise ValueError(f"sheet_rows must be between 1 and {SHEET_DATA_ROWS}")
    styles = _Styles()
    cells = _Cells(styles)
    columns = [_Column.of(column, cells) for column in rows.schema]
    labels = header_names(rows.schema, options)
    header = _joined(_concatenated(cells.text(pa.array(labels, pa.string()), styles.bold)))
    with _Workbook.create(target, zip64=_may_exceed_zip32(rows), cells=cells) as book:
        widths: list[float] = []
        sheet_chunks = groupby(_sheet_chunks(rows, sheet_rows), key=lambda item: item[0])
        for index, group in sheet_chunks:
            chunks = (chunk for _, chunk in group)
            first = next(chunks)
            widths = widths or _widths(columns, labels, first)
            book.add_data_sheet(_sheet_name(index), header, widths, columns, chain([first], chunks))
        if not book.sheets:
            empty = pa.RecordBatch.from_pylist([], schema=rows.schema)
            book.add_data_sheet(DATA_SHEET, header, _widths(columns, labels, empty), columns, iter(()))
        book.add_about_sheet(_about_rows(rows.schema, options, book))


@dataclass(frozen=True)
class _Style:
    number_format: str | None = None
    bold: bool = False


class _Styles:
    """The workbook's cell formats (styles.xml cellXfs), registered as columns need them."""

    def __init__(self) -> None:
        self._styles: list[_Style] = [_Style()]
        self.bold = self.index(_Style(bold=True))

    def index(self, style: _Style) -> int:
        if style not in self._styles:
            self._styles.append(style)
        return self._styles.index(style)

    def xml(self) -> str:
        formats = list(dict.fromkeys(s.number_format for s in self._styles if s.number_format))
        format_ids = {code: 164 + i for i, code in enumerate(formats)}
        num_fmts = "".join(
            f"<numFmt numFmtId={quoteattr(str(format_ids[code]))} formatCode={quoteattr(code)}/>"
            for code in formats
        )
        xfs = "".join(
            f'<xf numFmtId="{format_ids.get(style.number_format or "", 0)}" fontId="{int(style.bold)}"'
            f' fillId="0" borderId="0" xfId="0" applyNumberFormat="{int(bool(style.number_format))}"'
            f' applyFont="{int(style.bold)}"/>'
            for style in self._styles
        )
        font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
        return (
            f'{_XML_DECLARATION}<styleSheet xmlns="{_MAIN_NS}">'
            f'<numFmts count="{len(formats)}">{num_fmts}</numFmts>'
            f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{len(self._styles)}">{xfs}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        )


class _Cells:
    """Builds the cell XML of whole columns, counting the values Excel made it change."""

    def __init__(self, styles: _Styles) -> None:
        self.styles = styles
        self.cut_texts = 0
        self.dates_as_text = 0

    def text(self, values: pa.Array, style: int = 0) -> _Parts:
        """Inline strings, never formulas; NULL stays an empty cell."""
        return _wrap(
            self._escaped(values),
            f'<c{_style_attribute(style)} t="inlineStr"><is><t xml:space="preserve">',
            "</t></is></c>",
        )

    def numbers(self, values: pa.Array, style: int, display: DisplayFormat) -> _Parts:
        """Integers and decimals as numbers; percent points as the fraction (value / 100)."""
        if display is DisplayFormat.PERCENT:
            values = _hundredths(values)
        return _wrap(pc.cast(values, pa.string()), f"<c{_style_attribute(style)}><v>", "</v></c>")

    def dates(self, values: pa.Array, style: int) -> _Parts:
        """Dates and UTC timestamps as serial days; those outside Excel's calendar as ISO text."""
        days = pc.add(pc.cast(pc.cast(pc.cast(values, pa.date32()), pa.int32()), pa.int64()), _EPOCH_SERIAL)
        serials: pa.Array = days
        if pa.types.is_timestamp(values.type):
            micros = pc.subtract(
                pc.cast(values, pa.int64()), pc.multiply(pc.subtract(days, _EPOCH_SERIAL), _MICROS_PER_DAY)
            )
            serials = pc.add(
                pc.cast(days, pa.float64()), pc.divide(pc.cast(micros, pa.float64()), _MICROS_PER_DAY)
            )
        cells = _wrap(pc.cast(serials, pa.string()), f"<c{_style_attribute(style)}><v>", "</v></c>")
        outside = pc.fill_null(pc.or_(pc.less(days, _FIRST_SERIAL), pc.greater(days, _LAST_SERIAL)), False)
        outside_count = pc.sum(outside).as_py() or 0
        if outside_count:
            self.dates_as_text += outside_count
            texts = _concatenated(self.text(pc.cast(values, pa.string())))
            cells = [pc.if_else(outside, texts, _concatenated(cells))]
        return cells

    def booleans(self, values: pa.Array) -> _Parts:
        return [pc.fill_null(pc.if_else(values, _TRUE_CELL, _FALSE_CELL), _EMPTY_CELL)]

    def _escaped(self, values: pa.Array) -> pa.Array:
        """The text as XML content fit for a cell: found in one vectorised pass, the few values
        that need escaping or cutting are fixed one by one."""
        flagged = pc.match_substring_regex(values, _NEEDS_ESCAPE)
        if (pc.max(pc.binary_length(values)).as_py() or 0) > CELL_TEXT_LIMIT:
            flagged = pc.or_(flagged, pc.greater(pc.binary_length(values), CELL_TEXT_LIMIT))
        flagged = pc.fill_null(flagged, False)
        if not pc.any(flagged).as_py():
            return values
        fixed = [self._escaped_one(text) for text in values.filter(flagged).to_pylist()]
        return pc.replace_with_mask(values, flagged, pa.array(fixed, pa.string()))

    def _escaped_one(self, text: str) -> str:
        units = text.encode("utf-16-le")
        if len(units) > 2 * CELL_TEXT_LIMIT:
            self.cut_texts += 1
            text = units[: 2 * CELL_TEXT_LIMIT].decode("utf-16-le", errors="ignore")
        return escape(_EXCEL_ESCAPE.sub(lambda found: f"_x{ord(found[0]):04X}_", text), _XML_ESCAPES)


@dataclass(frozen=True)
class _Column:
    """One data column: how its values become cells, and how wide it is shown."""

    field: pa.Field
    kind: Literal["text", "number", "date", "boolean"]
    cells: Callable[[pa.Array], _Parts]

    @classmethod
    def of(cls, column: pa.Field, cells: _Cells) -> "_Column":
        kind = column.type
        styles = cells.styles
        display = display_format(column)
        if pa.types.is_integer(kind) or pa.types.is_decimal(kind):
            style = styles.index(_Style(_number_format(display, kind)))
            return cls(column, "number", lambda values: cells.numbers(values, style, display))
        if pa.types.is_date32(kind) or pa.types.is_timestamp(kind):
            style = styles.index(_Style(DATETIME_FORMAT if pa.types.is_timestamp(kind) else DATE_FORMAT))
            return cls(column, "date", lambda values: cells.dates(values, style))
        if pa.types.is_boolean(kind):
            return cls(column, "boolean", cells.booleans)
        if pa.types.is_string(kind):
            return cls(column, "text", cells.text)
        raise TypeError(f"column {column.name}: {kind} is not a catalog type")

    def width(self, label: str, sample: pa.Array) -> float:
        """Characters wide: the header label or the widest sampled value, whichever is wider."""
        if self.kind == "date":
            content = len("2026-12-31 23:59:59 UTC") if pa.types.is_timestamp(self.field.type) else 10
        elif self.kind == "boolean":
            content = len("FALSE")
        else:
            longest = _longest(sample)
            content = longest + longest // 3 if self.kind == "number" else longest  # digit grouping
        return _width(max(len(label) + 2, content))  # the label shares its cell with the filter button


@dataclass
class _SheetEntry:
    name: str
    filter_range: str | None = None


@dataclass
class _Workbook:
    """The .xlsx zip being written: sheets one after another, then the parts that list them."""

    archive: zipfile.ZipFile
    zip64: bool
    cells: _Cells
    sheets: list[_SheetEntry] = field(default_factory=list)
    data_rows: int = 0

    @classmethod
    @contextmanager
    def create(cls, target: Path, *, zip64: bool, cells: _Cells) -> Iterator["_Workbook"]:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
            book = cls(archive, zip64, cells)
            yield book
            book._write_package()

    def add_data_sheet(
        self,
        name: str,
        header: pa.Buffer,
        widths: Sequence[float],
        columns: Sequence["_Column"],
        chunks: Iterator[pa.RecordBatch],
    ) -> None:
        entry = _SheetEntry(name)
        head = _sheet_head(widths, frozen_header=True, selected=not self.sheets)
        self._add_sheet(entry, self._data_sheet_xml(entry, head, header, columns, chunks))

    def add_about_sheet(self, rows: Sequence[tuple[str | None, ...]]) -> None:
        """A sheet of text rows, the first column bold."""
        texts = [pa.array(column, pa.string()) for column in zip(*rows, strict=True)]
        styles = [self.cells.styles.bold] + [0] * (len(texts) - 1)
        cells = [self.cells.text(values, style) for values, style in zip(texts, styles, strict=True)]
        head = _sheet_head([_width(_longest(values)) for values in texts], frozen_header=False)
        self._add_sheet(_SheetEntry(ABOUT_SHEET), iter([head, _rows_xml(cells, 1), _sheet_tail(None)]))

    def _data_sheet_xml(
        self,
        entry: _SheetEntry,
        head: bytes,
        header: pa.Buffer,
        columns: Sequence["_Column"],
        chunks: Iterator[pa.RecordBatch],
    ) -> Iterator[bytes | pa.Buffer]:
        """The sheet's XML in parts; counts the rows and sets the filter range once they are out."""
        yield head + b'<row r="1">' + header.to_pybytes() + b"</row>"
        last_row = 1
        for chunk in chunks:
            cells = [column.cells(chunk.column(i)) for i, column in enumerate(columns)]
            yield _rows_xml(cells, last_row + 1)
            last_row += chunk.num_rows
        self.data_rows += last_row - 1
        entry.filter_range = f"A1:{_column_letters(len(columns))}{last_row}"
        yield _sheet_tail(entry.filter_range)

    def _add_sheet(self, entry: _SheetEntry, parts: Iterator[bytes | pa.Buffer]) -> None:
        self.sheets.append(entry)
        name = f"xl/worksheets/sheet{len(self.sheets)}.xml"
        with self.archive.open(name, "w", force_zip64=self.zip64) as sink, _background_writes(sink) as write:
            for part in parts:
                write(part)

    def _write_package(self) -> None:
        count = len(self.sheets)
        sheet_types = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_OFFICE_TYPE}.worksheet+xml"/>'
            for i in range(1, count + 1)
        )
        self.archive.writestr(
            "[Content_Types].xml",
            f'{_XML_DECLARATION}<Types xmlns="{_CONTENT_TYPES_NS}">'
            '<Default Extension="rels"'
            ' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_OFFICE_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_OFFICE_TYPE}.styles+xml"/>'
            f"{sheet_types}</Types>",
        )
        self.archive.writestr(
            "_rels/.rels",
            f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_REL_NS}">'
            f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
        )
        sheet_relations = "".join(
            f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, count + 1)
        )
        self.archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'{_XML_DECLARATION}<Relationships xmlns="{_PACKAGE_REL_NS}">{sheet_relations}'
            f'<Relationship Id="rId{count + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
            "</Relationships>",
        )
        self.archive.writestr("xl/workbook.xml", self._workbook_xml())
        self.archive.writestr("xl/styles.xml", self.cells.styles.xml())

    def _workbook_xml(self) -> str:
        sheets = "".join(
            f'<sheet name={quoteattr(entry.name)} sheetId="{i}" r:id="rId{i}"/>'
            for i, entry in enumerate(self.sheets, start=1)
        )
        filters = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
            f"{escape(_absolute_range(entry.name, entry.filter_range))}</definedName>"
            for i, entry in enumerate(self.sheets)
            if entry.filter_range
        )
        return (
            f'{_XML_DECLARATION}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            f'<bookViews><workbookView activeTab="0"/></bookViews><sheets>{sheets}</sheets>'
            f"<definedNames>{filters}</definedNames></workbook>"
        )


@contextmanager
def _background_writes(sink: IO[bytes]) -> Iterator[Callable[[bytes | pa.Buffer], None]]:
    """A write function handing each part to a second thread, one part in flight at a time.

    zlib releases the GIL while it deflates, so deflating one chunk overlaps building the next;
    an error on the writing thread surfaces at the next write or on leaving the block.
    """
    in_flight: list[Future[int]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlsx-deflate") as pool:

        def write(part: bytes | pa.Buffer) -> None:
            if in_flight:
                in_flight.pop().result()
            in_flight.append(pool.submit(sink.write, part))

        yield write
        if in_flight:
            in_flight.pop().result()


def _widths(columns: Sequence[_Column], labels: Sequence[str], sample: pa.RecordBatch) -> list[float]:
    return [
        column.width(label, values)
        for column, label, values in zip(columns, labels, sample.columns, strict=True)
    ]


def _longest(values: pa.Array) -> int:
    """Characters in the longest value's text."""
    longest: int | None = pc.max(pc.utf8_length(pc.cast(values, pa.string()))).as_py()
    return longest or 0


def _width(characters: int) -> float:
    return float(min(max(characters + 2, 8), MAX_COLUMN_WIDTH))


def _sheet_chunks(rows: Iterable[pa.RecordBatch], sheet_rows: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(sheet index, chunk) for every chunk of the rows, in order; no chunk spans two sheets."""
    written = 0
    for batch in rows:
        chunk_rows = _chunk_rows(batch)
        start = 0
        while start < batch.num_rows:
            sheet, used = divmod(written, sheet_rows)
            take = min(sheet_rows - used, chunk_rows, batch.num_rows - start)
            yield sheet, batch.slice(start, take)
            start += take
            written += take


def _chunk_rows(batch: pa.RecordBatch) -> int:
    """Rows a chunk of this batch may hold so that its row XML surely stays under the Arrow
    string limit: as many as fit the batch's longest row, escaped at worst, up to _CHUNK_ROWS."""
    texts = [
        pc.fill_null(pc.binary_length(values), 0)
        for values in batch.columns
        if pa.types.is_string(values.type)
    ]
    longest_text: int | None = pc.max(reduce(pc.add, texts)).as_py() if texts else 0
    worst_row: int = _ESCAPED_BYTES_PER_BYTE * (longest_text or 0) + _CELL_MARKUP_BYTES * (
        batch.num_columns + 1
    )
    return max(1, min(_CHUNK_ROWS, _CHUNK_XML_BYTES // worst_row))


def _may_exceed_zip32(rows: StagedRows) -> bool:
    """Whether one sheet's XML might outgrow plain zip sizes (then ZIP64 sizes are written)."""
    markup = min(rows.total_rows, SHEET_DATA_ROWS) * (len(rows.schema) * 48 + 32)
    return 8 * rows.path.stat().st_size + markup > _ZIP32_SAFE_BYTES


def _wrap(text: pa.Array, before: str, after: str) -> _Parts:
    """Each value between `before` and `after`, an empty cell for NULL: left as parts to join
    with the rest of the row when there is no NULL (saving a copy), joined here otherwise."""
    if not text.null_count:
        return [before, text, after]
    return [pc.fill_null(pc.binary_join_element_wise(before, text, after, ""), _EMPTY_CELL)]


def _concatenated(parts: _Parts) -> pa.Array:
    """The cells that a list of parts stands for."""
    return pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else parts[0]


def _style_attribute(style: int) -> str:
    return f' s="{style}"' if style else ""


def _hundredths(values: pa.Array) -> pa.Array:
    """value / 100 without rounding: the same unscaled integers read with two more decimal places."""
    decimals = pc.cast(values, pa.decimal128(38, 0)) if pa.types.is_integer(values.type) else values
    shifted = pa.decimal128(min(decimals.type.precision + 2, 38), decimals.type.scale + 2)
    return pa.Array.from_buffers(
        shifted, len(decimals), decimals.buffers(), decimals.null_count, decimals.offset
    )


def _number_format(display: DisplayFormat, kind: pa.DataType) -> str:
    scale = kind.scale if pa.types.is_decimal(kind) else 0
    places = "." + "0" * scale if scale else ""
    if display is DisplayFormat.PERCENT:
        return f"0{places}%"
    if display is DisplayFormat.CURRENCY:
        return f"#,##0{places};[Red]-#,##0{places}"
    return f"#,##0{places}" if pa.types.is_decimal(kind) else "0"


def _rows_xml(cells: Sequence[_Parts], first_row: int) -> pa.Buffer:
    """The `<row>` elements of the cells of equally long columns, numbered from `first_row`."""
    rows = len(next(part for part in cells[0] if isinstance(part, pa.Array)))
    numbers = pc.cast(pa.array(np.arange(first_row, first_row + rows)), pa.string())
    parts = [part for column in cells for part in column]
    return _joined(pc.binary_join_element_wise('<row r="', numbers, '">', *parts, "</row>", ""))


def _joined(strings: pa.Array) -> pa.Buffer:
    """All values of a string array, one after another, without copying them."""
    _, offsets, data = strings.buffers()
    end = int(np.frombuffer(offsets, np.int32)[strings.offset + len(strings)])
    start = int(np.frombuffer(offsets, np.int32)[strings.offset])
    return data.slice(start, end - start)


def _sheet_head(widths: Sequence[float], *, frozen_header: bool, selected: bool = False) -> bytes:
    pane = (
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
        if frozen_header
        else ""
    )
    columns = "".join(
        f'<col min="{i}" max="{i}" width="{width:.2f}" customWidth="1"/>' for i, width in enumerate(widths, 1)
    )
    return (
        f'{_XML_DECLARATION}<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
        f'<sheetViews><sheetView tabSelected="{int(selected)}" workbookViewId="0">{pane}'
        f'</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>{columns}</cols><sheetData>'
    ).encode()


def _sheet_tail(filter_range: str | None) -> bytes:
    auto_filter = f'<autoFilter ref="{filter_range}"/>' if filter_range else ""
    return f"</sheetData>{auto_filter}</worksheet>".encode()


def _sheet_name(index: int) -> str:
    return DATA_SHEET if index == 0 else f"{DATA_SHEET} ({index + 1})"


def _column_letters(number: int) -> str:
    """Excel's letters for a 1-based column number: 1 → A, 27 → AA."""
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _absolute_range(sheet: str, cells: str) -> str:
    first, last = cells.split(":")
    anchored = [re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", cell) for cell in (first, last)]
    return "'{}'!{}:{}".format(sheet.replace("'", "''"), *anchored)


def _about_rows(schema: pa.Schema, options: RenderOptions, book: _Workbook) -> list[tuple[str | None, ...]]:
    """The About sheet: what was exported, when, how, and the columns (label, name, format)."""
    generated = (
        options.generated_at if options.generated_at.tzinfo else options.generated_at.replace(tzinfo=UTC)
    )
    local = generated.astimezone(ZoneInfo(options.requester_timezone))
    filters: list[tuple[str | None, ...]] = [
        ("Filter", name, _readable(value)) for name, value in options.filters.items()
    ] or [("Filters", "none", None)]
    notes = [
        "Date-times are in UTC.",
        "Numbers are Excel numbers (double precision): digits beyond about 15 significant are rounded.",
    ]
    if book.cells.cut_texts:
        notes.append(
            f"Text longer than Excel's {CELL_TEXT_LIMIT:,}-character cell limit was cut to that limit"
            f" in {book.cells.cut_texts:,} cells."
        )
    if book.cells.dates_as_text:
        notes.append(
            "Dates outside Excel's calendar (before 1900-03-01 or after 9999-12-31) are written as"
            f" ISO text in {book.cells.dates_as_text:,} cells."
        )
    return [
        ("Export", options.title, None),
        ("Export type", options.export_type, None),
        *filters,
        ("Rows", str(book.data_rows), None),
        ("Sheets", ", ".join(entry.name for entry in book.sheets), None),
        ("Generated at (UTC)", generated.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), None),
        (
            f"Generated at ({options.requester_timezone})",
            local.strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z)"),
            None,
        ),
        *(("Note", note, None) for note in notes),
        (None, None, None),
        ("Column", "Name", "Format"),
        *((column_label(column), column.name, display_format(column).value) for column in schema),
    ]


def _readable(value: object) -> str:
    """A filter value as a person reads it: lists joined by commas, operators spelled out."""
    if isinstance(value, Mapping):
        return "; ".join(f"{operator} {_readable(item)}" for operator, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_readable(item) for item in value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
