"""The preview of an export: its first rows as display text, for the ready email and the recipient page.

Taken from the first batches as the rows stream to the renderer (only the rows shown are turned into
text, no batch is kept), kept on the export's row as `{"columns": [labels], "rows": [[text, ...], ...]}`
so the page and a later resend show the same rows without reading the file again. Every value is plain
text (NULL is empty; numbers, dates and booleans as the catalog's display format says), one line, at
most MAX_CELL_CHARS characters: whoever shows it escapes it for its medium (HTML autoescape), nothing
here does.
"""

import datetime as dt
import decimal
import re
from typing import Any

import pyarrow as pa

from flows.catalog.model import DisplayFormat
from flows.render import column_label, display_format

MAX_CELL_CHARS = 200
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

Preview = dict[str, Any]
"""{"columns": list[str], "rows": list[list[str]]}: JSON as it is stored."""


class PreviewRows:
    """Takes the first `rows` rows of the batches it is shown, as display text."""

    def __init__(self, schema: pa.Schema, rows: int) -> None:
        self._schema = schema
        self._wanted = rows
        self._shown: list[list[str]] = []

    def add(self, batch: pa.RecordBatch) -> None:
        missing = self._wanted - len(self._shown)
        if missing <= 0:
            return
        first = batch.slice(0, missing)
        columns = [
            [display_text(value, display_format(field)) for value in first.column(position).to_pylist()]
            for position, field in enumerate(self._schema)
        ]
        self._shown.extend(list(row) for row in zip(*columns, strict=True))

    def preview(self) -> Preview:
        return {"columns": [column_label(field) for field in self._schema], "rows": self._shown}


def display_text(value: object, shown_as: DisplayFormat) -> str:
    """One value as the preview shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is None else value.astimezone(dt.UTC)
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | float) and shown_as is not DisplayFormat.TEXT:
        return _number(value, shown_as)
    if isinstance(value, int) and shown_as is DisplayFormat.PERCENT:
        return f"{value}%"
    return _one_line(str(value))


def _number(value: decimal.Decimal | float, shown_as: DisplayFormat) -> str:
    """Thousands separators, the value's own scale (currency: at least 2 decimals), "%" for percent."""
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    else:
        decimals = 2
    if shown_as is DisplayFormat.CURRENCY:
        decimals = max(2, decimals)
    text = format(value, f",.{decimals}f")
    return f"{text}%" if shown_as is DisplayFormat.PERCENT else text


def _one_line(text: str) -> str:
    cleaned = " ".join(_CONTROL_CHARACTERS.sub(" ", text).split())
    return cleaned if len(cleaned) <= MAX_CELL_CHARS else cleaned[: MAX_CELL_CHARS - 1].rstrip() + "…"
