"""Cell encoding: whole Arrow columns become SpreadsheetML cell XML through pyarrow.compute.

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
  `Cells` counts the values cut or written as text, for the About sheet.

Columns are encoded a chunk of rows at a time; a chunk's row XML is one Arrow string array, so a
chunk holds as many rows as surely fit in it (`rows_per_chunk`).
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Literal
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flows.catalog.model import DisplayFormat
from flows.render import display_format
from flows.render.excel.styles import Style, Styles

CELL_TEXT_LIMIT = 32_767
"""Excel's limit on the characters (UTF-16 code units) of one cell."""
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = 'yyyy-mm-dd hh:mm:ss "UTC"'
MAX_COLUMN_WIDTH = 60

_CHUNK_ROWS = 8192
_CHUNK_XML_BYTES = 1 << 30
"""Upper bound on one chunk's row XML: an Arrow string array holds at most 2 GiB."""
_ESCAPED_BYTES_PER_BYTE = 7
"""Text grows at worst sevenfold in XML: a control character becomes `_x0001_`."""
_CELL_MARKUP_BYTES = 96

_EPOCH_SERIAL = 25_569
"""Excel's serial day of 1970-01-01 (1900 date system)."""
_FIRST_SERIAL = 61
"""1900-03-01: earlier serials are shifted by Excel's phantom 1900-02-29."""
_LAST_SERIAL = 2_958_465
"""9999-12-31."""
_MICROS_PER_DAY = 86_400_000_000

Parts = list[pa.Array | str]
"""A column of cells as parts to concatenate value by value: arrays and constant strings."""
_EMPTY_CELL = "<c/>"
_TRUE_CELL = '<c t="b"><v>1</v></c>'
_FALSE_CELL = '<c t="b"><v>0</v></c>'
_XML_ESCAPES = {"\r": "&#13;"}
"""Beyond & < >: a carriage return, which XML parsers would otherwise read back as a line feed."""
_NEEDS_ESCAPE = r"[&<>\r\x00-\x08\x0B\x0C\x0E-\x1F\x{FFFE}\x{FFFF}]|_x[0-9A-Fa-f]{4}_"
_EXCEL_ESCAPE = re.compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|_(?=x[0-9A-Fa-f]{4}_)")
"""What XML cannot carry, and a literal `_xHHHH_` (which Excel would decode): written `_xHHHH_`."""


class Cells:
    """Builds the cell XML of whole columns, counting the values Excel made it change."""

    def __init__(self, styles: Styles) -> None:
        self.styles = styles
        self.cut_texts = 0
        self.dates_as_text = 0

    def text(self, values: pa.Array, style: int = 0) -> Parts:
        """Inline strings, never formulas; NULL stays an empty cell."""
        return _wrap(
            self._escaped(values),
            f'<c{_style_attribute(style)} t="inlineStr"><is><t xml:space="preserve">',
            "</t></is></c>",
        )

    def numbers(self, values: pa.Array, style: int, display: DisplayFormat) -> Parts:
        """Integers and decimals as numbers; percent points as the fraction (value / 100)."""
        if display is DisplayFormat.PERCENT:
            values = _hundredths(values)
        return _wrap(pc.cast(values, pa.string()), f"<c{_style_attribute(style)}><v>", "</v></c>")

    def dates(self, values: pa.Array, style: int) -> Parts:
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
            texts = concatenated(self.text(pc.cast(values, pa.string())))
            cells = [pc.if_else(outside, texts, concatenated(cells))]
        return cells

    def booleans(self, values: pa.Array) -> Parts:
        """TRUE/FALSE cells; NULL stays an empty cell."""
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
class Column:
    """One data column: how its values become cells, and how wide it is shown."""

    field: pa.Field
    kind: Literal["text", "number", "date", "boolean"]
    cells: Callable[[pa.Array], Parts]

    @classmethod
    def of(cls, column: pa.Field, cells: Cells) -> "Column":
        kind = column.type
        styles = cells.styles
        display = display_format(column)
        if pa.types.is_integer(kind) or pa.types.is_decimal(kind):
            style = styles.index(Style(_number_format(display, kind)))
            return cls(column, "number", lambda values: cells.numbers(values, style, display))
        if pa.types.is_date32(kind) or pa.types.is_timestamp(kind):
            style = styles.index(Style(DATETIME_FORMAT if pa.types.is_timestamp(kind) else DATE_FORMAT))
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
            longest = max_length(sample)
            content = longest + longest // 3 if self.kind == "number" else longest  # digit grouping
        return column_width(max(len(label) + 2, content))  # the label shares its cell with the filter button


def column_widths(columns: Sequence[Column], labels: Sequence[str], sample: pa.RecordBatch) -> list[float]:
    """Each column's width for its header label and the sampled rows."""
    return [
        column.width(label, values)
        for column, label, values in zip(columns, labels, sample.columns, strict=True)
    ]


def max_length(values: pa.Array) -> int:
    """Characters in the longest value's text."""
    longest: int | None = pc.max(pc.utf8_length(pc.cast(values, pa.string()))).as_py()
    return longest or 0


def column_width(characters: int) -> float:
    """The width of a column showing this many characters: two more, from 8 to MAX_COLUMN_WIDTH."""
    return float(min(max(characters + 2, 8), MAX_COLUMN_WIDTH))


def rows_per_chunk(batch: pa.RecordBatch) -> int:
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


def _wrap(text: pa.Array, before: str, after: str) -> Parts:
    """Each value between `before` and `after`, an empty cell for NULL: left as parts to join
    with the rest of the row when there is no NULL (saving a copy), joined here otherwise."""
    if not text.null_count:
        return [before, text, after]
    return [pc.fill_null(pc.binary_join_element_wise(before, text, after, ""), _EMPTY_CELL)]


def concatenated(parts: Parts) -> pa.Array:
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


def rows_xml(cells: Sequence[Parts], first_row: int) -> pa.Buffer:
    """The `<row>` elements of the cells of equally long columns, numbered from `first_row`."""
    rows = len(next(part for part in cells[0] if isinstance(part, pa.Array)))
    numbers = pc.cast(pa.array(np.arange(first_row, first_row + rows)), pa.string())
    parts = [part for column in cells for part in column]
    return joined(pc.binary_join_element_wise('<row r="', numbers, '">', *parts, "</row>", ""))


def joined(strings: pa.Array) -> pa.Buffer:
    """All values of a string array, one after another, without copying them."""
    _, offsets, data = strings.buffers()
    end = int(np.frombuffer(offsets, np.int32)[strings.offset + len(strings)])
    start = int(np.frombuffer(offsets, np.int32)[strings.offset])
    return data.slice(start, end - start)
