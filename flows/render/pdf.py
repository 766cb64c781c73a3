"""PDF: a tabular report drawn with the reportlab canvas, one text object a page, in constant memory.

The first page carries the title (export name), export type, filters, generation time (UTC and the
requester's timezone) and row count; every page repeats the header row and ends with "Page X of Y".
Every row has the same height: text too wide for its column is cut with an ellipsis, so the page
count follows from the row count before drawing starts. Numbers are right-aligned: integers as
they are (IDs, years), decimals with thousands separators and their scale, currency with at least
2 decimals, percent (percent points) with "%". Dates are ISO; timestamps are shown in UTC to the
second with "UTC" after them; booleans are Yes/No; NULL is blank.

Text is set in Noto Sans (Latin, Greek, Cyrillic), embedded. Text is NFC-normalised, control
characters become spaces, invisible format characters (zero-width joiners, bidi marks, soft
hyphens) are dropped, and each run of characters the font has no glyph for (CJK, emoji, Arabic,
Hebrew, ...) becomes one U+FFFD replacement character, so a reader sees that something is missing.

Rows are formatted a slice at a time and each finished page is written to the file at once (see
`_StreamingDocument`), so memory stays flat however many rows there are.
"""

import re
import unicodedata
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from itertools import chain
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfgen.textobject import PDFTextObject

from flows.catalog.model import DisplayFormat
from flows.pipeline.staging import StagedRows
from flows.render import RenderOptions, display_format, header_names
from flows.render.pdf_layout import (
    BASELINE_RISE,
    BODY_SIZE,
    CELL_PADDING,
    FONT_NAME,
    HEADER_LINES,
    INTRO_LEADING,
    INTRO_SIZE,
    MARGIN,
    MAX_COLUMN,
    MIN_COLUMN,
    ROW_HEIGHT,
    TITLE_SIZE,
    ColumnNeed,
    PageLayout,
    TextFitter,
    font,
    header_bottom,
    plan_page,
)

EXTENSION = "pdf"
MEDIA_TYPE = "application/pdf"

PLACEHOLDER = "\ufffd"
PLACEHOLDER_RUN = re.compile(PLACEHOLDER + "{2,}")
CHUNK_ROWS = 1024
SAMPLE_ROWS = 512
MAX_CELL_CHARS = 400
FIT_CACHE_ENTRIES = 8192
FIT_CACHE_CHARS = 100
RIGHT_ALIGNED = frozenset({DisplayFormat.NUMBER, DisplayFormat.CURRENCY, DisplayFormat.PERCENT})
HEADER_GRAY = 0.88
NO_ROWS = "No rows."

Displayer = Callable[[pa.Array], list[str | None]]


def render(rows: StagedRows, target: Path, options: RenderOptions) -> None:
    """Write the staged rows to `target` as a PDF report."""
    body = TextFitter(BODY_SIZE)
    columns = [_Column(field, body) for field in rows.schema]
    labels = header_names(rows.schema, options)
    shown = ([column.display(chunk.column(i)) for i, column in enumerate(columns)] for chunk in _chunks(rows))
    first = next(shown, None)
    samples = first or [[] for _ in columns]
    intro = _intro(rows.total_rows, options)
    layout = plan_page(
        [column.need(label, sample) for column, label, sample in zip(columns, labels, samples, strict=True)],
        intro_lines=len(intro) - 1,
    )
    for column, width in zip(columns, layout.column_widths, strict=True):
        column.room = width - 2 * CELL_PADDING
    with target.open("wb") as sink:
        report = _Report(sink, layout, body, labels, columns, intro, rows.total_rows)
        for values in chain([] if first is None else [first], shown):
            report.draw_rows([column.fit(texts) for column, texts in zip(columns, values, strict=True)])
        report.close()
    if report.rows_drawn != rows.total_rows:
        raise ValueError(
            f"the staged file held {report.rows_drawn} rows, not the {rows.total_rows} announced"
        )


def _chunks(rows: StagedRows) -> Iterator[pa.RecordBatch]:
    """The staged batches in order, in slices of at most CHUNK_ROWS rows."""
    for batch in rows:
        for offset in range(0, batch.num_rows, CHUNK_ROWS):
            yield batch.slice(offset, CHUNK_ROWS)


@dataclass(frozen=True)
class _Cells:
    """One column of a slice as drawn: its texts, and for right-aligned columns each text's offset."""

    texts: list[str]
    offsets: list[float] | None


class _Column:
    """Turns one column's values into the texts of its cells: formatted, cleaned, fitted to its width."""

    def __init__(self, field: pa.Field, fitter: TextFitter) -> None:
        shown_as = display_format(field)
        self.right_aligned = shown_as in RIGHT_ALIGNED
        self.flexible = shown_as is DisplayFormat.TEXT
        self.display: Displayer = _displayer(field.type, shown_as)
        self.room = 0.0  # the width its texts may take, set once the page is planned
        self._fitter = fitter
        self._fitted: dict[str, tuple[str, float]] = {}

    def need(self, label: str, sample: Sequence[str | None]) -> ColumnNeed:
        """The width this column would like: room for its label on HEADER_LINES lines and for the
        widest value among the first SAMPLE_ROWS."""
        width = self._fitter.width
        label_width = max([width(label) / HEADER_LINES, *map(width, label.split())])
        values = (width(value[:MAX_CELL_CHARS]) for value in sample[:SAMPLE_ROWS] if value)
        values_width = max(values, default=0.0)
        wanted = max(label_width, values_width) + 2 * CELL_PADDING
        return ColumnNeed(min(MAX_COLUMN, max(MIN_COLUMN, wanted)), self.flexible)

    def fit(self, values: Sequence[str | None]) -> _Cells:
        texts: list[str] = []
        offsets: list[float] = []
        fitted, fit, room = self._fitted, self._fitter.fit, self.room
        for value in values:
            if value is None:
                texts.append("")
                offsets.append(0.0)
                continue
            cell = fitted.get(value)
            if cell is None:
                text, text_width = fit(value[:MAX_CELL_CHARS], room, cut=len(value) > MAX_CELL_CHARS)
                cell = (text, room - text_width)
                if len(value) <= FIT_CACHE_CHARS:
                    if len(fitted) >= FIT_CACHE_ENTRIES:
                        fitted.clear()
                    fitted[value] = cell
            texts.append(cell[0])
            offsets.append(cell[1])
        return _Cells(texts, offsets if self.right_aligned else None)


def _displayer(arrow_type: pa.DataType, shown_as: DisplayFormat) -> Displayer:
    """The function giving a column's display texts (None for NULL), by display format."""
    if shown_as in RIGHT_ALIGNED:
        return _number_displayer(arrow_type, shown_as)
    if shown_as is DisplayFormat.DATE:
        return _date
    if shown_as is DisplayFormat.DATETIME:
        return _timestamp
    if shown_as is DisplayFormat.BOOLEAN:
        return _boolean
    return _text


def _number_displayer(arrow_type: pa.DataType, shown_as: DisplayFormat) -> Displayer:
    """Decimals with thousands separators and their scale (currency: at least 2 decimals); integers
    as they are, since IDs and years read badly grouped; percent points with "%" after them."""
    spec = ""
    if pa.types.is_decimal(arrow_type):
        decimals = max(2, arrow_type.scale) if shown_as is DisplayFormat.CURRENCY else arrow_type.scale
        spec = f",.{decimals}f"
    suffix = "%" if shown_as is DisplayFormat.PERCENT else ""

    def numbers(values: pa.Array) -> list[str | None]:
        return [None if value is None else format(value, spec) + suffix for value in values.to_pylist()]

    return numbers


def _date(values: pa.Array) -> list[str | None]:
    shown: list[str | None] = pc.cast(values, pa.string()).to_pylist()
    return shown


def _timestamp(values: pa.Array) -> list[str | None]:
    seconds = pc.cast(values, pa.timestamp("s", tz="UTC"), safe=False)
    shown: list[str | None] = pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S UTC").to_pylist()
    return shown


def _boolean(values: pa.Array) -> list[str | None]:
    shown: list[str | None] = pc.if_else(values, "Yes", "No").to_pylist()
    return shown


def _text(values: pa.Array) -> list[str | None]:
    """Text cells made `_printable`; very long texts are cut in Arrow before they reach Python."""
    strings = pc.utf8_slice_codeunits(pc.cast(values, pa.string()), 0, 2 * MAX_CELL_CHARS)
    return [None if text is None else _printable(text) for text in strings.to_pylist()]


def _printable(text: str) -> str:
    """Text the font can show: NFC, control characters as spaces, format characters dropped, each
    run of missing glyphs one U+FFFD; cut to MAX_CELL_CHARS + 1 characters (one more than a cell
    shows, telling that the text went on)."""
    if not (text.isascii() and text.isprintable()):
        text = unicodedata.normalize("NFC", text).translate(_glyph_table())
        text = PLACEHOLDER_RUN.sub(PLACEHOLDER, text)
    return text[: MAX_CELL_CHARS + 1]


class _GlyphTable(dict[int, str]):
    """A `str.translate` table filled on first use of each character: itself if the font has a
    glyph for it, a space for control and line/paragraph separators, nothing for (invisible) format
    characters, else the placeholder."""

    def __init__(self, codes: frozenset[int]) -> None:
        super().__init__()
        self._codes = codes

    def __missing__(self, code: int) -> str:
        category = unicodedata.category(chr(code))
        if category in ("Cc", "Zl", "Zp"):
            shown = " "
        elif category == "Cf":
            shown = ""
        else:
            shown = chr(code) if code in self._codes else PLACEHOLDER
        self[code] = shown
        return shown


@cache
def _glyph_table() -> _GlyphTable:
    return _GlyphTable(frozenset(font().face.charToGlyph))


def _intro(total_rows: int, options: RenderOptions) -> list[str]:
    """The first page's lines: title, export type, filters, generation time, row count."""
    lines = [options.title]
    if options.export_type:
        lines.append(f"Export type: {options.export_type}")
    if options.filters:
        lines.append("Filters:")
        lines.extend(f"    {name}: {_filter_text(value)}" for name, value in options.filters.items())
    else:
        lines.append("Filters: none")
    lines.append(f"Generated: {_generated(options.generated_at, options.requester_timezone)}")
    lines.append(f"Rows: {total_rows:,}")
    return [_printable(line) for line in lines]


def _filter_text(value: object) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{operator} {_filter_text(operand)}" for operator, operand in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_filter_text(item) for item in value)
    return str(value)


def _generated(generated_at: datetime, timezone: str) -> str:
    """The generation time in UTC, and in the requester's timezone unless that is UTC."""
    utc = (generated_at if generated_at.tzinfo else generated_at.replace(tzinfo=UTC)).astimezone(UTC)
    shown = f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    if timezone in ("UTC", "Etc/UTC"):
        return shown
    local = utc.astimezone(ZoneInfo(timezone))
    return f"{shown} ({local:%Y-%m-%d %H:%M:%S %Z}, {timezone})"


class _Report:
    """The canvas and the page being drawn: header and footer on every page, the intro on the first."""

    def __init__(
        self,
        sink: BinaryIO,
        layout: PageLayout,
        fitter: TextFitter,
        labels: Sequence[str],
        columns: Sequence[_Column],
        intro: Sequence[str],
        total_rows: int,
    ) -> None:
        self.rows_drawn = 0
        self._layout = layout
        self._intro = intro
        self._pages = layout.page_count(total_rows)
        self._page = 0
        self._room = 0
        self._row_top = 0.0
        self._text: PDFTextObject | None = None
        self._lefts = [left + CELL_PADDING for left in layout.column_lefts]
        self._fitter = fitter
        self._header = list(_header_lines(layout, fitter, labels, columns))
        self._canvas = _streaming_canvas(sink, (layout.page_width, layout.page_height))
        self._canvas.setTitle(intro[0])
        self._canvas.setCreator("exportflow")

    def draw_rows(self, columns: Sequence[_Cells]) -> None:
        """Draw a slice of rows, column by column, onto as many pages as it takes."""
        count = len(columns[0].texts)
        done = 0
        while done < count:
            text = self._text or self._start_page()
            take = min(self._room, count - done)
            self._draw_slice(text, columns, done, done + take)
            done += take
            self._room -= take
            self._row_top -= take * ROW_HEIGHT
            if self._room == 0:
                self._end_page()
        self.rows_drawn += count

    def close(self) -> None:
        """End the last page (a page saying there are no rows if there were none) and the file."""
        if self._page == 0:
            text = self._start_page()
            text.setTextOrigin(self._lefts[0], self._row_top - ROW_HEIGHT + BASELINE_RISE)
            text.textLine(NO_ROWS)
        if self._text is not None:
            self._end_page()
        self._canvas.save()

    def _draw_slice(self, text: PDFTextObject, columns: Sequence[_Cells], start: int, stop: int) -> None:
        baseline = self._row_top - ROW_HEIGHT + BASELINE_RISE
        for left, cells in zip(self._lefts, columns, strict=True):
            texts = cells.texts[start:stop]
            if cells.offsets is None:
                text.setTextOrigin(left, baseline)
                for value in texts:
                    text.textLine(value)
                continue
            y = baseline
            for value, offset in zip(texts, cells.offsets[start:stop], strict=True):
                if value:
                    text.setTextOrigin(left + offset, y)
                    text.textLine(value)
                y -= ROW_HEIGHT

    def _start_page(self) -> PDFTextObject:
        self._page += 1
        layout, canvas = self._layout, self._canvas
        first = self._page == 1
        top = layout.header_top_first_page if first else layout.header_top
        bottom = header_bottom(top)
        canvas.setFillGray(HEADER_GRAY)
        canvas.rect(MARGIN, bottom, layout.page_width - 2 * MARGIN, top - bottom, 0, 1)
        canvas.setFillGray(0)
        text = self._text = canvas.beginText()
        if first:
            self._draw_intro(text)
        text.setFont(FONT_NAME, BODY_SIZE, ROW_HEIGHT)
        for x, rise, line in self._header:
            text.setTextOrigin(x, bottom + rise)
            text.textLine(line)
        footer = f"Page {self._page} of {self._pages}"
        text.setTextOrigin(layout.page_width - MARGIN - self._fitter.width(footer), MARGIN / 2)
        text.textLine(footer)
        self._room = layout.rows_first_page if first else layout.rows_per_page
        self._row_top = bottom
        return text

    def _draw_intro(self, text: PDFTextObject) -> None:
        layout = self._layout
        room = layout.page_width - 2 * MARGIN
        top = layout.header_top
        text.setFont(FONT_NAME, TITLE_SIZE)
        text.setTextOrigin(MARGIN, top - TITLE_SIZE)
        text.textLine(TextFitter(TITLE_SIZE).fit(self._intro[0], room)[0])
        text.setFont(FONT_NAME, INTRO_SIZE, INTRO_LEADING)
        text.setTextOrigin(MARGIN, top - TITLE_SIZE - INTRO_LEADING)
        fitter = TextFitter(INTRO_SIZE)
        for line in self._intro[1:]:
            text.textLine(fitter.fit(line, room)[0])

    def _end_page(self) -> None:
        self._canvas.drawText(self._text)
        self._canvas.showPage()
        self._text = None


def _header_lines(
    layout: PageLayout, fitter: TextFitter, labels: Sequence[str], columns: Sequence[_Column]
) -> Iterator[tuple[float, float, str]]:
    """Each header line as (x, height of its baseline above the header's bottom, text): labels
    wrapped onto HEADER_LINES lines, bottom-aligned, right-aligned over numbers."""
    for left, width, label, column in zip(
        layout.column_lefts, layout.column_widths, labels, columns, strict=True
    ):
        room = width - 2 * CELL_PADDING
        lines = fitter.wrap(label, room, HEADER_LINES)
        for index, line in enumerate(lines):
            x = left + CELL_PADDING + (room - fitter.width(line) if column.right_aligned else 0)
            yield x, CELL_PADDING + BASELINE_RISE + (len(lines) - 1 - index) * ROW_HEIGHT, line


def _streaming_canvas(sink: BinaryIO, pagesize: tuple[float, float]) -> Canvas:
    """A reportlab canvas whose pages go to `sink` as they end (its `save` writes the rest)."""
    font()
    canvas = Canvas(sink, pagesize=pagesize, initialFontName=FONT_NAME, initialFontSize=BODY_SIZE)
    canvas._doc = _StreamingDocument(sink)
    return canvas


class _PageTree(pdfdoc.PDFPages):  # type: ignore[misc]
    """The document's page tree, knowing its pages by object number only (they are written already)."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers = array("q")

    def addPage(self, page: object) -> None:
        """Pages are recorded by number when written (see _StreamingDocument.addPage)."""

    def check_format(self, document: object) -> None:
        self.Kids = pdfdoc.PDFArray([b" ".join(b"%d 0 R" % number for number in self.numbers)])
        self.Count = len(self.numbers)


class _StreamingDocument(pdfdoc.PDFDocument):  # type: ignore[misc]
    """A reportlab document writing each page and its content stream as soon as the page ends.

    reportlab keeps every page until `save` and then builds the whole file in memory; here only the
    objects all pages share (fonts, page tree, catalog, info) wait for the end, and a written page
    costs the document 24 bytes (its object number and the offsets of its two objects).
    """

    def __init__(self, sink: BinaryIO) -> None:
        super().__init__(compression=1)
        self._sink = sink
        self._position = 0
        self._offsets = array("q", [0])
        self.Pages = self.Catalog.Pages = _PageTree()
        self._write(pdfdoc.PDFFile(self._pdfVersion).format(self))

    def addPage(self, page: pdfdoc.PDFPage) -> None:
        page.Contents = pdfdoc.PDFStream(content=page.stream, filters=[pdfdoc.PDFZCompress])
        number = self.objectcounter + 1
        super().addPage(page)
        self.Pages.numbers.append(number)
        self._write_objects(number, final=False)

    def format(self) -> bytes:
        """Write the objects still held, the cross-reference table and the trailer to the sink;
        nothing is left for reportlab's `SaveToFile` to write."""
        self.encrypt.prepare(self)
        root, info = self.Reference(self.Catalog), self.Reference(self.info)
        self._write_objects(1, final=True)
        count = self.objectcounter
        startxref = self._write(b"xref\n0 %d\n0000000000 65535 f \n" % (count + 1))
        self._sink.writelines(b"%010d 00000 n \n" % offset for offset in self._offsets[1 : count + 1])
        trailer = pdfdoc.PDFTrailer(startxref=startxref, Size=count + 1, Root=root, Info=info, ID=self.ID())
        self._sink.write(trailer.format(self))
        return b""

    def _write_objects(self, start: int, *, final: bool) -> None:
        """Write the objects numbered from `start` on (including those formatting them creates);
        before the end, the page tree waits and what is written is forgotten."""
        number = start
        while number <= self.objectcounter:
            name = self.numberToId.get(number)
            if name is not None and (final or self.idToObject[name] is not self.Pages):
                content = self.idToObject[name]
                offset = self._write(pdfdoc.PDFIndirectObject(name, content).format(self))
                self._offsets.extend([0] * (number + 1 - len(self._offsets)))
                self._offsets[number] = offset
                if not final:
                    del self.idToObject[name], self.numberToId[number], self.idToObjectNumberAndVersion[name]
            number += 1

    def _write(self, data: bytes) -> int:
        """Append to the sink; return where `data` starts."""
        start = self._position
        self._sink.write(data)
        self._position += len(data)
        return start
