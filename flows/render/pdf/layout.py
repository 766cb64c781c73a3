"""Geometry of the PDF report: the font and its metrics, page orientation, column widths, rows a page.

Every row has the same height (long text is cut with an ellipsis, never wrapped), so the number of
pages follows from the row count alone and "page X of Y" is known before the first row is drawn.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import fontpkg
from reportlab.lib.pagesizes import A4, landscape, portrait
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_NAME = "NotoSans"
FONT_FAMILY = "Noto Sans"
ELLIPSIS = "\u2026"

BODY_SIZE = 7.0
ROW_HEIGHT = 9.5
HEADER_LINES = 2
TITLE_SIZE = 14.0
INTRO_SIZE = 8.0
INTRO_LEADING = 11.0

MARGIN = 28.0
CELL_PADDING = 2.5
BASELINE_RISE = 2.4
INTRO_GAP = 10.0
MIN_COLUMN = 24.0
MAX_COLUMN = 220.0


@cache
def font() -> TTFont:
    """Noto Sans (Latin, Greek, Cyrillic; TrueType outlines), registered with reportlab once."""
    loaded = TTFont(FONT_NAME, str(fontpkg.path(FONT_FAMILY)))
    pdfmetrics.registerFont(loaded)
    return loaded


class TextFitter:
    """Measures text in the report font and cuts what is too wide, ending it with an ellipsis."""

    def __init__(self, size: float) -> None:
        face = font().face
        self._advance = face.charWidths.get
        self._default = face.defaultWidth
        self._scale = size / 1000.0
        self.ellipsis_width = self.width(ELLIPSIS)

    def width(self, text: str) -> float:
        advance, default = self._advance, self._default
        return float(sum([advance(code, default) for code in map(ord, text)])) * self._scale

    def fit(self, text: str, available: float, cut: bool = False) -> tuple[str, float]:
        """`text` and its width if it fits in `available` points (and `cut` is false), else its
        longest prefix that fits with an ellipsis after it, and that width."""
        if not cut:
            width = self.width(text)
            if width <= available:
                return text, width
        room = (available - self.ellipsis_width) / self._scale
        advance, default, used = self._advance, self._default, 0.0
        end = len(text)
        for index, code in enumerate(map(ord, text)):
            used += advance(code, default)
            if used > room:
                end = index
                break
        shown = text[:end].rstrip() + ELLIPSIS
        return shown, self.width(shown)

    def wrap(self, text: str, available: float, lines: int) -> list[str]:
        """`text` broken at spaces into at most `lines` lines, the last one cut if need be."""
        result: list[str] = []
        words = text.split()
        while words and len(result) < lines - 1:
            taken = 1
            while taken < len(words) and self.width(" ".join(words[: taken + 1])) <= available:
                taken += 1
            if self.width(" ".join(words[:taken])) > available:
                break
            result.append(" ".join(words[:taken]))
            words = words[taken:]
        if words:
            result.append(self.fit(" ".join(words), available)[0])
        return result


@dataclass(frozen=True)
class ColumnNeed:
    """How wide a column would like to be, and whether it may be narrowed (text) or not (numbers)."""

    width: float
    flexible: bool


@dataclass(frozen=True)
class PageLayout:
    """Page size, column positions and how many rows go on the first and on later pages."""

    page_width: float
    page_height: float
    column_lefts: tuple[float, ...]
    column_widths: tuple[float, ...]
    rows_first_page: int
    rows_per_page: int
    header_top_first_page: float

    @property
    def header_top(self) -> float:
        return self.page_height - MARGIN

    def page_count(self, total_rows: int) -> int:
        """Pages needed for `total_rows` (one page, with the title and header, for none)."""
        after_first = max(0, total_rows - self.rows_first_page)
        return 1 + math.ceil(after_first / self.rows_per_page)


def plan_page(needs: Sequence[ColumnNeed], intro_lines: int) -> PageLayout:
    """Portrait A4 if the columns fit its width, else landscape; column widths fitted to the page."""
    wanted = sum(need.width for need in needs)
    page_width, page_height = portrait(A4) if wanted <= portrait(A4)[0] - 2 * MARGIN else landscape(A4)
    widths = fit_widths(needs, page_width - 2 * MARGIN)
    lefts = tuple(MARGIN + sum(widths[:index]) for index in range(len(widths)))
    top = page_height - MARGIN
    first_top = top - TITLE_SIZE - intro_lines * INTRO_LEADING - INTRO_GAP
    return PageLayout(
        page_width=page_width,
        page_height=page_height,
        column_lefts=lefts,
        column_widths=tuple(widths),
        rows_first_page=_rows_below(first_top),
        rows_per_page=_rows_below(top),
        header_top_first_page=first_top,
    )


def fit_widths(needs: Sequence[ColumnNeed], available: float) -> list[float]:
    """Widths summing to `available`: wanted widths stretched, or the widest text columns narrowed
    first (numbers and dates keep their width while the text columns can give enough room)."""
    wanted = [need.width for need in needs]
    total = sum(wanted)
    if total <= available:
        return [width * available / total for width in wanted]
    rigid = sum(need.width for need in needs if not need.flexible)
    flexible = [index for index, need in enumerate(needs) if need.flexible]
    if flexible and available - rigid >= MIN_COLUMN * len(flexible):
        cap = _water_level([wanted[index] for index in flexible], available - rigid)
        return [min(need.width, cap) if need.flexible else need.width for need in needs]
    cap = _water_level(wanted, available)
    return [min(width, cap) for width in wanted]


def _water_level(widths: Sequence[float], available: float) -> float:
    """The cap c with sum(min(width, c)) == available (for available below sum(widths))."""
    remaining, count = available, len(widths)
    for width in sorted(widths):
        if width * count >= remaining:
            return remaining / count
        remaining -= width
        count -= 1
    return max(widths)


def header_bottom(header_top: float) -> float:
    """Where the header row that starts at `header_top` ends and the first row begins."""
    return header_top - HEADER_LINES * ROW_HEIGHT - 2 * CELL_PADDING


def _rows_below(header_top: float) -> int:
    return max(1, math.floor((header_bottom(header_top) - MARGIN) / ROW_HEIGHT))
