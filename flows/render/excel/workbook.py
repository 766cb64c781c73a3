"""The .xlsx package: the zip of sheet, styles, workbook, content-type and relationship parts.

Data sheets are written one after another as their rows arrive, each deflated on a second thread
while the next chunk is built; the About sheet (what was exported, when, how, the columns)
follows, then the parts that list the sheets.
"""

import re
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

import pyarrow as pa

from flows.render import RenderOptions, column_label, display_format
from flows.render.excel.cells import CELL_TEXT_LIMIT, Cells, Column, column_width, max_length, rows_xml
from flows.render.excel.styles import MAIN_NS, XML_DECLARATION
from flows.render.rows import Rows

SHEET_DATA_ROWS = 1_048_575
"""Data rows a sheet holds: Excel's 1,048,576 rows less the header."""
DATA_SHEET = "Data"
ABOUT_SHEET = "About"
COMPRESS_LEVEL = 1
"""zlib level of the sheet XML: level 1 deflates about twice as fast as the default 6 for a file
about a third larger."""
_ZIP32_SAFE_BYTES = 1 << 30
"""Sheets that may grow past this are written with ZIP64 sizes (zipfile's plain limit is 2 GiB)."""

_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CONTENT_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_OFFICE_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


@dataclass
class SheetEntry:
    """A sheet of the workbook: its name and, once its rows are written, its autofilter range."""

    name: str
    filter_range: str | None = None


@dataclass
class Workbook:
    """The .xlsx zip being written: sheets one after another, then the parts that list them."""

    archive: zipfile.ZipFile
    zip64: bool
    cells: Cells
    sheets: list[SheetEntry] = field(default_factory=list)
    data_rows: int = 0

    @classmethod
    @contextmanager
    def create(cls, target: Path, *, zip64: bool, cells: Cells) -> Iterator["Workbook"]:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
            book = cls(archive, zip64, cells)
            yield book
            book._write_package()

    def add_data_sheet(
        self,
        name: str,
        header: pa.Buffer,
        widths: Sequence[float],
        columns: Sequence[Column],
        chunks: Iterator[pa.RecordBatch],
    ) -> None:
        entry = SheetEntry(name)
        head = _sheet_head(widths, frozen_header=True, selected=not self.sheets)
        self._add_sheet(entry, self._data_sheet_xml(entry, head, header, columns, chunks))

    def add_about_sheet(self, rows: Sequence[tuple[str | None, ...]]) -> None:
        """A sheet of text rows, the first column bold."""
        texts = [pa.array(column, pa.string()) for column in zip(*rows, strict=True)]
        styles = [self.cells.styles.bold] + [0] * (len(texts) - 1)
        cells = [self.cells.text(values, style) for values, style in zip(texts, styles, strict=True)]
        head = _sheet_head([column_width(max_length(values)) for values in texts], frozen_header=False)
        self._add_sheet(SheetEntry(ABOUT_SHEET), iter([head, rows_xml(cells, 1), _sheet_tail(None)]))

    def _data_sheet_xml(
        self,
        entry: SheetEntry,
        head: bytes,
        header: pa.Buffer,
        columns: Sequence[Column],
        chunks: Iterator[pa.RecordBatch],
    ) -> Iterator[bytes | pa.Buffer]:
        """The sheet's XML in parts; counts the rows and sets the filter range once they are out."""
        yield head + b'<row r="1">' + header.to_pybytes() + b"</row>"
        last_row = 1
        for chunk in chunks:
            cells = [column.cells(chunk.column(i)) for i, column in enumerate(columns)]
            yield rows_xml(cells, last_row + 1)
            last_row += chunk.num_rows
        self.data_rows += last_row - 1
        entry.filter_range = f"A1:{_column_letters(len(columns))}{last_row}"
        yield _sheet_tail(entry.filter_range)

    def _add_sheet(self, entry: SheetEntry, parts: Iterator[bytes | pa.Buffer]) -> None:
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
            f'{XML_DECLARATION}<Types xmlns="{_CONTENT_TYPES_NS}">'
            '<Default Extension="rels"'
            ' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_OFFICE_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_OFFICE_TYPE}.styles+xml"/>'
            f"{sheet_types}</Types>",
        )
        self.archive.writestr(
            "_rels/.rels",
            f'{XML_DECLARATION}<Relationships xmlns="{_PACKAGE_REL_NS}">'
            f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
        )
        sheet_relations = "".join(
            f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, count + 1)
        )
        self.archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'{XML_DECLARATION}<Relationships xmlns="{_PACKAGE_REL_NS}">{sheet_relations}'
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
            f'{XML_DECLARATION}<workbook xmlns="{MAIN_NS}" xmlns:r="{_REL_NS}">'
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


def may_exceed_zip32(rows: Rows, first: pa.RecordBatch | None) -> bool:
    """Whether one sheet's XML might outgrow plain zip sizes (then ZIP64 sizes are written), judged
    from the first batch's Arrow size a row (XML takes at most about 8 times as many bytes) and the
    rows to expect (four times as many when they are only the source's estimate)."""
    if first is None or first.num_rows == 0:
        return False
    expected = rows.expected_rows if rows.exact else 4 * max(rows.expected_rows, first.num_rows)
    sheet_rows = min(expected, SHEET_DATA_ROWS)
    markup = sheet_rows * (len(rows.schema) * 48 + 32)
    bytes_a_row: int = first.nbytes // first.num_rows + 1
    return 8 * sheet_rows * bytes_a_row + markup > _ZIP32_SAFE_BYTES


def _sheet_head(widths: Sequence[float], *, frozen_header: bool, selected: bool = False) -> bytes:
    """A sheet's XML up to its first row: its view (header row frozen or not) and column widths."""
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
        f'{XML_DECLARATION}<worksheet xmlns="{MAIN_NS}" xmlns:r="{_REL_NS}">'
        f'<sheetViews><sheetView tabSelected="{int(selected)}" workbookViewId="0">{pane}'
        f'</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>{columns}</cols><sheetData>'
    ).encode()


def _sheet_tail(filter_range: str | None) -> bytes:
    auto_filter = f'<autoFilter ref="{filter_range}"/>' if filter_range else ""
    return f"</sheetData>{auto_filter}</worksheet>".encode()


def sheet_name(index: int) -> str:
    """The name of the data sheet at this 0-based index: Data, Data (2), Data (3), …"""
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


def about_rows(schema: pa.Schema, options: RenderOptions, book: Workbook) -> list[tuple[str | None, ...]]:
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
