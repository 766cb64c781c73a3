"""The PDF report's cells: values as display texts, cleaned for the font and fitted to their column.

Numbers are right-aligned: integers as they are (IDs, years), decimals with thousands separators
and their scale, currency with at least 2 decimals, percent (percent points) with "%". Dates are
ISO; timestamps are shown in UTC to the second with "UTC" after them; booleans are Yes/No; NULL is
blank. Text too wide for its column is cut with an ellipsis.

Text is set in Noto Sans (Latin, Greek, Cyrillic), embedded. Text is NFC-normalised, control
characters become spaces, invisible format characters (zero-width joiners, bidi marks, soft
hyphens) are dropped, and each run of characters the font has no glyph for (CJK, emoji, Arabic,
Hebrew, ...) becomes one U+FFFD replacement character, so a reader sees that something is missing.
"""

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from flows.catalog.model import DisplayFormat
from flows.render import display_format
from flows.render.pdf.layout import (
    CELL_PADDING,
    HEADER_LINES,
    MAX_COLUMN,
    MIN_COLUMN,
    ColumnNeed,
    TextFitter,
    font,
)

PLACEHOLDER = "\ufffd"
PLACEHOLDER_RUN = re.compile(PLACEHOLDER + "{2,}")
SAMPLE_ROWS = 512
MAX_CELL_CHARS = 400
FIT_CACHE_ENTRIES = 8192
FIT_CACHE_CHARS = 100
RIGHT_ALIGNED = frozenset({DisplayFormat.NUMBER, DisplayFormat.CURRENCY, DisplayFormat.PERCENT})

Displayer = Callable[[pa.Array], list[str | None]]


@dataclass(frozen=True)
class Cells:
    """One column of a slice as drawn: its texts, and for right-aligned columns each text's offset."""

    texts: list[str]
    offsets: list[float] | None


class Column:
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

    def fit(self, values: Sequence[str | None]) -> Cells:
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
        return Cells(texts, offsets if self.right_aligned else None)


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
    """Text cells made `printable`; very long texts are cut in Arrow before they reach Python."""
    strings = pc.utf8_slice_codeunits(pc.cast(values, pa.string()), 0, 2 * MAX_CELL_CHARS)
    return [None if text is None else printable(text) for text in strings.to_pylist()]


def printable(text: str) -> str:
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
