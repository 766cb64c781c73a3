"""The PDF report's pages and file: the reportlab canvas, one text object a page.

The first page carries the title (export name), export type, filters, generation time (UTC and the
requester's timezone) and row count; every page repeats the header row and ends with "Page X of Y".

Each finished page is written to the file at once (see `_StreamingDocument`), so memory stays flat
however many pages there are.
"""

from array import array
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import BinaryIO
from zoneinfo import ZoneInfo

from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfgen.textobject import PDFTextObject

from flows.render import RenderOptions
from flows.render.pdf.cells import Cells, Column, printable
from flows.render.pdf.layout import (
    BASELINE_RISE,
    BODY_SIZE,
    CELL_PADDING,
    FONT_NAME,
    HEADER_LINES,
    INTRO_LEADING,
    INTRO_SIZE,
    MARGIN,
    ROW_HEIGHT,
    TITLE_SIZE,
    PageLayout,
    TextFitter,
    font,
    header_bottom,
)

HEADER_GRAY = 0.88
NO_ROWS = "No rows."


def intro_lines(total_rows: int, options: RenderOptions) -> list[str]:
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
    return [printable(line) for line in lines]


def _filter_text(value: object) -> str:
    """A filter value as the intro shows it: lists and operators with their operands joined by commas."""
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


class Report:
    """The canvas and the page being drawn: header and footer on every page, the intro on the first."""

    def __init__(
        self,
        sink: BinaryIO,
        layout: PageLayout,
        fitter: TextFitter,
        labels: Sequence[str],
        columns: Sequence[Column],
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

    def draw_rows(self, columns: Sequence[Cells]) -> None:
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

    def _draw_slice(self, text: PDFTextObject, columns: Sequence[Cells], start: int, stop: int) -> None:
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
    layout: PageLayout, fitter: TextFitter, labels: Sequence[str], columns: Sequence[Column]
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
